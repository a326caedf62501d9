"""Heads on the [CLS] vector, and the model they make with an encoder."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from graphsep.core.model import Encoder


class ClsHead(nn.Module):
    """[CLS] vector to ``num_outputs`` values: Linear, GELU, dropout, Linear.

    Args:
        dim (int): input width ``D``.
        num_outputs (int): outputs (task logits, class logits or standardised values).
        dropout (float, optional): dropout before the last layer. (default: ``0.0``)
    """

    def __init__(self, dim: int, num_outputs: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, num_outputs)
        )

    def forward(self, cls: Tensor) -> Tensor:
        """Map ``(B, D)`` to ``(B, num_outputs)``."""
        return self.net(cls)


class ClsPredictor(nn.Module):
    """An :class:`Encoder` with a :class:`ClsHead` on its [CLS] output.

    Args:
        encoder (Encoder): front end and core.
        num_outputs (int): outputs of the head.
        head_dropout (float, optional): dropout inside the head. (default: ``0.0``)
    """

    def __init__(self, encoder: Encoder, num_outputs: int, head_dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = ClsHead(encoder.dim, num_outputs, head_dropout)

    def forward(self, batch: Any) -> Tensor:
        """Return raw outputs ``(B, num_outputs)``: logits or standardised values."""
        return self.head(self.encoder(batch).cls)

    def embed(self, batch: Any) -> Tensor:
        """Return the [CLS] embeddings ``(B, D)``."""
        return self.encoder(batch).cls

    def no_weight_decay(self) -> set[str]:
        """Return the encoder's no-decay names, prefixed, and the head's biases."""
        names = {f"encoder.{n}" for n in self.encoder.no_weight_decay()}
        return names | {n for n, p in self.head.named_parameters(prefix="head") if p.ndim < 2}
