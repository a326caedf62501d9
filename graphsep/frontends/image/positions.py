"""Fixed 2-D sine-cosine position embeddings, as MAE uses for its encoder and decoder.

Half of the width encodes the patch's row, half its column; each half is the 1-D sine-cosine
embedding of Vaswani et al. (frequencies ``1 / 10000^(2i / d)``). [CLS] gets the zero vector.
"""

from __future__ import annotations

import torch
from torch import Tensor


def sincos_1d(dim: int, positions: Tensor) -> Tensor:
    """Return ``(len(positions), dim)``: sines, then cosines, at ``dim / 2`` frequencies."""
    if dim % 2:
        raise ValueError(f"a sine-cosine embedding needs an even width, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = positions.double()[:, None] * omega[None, :]  # (P, dim / 2)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_2d(dim: int, rows: int, cols: int) -> Tensor:
    """Return ``(1 + rows * cols, dim)``: zeros for [CLS], then each patch in row-major order.

    Raises:
        ValueError: ``dim`` not divisible by 4 (two halves, each of sines and cosines).
    """
    if dim % 4:
        raise ValueError(f"a 2-D sine-cosine embedding needs a width divisible by 4, got {dim}")
    row, col = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    grid = torch.cat(
        [sincos_1d(dim // 2, row.reshape(-1)), sincos_1d(dim // 2, col.reshape(-1))], dim=1
    )
    return torch.cat([torch.zeros(1, dim), grid])
