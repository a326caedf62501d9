"""The dense graph batch handed from the data path to the graph front end, whole or in chunks."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor


@dataclass
class GraphBatch:
    """Padded tensors for ``B`` graphs with ``T = 1 + N`` slots, the [CLS] slot at position 0.

    Args:
        x (Tensor): node features ``(B, T, F_node)``; long for categorical features (OGB atoms),
            float for continuous ones. Slot 0 and padding slots hold zeros.
        mask (Tensor): ``(B, T)`` bool, True = real slot; slot 0 ([CLS]) is always True.
        degree (Tensor): ``(B, T)`` long node degree; 0 at slot 0 and padding.
        distance (Tensor): ``(B, T, T)`` long shortest-path length between real atoms, or one of
            the sentinels in :mod:`graphsep.constants` (unreachable, [CLS], padding).
        path_edges (Tensor): ``(B, T, T, max_hops)`` long row indices into ``edge_attr`` of the
            bonds along one shortest path from row atom to column atom, nearest the row atom
            first; ``NO_EDGE`` past the path's end, at [CLS] and at padding.
        edge_attr (Tensor | None): ``(E, F_edge)`` features of every directed edge of the batch
            (long categorical or float continuous), or None for graphs without edge features.
        edge_index (Tensor): ``(2, E)`` long source and target of each directed edge as indices
            into the flattened ``(B * T)`` slot grid.
        num_nodes (Tensor): ``(B,)`` long number of real atoms per graph (without [CLS]).
        y (Tensor | None): ``(B, num_tasks)`` float targets, NaN = missing label.
    """

    x: Tensor
    mask: Tensor
    degree: Tensor
    distance: Tensor
    path_edges: Tensor
    edge_attr: Tensor | None
    edge_index: Tensor
    num_nodes: Tensor
    y: Tensor | None = None

    @property
    def num_graphs(self) -> int:
        """Number of graphs ``B`` in the batch."""
        return self.x.size(0)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> GraphBatch:
        """Return a copy with every tensor moved to ``device``."""
        moved = {
            f.name: v.to(device, non_blocking=non_blocking)
            for f in fields(self)
            if isinstance(v := getattr(self, f.name), Tensor)
        }
        return replace(self, **moved)


@dataclass
class ChunkedGraphBatch:
    """One batch of graphs held as chunks, each a :class:`GraphBatch` padded to its own size.

    A random batch sorted by size and cut into chunks pads about as little as a size-bucketed
    one, while SepNorm's [CLS] BatchNorm still sees a batch that looks like the data: the
    encoder normalizes all chunks together (:meth:`TransformerEncoder.forward_chunks`).

    Args:
        chunks (list[GraphBatch]): the chunks, in the order their graphs' outputs come back.
    """

    chunks: list[GraphBatch]

    @property
    def num_graphs(self) -> int:
        """Number of graphs over every chunk."""
        return sum(chunk.num_graphs for chunk in self.chunks)

    @property
    def y(self) -> Tensor | None:
        """``(B, num_tasks)`` targets in chunk order, or None without targets."""
        if self.chunks[0].y is None:
            return None
        return torch.cat([chunk.y for chunk in self.chunks])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ChunkedGraphBatch:
        """Return a copy with every chunk moved to ``device``."""
        return ChunkedGraphBatch([c.to(device, non_blocking) for c in self.chunks])
