"""Encoders of node and edge features: summed categorical embeddings or a linear map."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

FEATURE_KINDS = ("categorical", "continuous")


class FeatureEncoder(nn.Module):
    """Embed per-item features into ``out_dim``.

    Categorical features (OGB atoms and bonds, ZINC atom types) are summed embeddings, one
    table per column, as in OGB's ``AtomEncoder`` and Graphormer; continuous features go through
    one linear layer.

    Args:
        kind (str): ``"categorical"`` or ``"continuous"``.
        dims (Sequence[int]): for categorical, the vocabulary size of each column; for
            continuous, a single entry, the number of input channels.
        out_dim (int): output width.
    """

    def __init__(self, kind: str, dims: Sequence[int], out_dim: int) -> None:
        super().__init__()
        if kind not in FEATURE_KINDS:
            raise ValueError(f"feature kind must be one of {FEATURE_KINDS}, got {kind!r}")
        if kind == "continuous" and len(dims) != 1:
            raise ValueError(f"continuous features take one dim (the channel count), got {dims}")
        self.kind = kind
        self.dims = list(dims)
        if kind == "categorical":
            self.embeddings = nn.ModuleList(nn.Embedding(d, out_dim) for d in self.dims)
        else:
            self.linear = nn.Linear(self.dims[0], out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the embedding tables (Xavier, as OGB's encoders) or the linear map."""
        if self.kind == "categorical":
            for emb in self.embeddings:
                nn.init.xavier_uniform_(emb.weight)
        else:
            self.linear.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """Map features ``(..., F)`` (long or float) to ``(..., out_dim)``."""
        if self.kind == "continuous":
            return self.linear(x.float())
        if x.size(-1) != len(self.embeddings):
            raise ValueError(f"expected {len(self.embeddings)} feature columns, got {x.size(-1)}")
        return torch.stack([emb(x[..., i]) for i, emb in enumerate(self.embeddings)]).sum(0)

    def extra_repr(self) -> str:
        """Hyper-parameters shown in ``repr``."""
        return f"{self.kind}, dims={self.dims}"
