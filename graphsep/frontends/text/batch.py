"""The typed batch of the text front end: length-sorted chunks of padded token ids."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from graphsep.core.device import DeviceBatch


@dataclass
class TextChunk(DeviceBatch):
    """``B`` texts padded to ``T`` tokens, [CLS] at position 0.

    Args:
        ids (Tensor): ``(B, T)`` long token ids, ``[PAD]`` (0) after each text's end.
        mask (Tensor): ``(B, T)`` bool, True = a real token.
        targets (Tensor | None): ``(B, T)`` long, the original id of each token selected for
            masked-language modelling and -100 elsewhere; None outside MLM.
    """

    ids: Tensor
    mask: Tensor
    targets: Tensor | None = None

    @property
    def num_texts(self) -> int:
        """Number of texts ``B`` in the chunk."""
        return self.ids.size(0)


@dataclass
class TextBatch(DeviceBatch):
    """One batch of texts as chunks of similar length; one chunk is the unchunked case.

    Args:
        chunks (list[TextChunk]): the chunks, in the order their texts' outputs come back.
        y (Tensor | None): ``(B,)`` long class indices in chunk order, or None.
    """

    chunks: list[TextChunk]
    y: Tensor | None = None

    @property
    def num_texts(self) -> int:
        """Number of texts over every chunk."""
        return sum(chunk.num_texts for chunk in self.chunks)
