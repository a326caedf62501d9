"""The geometry of a set of embeddings: how uniformly spread, how many directions they use.

- Uniformity (Wang & Isola 2020): ``log E exp(-t ||x - y||^2)`` over pairs of distinct
  L2-normalised vectors, ``t = 2``; lower is more uniform (the minimum on the sphere is
  reached by vectors spread evenly over it).
- Effective rank (Roy & Vetterli 2007): ``exp`` of the entropy of the singular values of the
  (uncentred) embedding matrix normalised to sum to one; between 1 (one direction) and the
  dimension (all directions used equally).
- Anisotropy (Ethayarajh 2019): the mean cosine similarity of pairs of distinct vectors, here
  over all pairs rather than a random sample (exact, from the norm of the sum of the unit
  vectors); near 0 for directions spread around the origin, near 1 for a narrow cone.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

UNIFORMITY_T = 2.0
"""Wang & Isola's temperature."""

MAX_PAIRS_ROWS = 10_000
"""Uniformity uses a seeded sample of at most this many rows (all pairs of 10k: 50M)."""


def unit_rows(x: Tensor) -> Tensor:
    """Return the rows of ``x`` scaled to unit length (float64; a zero row stays zero)."""
    x = x.double()
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def uniformity(x: Tensor, t: float = UNIFORMITY_T, seed: int = 0) -> float:
    """Wang & Isola's uniformity of the rows of ``x``: lower is more uniform.

    Rows beyond :data:`MAX_PAIRS_ROWS` are sampled (seeded) to bound the pairs.
    """
    if len(x) > MAX_PAIRS_ROWS:
        pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        x = x[pick[:MAX_PAIRS_ROWS]]
    squared = torch.pdist(unit_rows(x)).pow(2)
    # log of a mean of exponentials, computed stably
    return float(torch.logsumexp(-t * squared, dim=0) - math.log(len(squared)))


def singular_spectrum(x: Tensor) -> Tensor:
    """Return the singular values of the embedding matrix ``x`` (rows: samples), largest first."""
    return torch.linalg.svdvals(x.double())


def effective_rank(singular_values: Tensor) -> float:
    """Roy & Vetterli's effective rank: exp of the entropy of the normalised singular values."""
    p = singular_values / singular_values.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def anisotropy(x: Tensor) -> float:
    """Mean cosine similarity over all pairs of distinct rows of ``x``."""
    u = unit_rows(x)
    n = len(u)
    return float((u.sum(0).pow(2).sum() - u.pow(2).sum()) / (n * (n - 1)))


def geometry(x: Tensor) -> dict[str, float | int]:
    """Return the measures of :mod:`graphsep.analysis.geometry` for the rows of ``x``.

    Raises:
        ValueError: fewer than two rows, or a value that is not finite.
    """
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need a (rows, dim) matrix of at least 2 rows, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("the embeddings hold NaN or infinite values")
    return {
        "rows": len(x), "dim": x.shape[1], "uniformity": uniformity(x),
        "effective_rank": effective_rank(singular_spectrum(x)), "anisotropy": anisotropy(x),
        "mean_norm": float(x.double().norm(dim=1).mean()),
    }  # fmt: skip
