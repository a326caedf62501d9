"""Where the chunks of one batch lie in the flat token tensor the core works on.

The core holds a batch as one ``(R, D)`` tensor, ``R = sum_i B_i * T_i``: chunk ``i`` is
``B_i`` sequences padded to ``T_i`` tokens, its rows one contiguous block. Per-token layers
(norms, projections, MLP) then run once over every chunk; only attention needs a chunk's
``(B_i, T_i)`` shape, and gets it as a view. A whole batch is the case of one chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class ChunkLayout:
    """The ``(B_i, T_i)`` shape of each chunk and the flat rows of every [CLS] token.

    Args:
        shapes (tuple[tuple[int, int], ...]): ``(B_i, T_i)`` per chunk, in row order.
        cls_index (Tensor): ``(sum_i B_i,)`` long flat row of each sequence's position 0.
    """

    shapes: tuple[tuple[int, int], ...]
    cls_index: Tensor

    @classmethod
    def of(cls, chunks: Sequence[Tensor]) -> ChunkLayout:
        """Return the layout of chunks ``(B_i, T_i, ...)`` packed in this order."""
        shapes = tuple((x.size(0), x.size(1)) for x in chunks)
        starts = torch.tensor([0, *(B * T for B, T in shapes)]).cumsum(0)[:-1].tolist()
        device = chunks[0].device
        cls_index = torch.cat([
            start + torch.arange(B, device=device) * T
            for start, (B, T) in zip(starts, shapes, strict=True)
        ])  # fmt: skip
        return cls(shapes, cls_index)

    def pack(self, chunks: Sequence[Tensor]) -> Tensor:
        """Flatten chunks ``(B_i, T_i, D)`` into one ``(R, D)`` tensor."""
        flat = [x.reshape(-1, x.size(-1)) for x in chunks]
        return flat[0] if len(flat) == 1 else torch.cat(flat)

    def split(self, flat: Tensor) -> list[Tensor]:
        """Return views ``(B_i, T_i, F)`` of each chunk's rows of ``flat`` ``(R, F)``."""
        parts = flat.split([B * T for B, T in self.shapes])
        return [p.view(B, T, -1) for p, (B, T) in zip(parts, self.shapes, strict=True)]
