"""Dense padded batches of graphs for the Graphormer front end, built in one place.

A list of PyG graphs becomes a :class:`~graphsep.frontends.graph.batch.GraphBatch`: one or more
size-sorted chunks, each padded alone to ``T = 1 + N`` slots per graph with the virtual [CLS]
node (Ying et al., NeurIPS 2021: the graph token) at slot 0.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphsep.frontends.graph.batch import GraphBatch, GraphChunk
from graphsep.frontends.graph.constants import CLS_DISTANCE, NO_EDGE, PAD_DISTANCE
from graphsep.frontends.graph.encodings import structural_encodings
from graphsep.frontends.graph.paths import trace_path_edges


def collate_chunk(
    graphs: Sequence[Data], max_hops: int, canonical_paths: bool = True
) -> GraphChunk:
    """Pad a list of graphs into one dense chunk with the [CLS] slot at position 0.

    Graphs carry ``degree``, ``distance`` and ``next_hop`` from
    :class:`~graphsep.frontends.graph.encodings.StructuralEncoding` or
    :class:`~graphsep.frontends.graph.encoded_dataset.EncodedDataset`; graphs that lack them get
    them computed here. Features may be long (OGB categorical) or float; ``edge_attr`` may be
    absent.

    Args:
        graphs (Sequence[Data]): ``B >= 1`` graphs with ``x (n, F)`` and ``edge_index (2, E)``,
            optionally ``edge_attr (E, F_edge)``.
        max_hops (int): bonds kept along each shortest path in ``path_edges``.
        canonical_paths (bool): for encodings computed here, break shortest-path ties by edge
            features (see :func:`~graphsep.frontends.graph.encodings.structural_encodings`).
            (default: ``True``)

    Returns:
        GraphChunk: the padded chunk (see its docstring for every field).
    """
    graphs = _with_encodings(graphs, canonical_paths)
    sizes = torch.tensor([g.num_nodes for g in graphs])  # (B,)
    slots = int(sizes.max()) + 1
    slot = torch.arange(slots)
    atom_mask = (slot >= 1) & (slot <= sizes.unsqueeze(1))  # (B, T): real atoms, not [CLS]
    mask = atom_mask | (slot == 0)  # (B, T)
    # every tensor is built in slot space: no copies from an atoms-only (B, N, N) grid
    atom_index = atom_mask.view(-1).nonzero().squeeze(1)  # (V,) graph-major, as torch.cat
    pair_mask = atom_mask.unsqueeze(2) & atom_mask.unsqueeze(1)  # (B, T, T)
    pair_index = pair_mask.view(-1).nonzero().squeeze(1)  # graph, row, column: the flat order
    edge_graph, src, dst = _edges(graphs)
    distance = _distance(graphs, pair_index, mask)
    return GraphChunk(
        x=_dense_nodes(_node_features(graphs), atom_index, mask.shape),
        mask=mask,
        degree=_dense_nodes(torch.cat([g.degree for g in graphs]).long(), atom_index, mask.shape),
        distance=distance,
        path_edges=_path_edges(graphs, pair_index, (edge_graph, src, dst), distance, max_hops),
        edge_attr=_edge_attr(graphs),
        edge_index=torch.stack([src, dst]) + edge_graph * slots,  # (2, E) in (B * T)
        num_nodes=sizes,
        mol_features=_per_graph(graphs, "mol_features"),
    )


def collate_graphs(
    graphs: Sequence[Data], max_hops: int, chunks: int = 1, canonical_paths: bool = True
) -> GraphBatch:
    """Collate graphs into one batch of ``chunks`` chunks, each padded alone.

    With one chunk the graphs keep their order. With more they are sorted by size and cut into
    near-equal chunks, so that a random batch pads almost as little as a size-bucketed one
    (``docs/results.md``).

    Args:
        graphs (Sequence[Data]): ``B >= 1`` graphs, as for :func:`collate_chunk`, optionally
            with ``y`` (``num_tasks`` values each).
        max_hops (int): bonds kept along each shortest path.
        chunks (int, optional): chunks wanted; fewer when the batch holds fewer graphs.
            (default: ``1``)
        canonical_paths (bool, optional): as for :func:`collate_chunk`. (default: ``True``)

    Returns:
        GraphBatch: the chunks (smallest graphs first when ``chunks > 1``) and their targets
        in chunk order.
    """
    if not graphs:
        raise ValueError("collate_graphs: empty list of graphs")
    if chunks > 1:
        order = torch.argsort(torch.tensor([g.num_nodes for g in graphs]), stable=True)
        parts = [[graphs[i] for i in p] for p in order.tensor_split(min(chunks, len(graphs)))]
    else:
        parts = [list(graphs)]
    return GraphBatch(
        [collate_chunk(part, max_hops, canonical_paths) for part in parts],
        y=_per_graph([g for part in parts for g in part], "y"),
    )


@dataclass
class GraphCollator:
    """``collate_fn`` for a ``DataLoader``: graphs to a :class:`GraphBatch` of size-sorted chunks.

    A plain dataclass, so it pickles into DataLoader worker processes.

    Args:
        max_hops (int): bonds kept along each shortest path (``model.graph.max_hops``).
        chunks (int): chunks per batch (:func:`collate_graphs`). (default: 1)
        canonical_paths (bool): as for :func:`collate_chunk`; masked pretraining turns it off.
            (default: True)
    """

    max_hops: int = 5
    chunks: int = 1
    canonical_paths: bool = True

    def __call__(self, graphs: Sequence[Data]) -> GraphBatch:
        """Collate ``graphs`` into one batch."""
        return collate_graphs(graphs, self.max_hops, self.chunks, self.canonical_paths)


def _with_encodings(graphs: Sequence[Data], canonical_paths: bool) -> Sequence[Data]:
    """Return the graphs, with encodings computed on shallow copies if any graph lacks them."""
    if all("distance" in g for g in graphs):
        return graphs
    encoded = []
    encodings = structural_encodings(graphs, canonical_paths=canonical_paths)
    for graph, encoding in zip(graphs, encodings, strict=True):
        graph = copy.copy(graph)  # shallow: never write into the caller's graphs
        graph.degree, graph.distance, graph.next_hop = encoding
        encoded.append(graph)
    return encoded


def _node_features(graphs: Sequence[Data]) -> Tensor:
    """Concatenated ``(V, F)`` node features, naming the first graph without any."""
    features = [g.x for g in graphs]
    if any(x is None for x in features):
        missing = [x is None for x in features].index(True)
        raise ValueError(f"collate_graphs: graph {missing} of the batch has no node features x")
    return torch.cat(features)


def _edges(graphs: Sequence[Data]) -> tuple[Tensor, Tensor, Tensor]:
    """Graph id, source slot and target slot of every directed edge, in graph order."""
    counts = torch.tensor([g.edge_index.size(1) for g in graphs])  # (B,)
    src, dst = torch.cat([g.edge_index for g in graphs], dim=1) + 1  # (E,), (E,) atom -> slot
    return torch.arange(len(graphs)).repeat_interleave(counts), src, dst


def _distance(graphs: Sequence[Data], pair_index: Tensor, mask: Tensor) -> Tensor:
    """``(B, T, T)`` distances with the [CLS] row and column, padding pairs ``PAD_DISTANCE``."""
    slots = mask.size(1)
    distance = torch.cat([g.distance for g in graphs])
    distance = _dense_pairs(distance, pair_index, (len(graphs), slots, slots), PAD_DISTANCE)
    cls_row = torch.where(mask, CLS_DISTANCE, PAD_DISTANCE)  # (B, T)
    distance[:, 0, :] = cls_row
    distance[:, :, 0] = cls_row
    return distance


def _path_edges(
    graphs: Sequence[Data],
    pair_index: Tensor,
    edges: tuple[Tensor, Tensor, Tensor],
    distance: Tensor,
    max_hops: int,
) -> Tensor:
    """``(B, T, T, max_hops)`` edge rows along one shortest path per pair of atoms."""
    shape = distance.shape
    edge_graph, src, dst = edges
    edge_id = torch.full(shape, NO_EDGE, dtype=torch.long)  # (B, T, T)
    edge_id[edge_graph, src, dst] = torch.arange(src.numel())
    next_hop = torch.cat([g.next_hop for g in graphs]).long()
    next_hop += next_hop >= 0  # atom -> slot, NO_EDGE stays
    next_hop = _dense_pairs(next_hop, pair_index, shape, NO_EDGE)  # [CLS], padding: stay put
    hops = min(max_hops, max(int(distance.max()), 0))  # hops past the longest path: NO_EDGE
    paths = trace_path_edges(next_hop, edge_id, hops)  # (B, T, T, hops)
    if hops == max_hops:
        return paths
    padding = paths.new_full((*shape, max_hops - hops), NO_EDGE)
    return torch.cat([paths, padding], dim=-1)  # (B, T, T, max_hops)


def _dense_nodes(values: Tensor, atom_index: Tensor, shape: torch.Size) -> Tensor:
    """Place ``(V, ...)`` per-atom values at their ``(B, T)`` slots, zeros elsewhere."""
    dense = values.new_zeros(shape.numel(), *values.shape[1:])  # (B * T, ...)
    dense.index_copy_(0, atom_index, values)
    return dense.view(*shape, *values.shape[1:])  # (B, T, ...)


def _dense_pairs(values: Tensor, pair_index: Tensor, shape: tuple[int, ...], fill: int) -> Tensor:
    """Place concatenated flat pair values at their ``(B, T, T)`` positions, ``fill`` elsewhere."""
    dense = torch.full(shape, fill, dtype=torch.long)  # (B, T, T)
    dense.view(-1).index_copy_(0, pair_index, values.long())  # (B * T * T,)
    return dense


def _edge_attr(graphs: Sequence[Data]) -> Tensor | None:
    """Concatenated edge features in graph order, or None when no graph has any."""
    attrs = [g.edge_attr for g in graphs]
    present = [a is not None for a in attrs]
    if not any(present):
        return None
    if not all(present):
        missing = present.index(False)
        raise ValueError(f"collate_graphs: graph {missing} of the batch has no edge_attr")
    return torch.cat(attrs)


def _per_graph(graphs: Sequence[Data], name: str) -> Tensor | None:
    """``(B, width)`` float rows of a per-graph attribute (``y``, ``mol_features``), or None.

    Raises:
        ValueError: some graphs of the batch have it and others not; the first without is named.
    """
    rows = [getattr(g, name, None) for g in graphs]
    if all(row is None for row in rows):
        return None
    if any(row is None for row in rows):
        missing = [row is None for row in rows].index(True)
        raise ValueError(f"collate_graphs: graph {missing} of the batch has no {name}")
    return torch.cat([row.reshape(1, -1) for row in rows]).float()  # (1, width) each
