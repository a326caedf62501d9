"""What a front end hands the core, and what the core hands back.

A front end (graph, and later image and text) is an ``nn.Module`` that maps its own typed
batch to a list of :class:`CoreInput` chunks and names the parameters kept out of weight decay
(:class:`FrontEnd`). Its package also supplies the collate that builds that batch. A whole
batch is the case of one chunk; a batch of graphs cut into size-sorted chunks pads less, and the
core still normalizes the [CLS] tokens of every chunk together. Masks for self-supervision are
fields of the batch, so every front end has the same ``forward(batch)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from torch import Tensor


@dataclass
class CoreInput:
    """One chunk of the core's input: ``B`` sequences padded to ``T`` tokens.

    Args:
        tokens (Tensor): ``(B, T, D)``, the [CLS] token at position 0.
        mask (Tensor | None): ``(B, T)`` bool, True = real token; position 0 is always True.
            None: no padding (images), so attention gets no mask at all.
        bias (Tensor | None): additive attention bias ``(B, H, T, T)``, or None (image, text):
            then the core passes attention no mask, or a boolean key mask when there is
            padding.
    """

    tokens: Tensor
    mask: Tensor | None
    bias: Tensor | None = None


@dataclass
class EncoderOutput:
    """The core's output for one batch.

    Args:
        cls (Tensor): ``(B, D)`` normalized [CLS] vectors, in the batch's chunk order.
        tokens (list[Tensor]): per chunk, the normalized outputs ``(B_i, T_i, D)`` of every
            position ([CLS] at 0; padding rows are meaningless).
    """

    cls: Tensor
    tokens: list[Tensor]


@runtime_checkable
class FrontEnd(Protocol):
    """A module from a domain's batch to the core's input."""

    def forward(self, batch: Any) -> list[CoreInput]:
        """Return the core's input for ``batch``, one :class:`CoreInput` per chunk."""
        ...

    def no_weight_decay(self) -> set[str]:
        """Return the names of its parameters kept out of weight decay (embeddings, tokens)."""
        ...
