"""The typed batch of the graph front end: size-sorted chunks of dense padded graphs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from graphsep.core.device import DeviceBatch


@dataclass
class GraphChunk(DeviceBatch):
    """Padded tensors for ``B`` graphs with ``T = 1 + N`` slots, the [CLS] slot at position 0.

    Args:
        x (Tensor): node features ``(B, T, F_node)``; long for categorical features (OGB atoms),
            float for continuous ones. Slot 0 and padding slots hold zeros.
        mask (Tensor): ``(B, T)`` bool, True = real slot; slot 0 ([CLS]) is always True.
        degree (Tensor): ``(B, T)`` long node degree; 0 at slot 0 and padding.
        distance (Tensor): ``(B, T, T)`` long shortest-path length between real atoms, or one of
            the sentinels of :mod:`graphsep.frontends.graph.constants`.
        path_edges (Tensor): ``(B, T, T, max_hops)`` long row indices into ``edge_attr`` of the
            bonds along one shortest path from row atom to column atom, nearest the row atom
            first; ``NO_EDGE`` past the path's end, at [CLS] and at padding.
        edge_attr (Tensor | None): ``(E, F_edge)`` features of every directed edge of the chunk
            (long categorical or float continuous), or None for graphs without edge features.
        edge_index (Tensor): ``(2, E)`` long source and target of each directed edge as indices
            into the flattened ``(B * T)`` slot grid.
        num_nodes (Tensor): ``(B,)`` long number of real atoms per graph (without [CLS]).
        masked_atoms (Tensor | None): ``(B, T)`` bool, atoms whose features the front end
            replaces by [MASK] (masked-graph pretraining); never [CLS] or padding.
        masked_edges (Tensor | None): ``(E,)`` bool, both directed edges of every masked bond.
        masked_bonds (Tensor | None): ``(M,)`` long, one directed edge row per masked bond: the
            bonds whose features are reconstructed.
        mol_features (Tensor | None): ``(B, F)`` float whole-molecule features
            (:mod:`graphsep.molecules.descriptors`, standardized), or None.
    """

    x: Tensor
    mask: Tensor
    degree: Tensor
    distance: Tensor
    path_edges: Tensor
    edge_attr: Tensor | None
    edge_index: Tensor
    num_nodes: Tensor
    masked_atoms: Tensor | None = None
    masked_edges: Tensor | None = None
    masked_bonds: Tensor | None = None
    mol_features: Tensor | None = None

    @property
    def num_graphs(self) -> int:
        """Number of graphs ``B`` in the chunk."""
        return self.x.size(0)


@dataclass
class GraphBatch(DeviceBatch):
    """One batch of graphs held as chunks, each a :class:`GraphChunk` padded to its own size.

    A random batch sorted by size and cut into chunks pads about as little as a size-bucketed
    one, while SepNorm's [CLS] BatchNorm still sees a batch that looks like the data: the core
    normalizes all chunks together. One chunk is the unchunked case.

    Args:
        chunks (list[GraphChunk]): the chunks, in the order their graphs' outputs come back.
        y (Tensor | None): ``(B, num_tasks)`` float targets in chunk order, NaN = missing
            label; None without targets.
    """

    chunks: list[GraphChunk]
    y: Tensor | None = None

    @property
    def num_graphs(self) -> int:
        """Number of graphs over every chunk."""
        return sum(chunk.num_graphs for chunk in self.chunks)

    @property
    def mol_features(self) -> Tensor | None:
        """``(B, F)`` whole-molecule features in chunk order, or None without any."""
        parts = [chunk.mol_features for chunk in self.chunks]
        return None if any(p is None for p in parts) else torch.cat(parts)
