"""Graphormer structural encodings (Ying et al., NeurIPS 2021), computed once per graph.

Per graph: the ``degree`` of each atom (centrality encoding), the all-pairs shortest-path
``distance`` (spatial encoding) and ``next_hop``, one canonical shortest path per pair
(:mod:`graphsep.frontends.graph.paths` finds them and traces them to bonds). Graphs are encoded
together over size-sorted chunks, once, and
:class:`~graphsep.frontends.graph.encoded_dataset.EncodedDataset` caches the result beside OGB's
processed file. Pair tensors are flat ``(n * n,)`` row-major so that PyG can concatenate them
across graphs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from graphsep.frontends.graph.paths import edge_codes, shortest_paths

MAX_PAIRS = 2**19
"""Default bound on ``B * N * N`` per chunk: 1 MiB per int16 pair tensor, 15 molecules of 183 atoms.

Small chunks keep the breadth-first search from stepping many small graphs through the diameter
of one long chain; chunks much larger than this are slower, a range around it performs alike.
"""

_INT16_MAX = torch.iinfo(torch.int16).max


class StructuralEncodings(NamedTuple):
    """Structural encodings of one graph with ``n`` nodes, all ``int16``.

    Args:
        degree (Tensor): ``(n,)`` number of out-edges (OGB stores each bond both ways, so the
            number of bonds of each atom).
        distance (Tensor): ``(n * n,)`` row-major hop count from row node to column node, 0 on
            the diagonal, ``UNREACHABLE_DISTANCE`` between different fragments.
        next_hop (Tensor): ``(n * n,)`` row-major out-neighbour of the row node on its canonical
            shortest path to the column node (see :func:`structural_encodings`); the node itself
            on the diagonal (a path of zero hops), ``NO_EDGE`` when unreachable.
    """

    degree: Tensor
    distance: Tensor
    next_hop: Tensor


def structural_encodings(
    graphs: Sequence[Data], max_pairs: int = MAX_PAIRS, canonical_paths: bool = True
) -> list[StructuralEncodings]:
    """Compute degree, distances and next hops for many graphs, vectorised over chunks.

    Graphs are sorted by size and cut into chunks of at most ``max_pairs`` padded pairs, so that
    padding stays small and memory bounded. Edges are followed in their stored direction (OGB
    stores both directions of every bond).

    Each pair's path is canonical: of all shortest paths, the one whose sequence of edge feature
    rows, read from the row node, is lexicographically smallest; among paths that read the same
    (the edge encoding cannot tell them apart) the one through the smallest next index. The edge
    encoding is then the same whatever the node numbering. With ``canonical_paths=False``, or
    without ``edge_attr``, ties go to the smallest next index alone: masked pretraining needs
    that, since a choice made from the true bond features would hint at the masked ones.

    Args:
        graphs (Sequence[Data]): graphs with ``edge_index (2, E)`` and ``num_nodes``, optionally
            ``edge_attr (E, ...)``.
        max_pairs (int): bound on ``B * N * N`` per chunk (default ``2**19``).
        canonical_paths (bool): break ties by edge features (default True).

    Returns:
        list[StructuralEncodings]: one entry per graph, in input order.
    """
    sizes = torch.tensor([g.num_nodes for g in graphs], dtype=torch.long)
    if sizes.numel() and int(sizes.max()) > _INT16_MAX:
        raise ValueError(
            f"graph {int(sizes.argmax())} has {int(sizes.max())} nodes: "
            f"int16 encodings hold at most {_INT16_MAX}"
        )
    order = torch.argsort(sizes, stable=True).tolist()
    out: list[StructuralEncodings | None] = [None] * len(graphs)
    for chunk in _size_chunks(sizes[order].tolist(), max_pairs):
        ids = order[chunk.start : chunk.stop]
        chunk_graphs = [graphs[i] for i in ids]
        codes = edge_codes(chunk_graphs, canonical_paths)
        encodings = shortest_paths([g.edge_index for g in chunk_graphs], codes, sizes[ids])
        for i, encoding in zip(ids, encodings, strict=True):
            out[i] = StructuralEncodings(*encoding)
    return out  # type: ignore[return-value]


def _size_chunks(sorted_sizes: list[int], max_pairs: int) -> list[slice]:
    """Cut ascending graph sizes into runs whose padded ``B * N * N`` stays within ``max_pairs``."""
    chunks, start = [], 0
    for end, n in enumerate(sorted_sizes):
        # sizes ascend, so the newest graph sets the chunk's padded size N
        if end > start and (end - start + 1) * n * n > max_pairs:
            chunks.append(slice(start, end))
            start = end
    if sorted_sizes:
        chunks.append(slice(start, len(sorted_sizes)))
    return chunks


class StructuralEncoding(BaseTransform):
    """Add ``degree``, ``distance`` and ``next_hop`` (see :class:`StructuralEncodings`) to a graph.

    Usable as ``pre_transform`` of a PyG/OGB dataset, or on one graph, e.g.
    ``StructuralEncoding()(torch_geometric.utils.from_networkx(g))``.

    Args:
        canonical_paths (bool): break shortest-path ties by edge features, see
            :func:`structural_encodings`. (default: ``True``)
    """

    def __init__(self, canonical_paths: bool = True) -> None:
        super().__init__()
        self.canonical_paths = canonical_paths

    def forward(self, data: Data) -> Data:
        """Return ``data`` with the three encodings attached.

        Args:
            data (Data): a graph with ``edge_index`` and ``num_nodes``.

        Returns:
            Data: the same graph with ``degree (n,)``, ``distance (n * n,)`` and
            ``next_hop (n * n,)`` int16 attributes.
        """
        encodings = structural_encodings([data], canonical_paths=self.canonical_paths)
        data.degree, data.distance, data.next_hop = encodings[0]
        return data
