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
        hidden (int | None, optional): width of the hidden layer; None: ``dim``.
            (default: None)
    """

    def __init__(
        self, dim: int, num_outputs: int, dropout: float = 0.0, hidden: int | None = None
    ) -> None:
        super().__init__()
        hidden = hidden or dim
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, num_outputs)
        )

    def forward(self, cls: Tensor) -> Tensor:
        """Map ``(B, D)`` to ``(B, num_outputs)``."""
        return self.net(cls)


class LinearHead(nn.Module):
    """[CLS] vector to class logits through one linear layer, optionally after a BatchNorm.

    MAE's linear probe puts ``BatchNorm1d(affine=False)`` before it; under SepNorm the [CLS]
    vector is already batch-normalized, so the probe's norm is a choice (``norm``).

    Args:
        dim (int): input width ``D``.
        num_outputs (int): classes.
        norm (bool, optional): a ``BatchNorm1d(affine=False)`` first. (default: ``False``)
        dropout (float, optional): dropout on the input. (default: ``0.0``)
    """

    def __init__(
        self, dim: int, num_outputs: int, norm: bool = False, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(dim, affine=False) if norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(dim, num_outputs)

    def forward(self, cls: Tensor) -> Tensor:
        """Map ``(B, D)`` to ``(B, num_outputs)``."""
        return self.linear(self.dropout(self.norm(cls)))


class ClsPredictor(nn.Module):
    """An :class:`Encoder` with a head on its [CLS] output.

    Args:
        encoder (Encoder): front end and core.
        head (nn.Module): ``(B, D)`` to ``(B, outputs)``, e.g. :class:`ClsHead`.
    """

    def __init__(self, encoder: Encoder, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, batch: Any) -> Tensor:
        """Return raw outputs ``(B, num_outputs)``: logits or standardised values, float32.

        float32 whatever the precision the model ran in, so that losses and metrics are.
        """
        return self.head(self.encoder(batch).cls).float()

    def embed(self, batch: Any) -> Tensor:
        """Return the [CLS] embeddings ``(B, D)``, float32."""
        return self.encoder(batch).cls.float()

    def no_weight_decay(self) -> set[str]:
        """Return the encoder's no-decay names, prefixed, and the head's biases."""
        names = {f"encoder.{n}" for n in self.encoder.no_weight_decay()}
        return names | {n for n, p in self.head.named_parameters(prefix="head") if p.ndim < 2}
