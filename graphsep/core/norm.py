"""Separate normalization of the [CLS] token (SepNorm) and its shared baseline (ShareNorm).

Chen et al., "On Separate Normalization in Self-supervised Transformers", NeurIPS 2023
(arXiv 2309.12931): position 0 ([CLS]) goes through its own normalizer, BatchNorm1d over the
batch's [CLS] vectors by default, while every other token goes through LayerNorm. ShareNorm is
the usual single LayerNorm of MAE, BERT and Graphormer.

Inside the core both act on the flat ``(R, D)`` token tensor of :mod:`graphsep.core.packing`
(``forward_flat``) with the rows of the [CLS] tokens, so the [CLS] statistics span every chunk
of a batch: a random batch padded in size-sorted chunks is normalized exactly as the same batch
padded as one tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import Tensor, nn

from graphsep.core.batchnorm import GlobalBatchNorm1d
from graphsep.core.packing import ChunkLayout

NORM_KINDS = ("sep", "share")
"""The values of ``model.core.norm``."""
CLS_NORM_KINDS = ("bn", "ln")
"""The values of ``model.core.cls_norm``: the [CLS] normalizer under SepNorm."""


class ShareNorm(nn.LayerNorm):
    """One LayerNorm shared by the [CLS] token and every other token (the baseline).

    Args:
        dim (int): feature size ``D``.
        eps (float, optional): LayerNorm epsilon. (default: ``1e-5``)
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__(dim, eps=eps)

    def forward_flat(self, x: Tensor, cls_index: Tensor) -> Tensor:
        """Normalize flat tokens ``(R, D)``; per token, so [CLS] rows need no special care."""
        return self(x)


class SepNorm(nn.Module):
    """Normalize the [CLS] token at position 0 apart from the other tokens.

    [CLS] is never padding, so the BatchNorm statistics see only real vectors; the tokens'
    LayerNorm acts per token, so padding slots never enter any statistic either. Under DDP the
    BatchNorm statistics span every process's batch (:class:`GlobalBatchNorm1d`).

    Args:
        dim (int): feature size ``D``.
        cls_norm (str, optional): ``"bn"`` for BatchNorm1d over the batch's [CLS] vectors (the
            paper's choice) or ``"ln"`` for a LayerNorm of its own. (default: ``"bn"``)
        eps (float, optional): epsilon of both normalizers. (default: ``1e-5``)
        momentum (float, optional): BatchNorm running-statistics momentum. (default: ``0.1``)
    """

    def __init__(
        self, dim: int, cls_norm: str = "bn", eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        super().__init__()
        if cls_norm not in CLS_NORM_KINDS:
            raise ValueError(f"cls_norm must be one of {CLS_NORM_KINDS}, got {cls_norm!r}")
        self.dim = dim
        self.cls_norm_kind = cls_norm
        if cls_norm == "bn":
            self.cls_norm: nn.Module = GlobalBatchNorm1d(dim, eps=eps, momentum=momentum)
        else:
            self.cls_norm = nn.LayerNorm(dim, eps=eps)
        self.tok_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        """Normalize ``x`` of shape ``(B, 1 + N, D)``; returns the same shape."""
        layout = ChunkLayout.of([x])
        return layout.split(self.forward_flat(layout.pack([x]), layout.cls_index))[0]

    def forward_flat(self, x: Tensor, cls_index: Tensor) -> Tensor:
        """Normalize flat tokens ``x`` ``(R, D)`` whose [CLS] tokens are the rows ``cls_index``.

        The [CLS] statistics span every row of ``cls_index``: the whole batch, in any chunks.
        """
        cls = self.cls_norm(x[cls_index])  # (B, D), float32 under any autocast
        tokens = self.tok_norm(x)
        return tokens.index_copy(0, cls_index, cls.to(tokens.dtype))  # (R, D): [CLS] rows

    def extra_repr(self) -> str:
        """Hyper-parameters shown in ``repr``."""
        return f"{self.dim}, cls_norm={self.cls_norm_kind!r}"


NormLayer = Callable[[int], nn.Module]
"""What the core takes to build each norm site: a callable from the width ``D`` to a module."""


def norm_layer(kind: str, cls_norm: str = "bn") -> NormLayer:
    """Return the norm factory that ``model.core.norm`` and ``model.core.cls_norm`` name.

    The core is handed this one callable and calls it at every norm site (timm's
    ``norm_layer``), so a new norm needs no change to the blocks.

    Args:
        kind (str): one of ``NORM_KINDS``: ``"sep"`` (:class:`SepNorm`) or ``"share"``
            (:class:`ShareNorm`).
        cls_norm (str, optional): one of ``CLS_NORM_KINDS``, the [CLS] normalizer of
            ``"sep"``. (default: ``"bn"``)

    Returns:
        NormLayer: ``dim -> module`` mapping ``(B, 1 + N, D)`` to the same shape.
    """
    if kind == "sep":
        if cls_norm not in CLS_NORM_KINDS:
            raise ValueError(f"cls_norm must be one of {CLS_NORM_KINDS}, got {cls_norm!r}")
        return partial(SepNorm, cls_norm=cls_norm)
    if kind == "share":
        return ShareNorm
    raise ValueError(f"norm must be one of {NORM_KINDS}, got {kind!r}")
