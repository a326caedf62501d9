"""Dense padded batches of graphs for the Graphormer front end, built in one place.

A list of PyG graphs becomes one :class:`~graphsep.data.batch.GraphBatch` with ``T = 1 + N``
slots per graph, the virtual [CLS] node (Ying et al., NeurIPS 2021: the graph token) at slot 0.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphsep.constants import CLS_DISTANCE, NO_EDGE, PAD_DISTANCE
from graphsep.data.batch import GraphBatch
from graphsep.data.encodings import structural_encodings, trace_path_edges


def collate_graphs(graphs: Sequence[Data], max_hops: int) -> GraphBatch:
    """Pad a list of graphs into one dense batch with the [CLS] slot at position 0.

    Graphs carry ``degree``, ``distance`` and ``next_hop`` from
    :class:`~graphsep.data.encodings.StructuralEncoding` or
    :class:`~graphsep.data.encodings.EncodedDataset`; a batch whose graphs lack them gets them
    computed here. Features may be long (OGB categorical) or float; ``edge_attr`` may be absent.

    Args:
        graphs (Sequence[Data]): ``B >= 1`` graphs with ``x (n, F)`` and ``edge_index (2, E)``,
            optionally ``edge_attr (E, F_edge)`` and ``y`` (``num_tasks`` values).
        max_hops (int): bonds kept along each shortest path in ``path_edges``.

    Returns:
        GraphBatch: the padded batch (see its docstring for every field).
    """
    if not graphs:
        raise ValueError("collate_graphs: empty list of graphs")
    graphs = _with_encodings(graphs)
    sizes = torch.tensor([g.num_nodes for g in graphs])  # (B,)
    n_max = int(sizes.max())
    node_mask = torch.arange(n_max) < sizes.unsqueeze(1)  # (B, N)
    pair_mask = node_mask.unsqueeze(2) & node_mask.unsqueeze(1)  # (B, N, N)
    mask = torch.cat([node_mask.new_ones(len(graphs), 1), node_mask], dim=1)  # (B, T)

    edge_graph, src, dst = _edges(graphs)
    edge_id = torch.full((len(graphs), n_max, n_max), NO_EDGE, dtype=torch.long)
    edge_id[edge_graph, src, dst] = torch.arange(src.numel())
    # positions of real pairs in (B, N, N): graph, row, column, the order of the flat tensors
    pair_index = pair_mask.view(-1).nonzero().squeeze(1)
    next_hop = _dense_pairs([g.next_hop for g in graphs], pair_index, pair_mask.shape, NO_EDGE)
    atom_distance = _dense_pairs(
        [g.distance for g in graphs], pair_index, pair_mask.shape, PAD_DISTANCE
    )
    hops = min(max_hops, max(int(atom_distance.max()), 0))  # later hops are all NO_EDGE
    paths = trace_path_edges(next_hop, edge_id, hops)  # (B, N, N, hops)

    slots = n_max + 1
    return GraphBatch(
        x=_dense_nodes(_node_features(graphs), node_mask),
        mask=mask,
        degree=_dense_nodes(torch.cat([g.degree for g in graphs]).long(), node_mask),
        distance=_with_cls(atom_distance, mask, CLS_DISTANCE, PAD_DISTANCE),
        path_edges=_pad_paths(paths, max_hops),
        edge_attr=_edge_attr(graphs),
        edge_index=torch.stack([src, dst]) + (edge_graph * slots + 1),  # (2, E) in (B * T)
        num_nodes=sizes,
        y=_targets(graphs),
    )


@dataclass
class GraphCollator:
    """``collate_fn`` for a ``DataLoader``: :func:`collate_graphs` with a fixed ``max_hops``.

    A plain dataclass, so it pickles into DataLoader worker processes.

    Args:
        max_hops (int): bonds kept along each shortest path (default 5, as Graphormer).
    """

    max_hops: int = 5

    def __call__(self, graphs: Sequence[Data]) -> GraphBatch:
        """Collate ``graphs`` into a :class:`~graphsep.data.batch.GraphBatch`."""
        return collate_graphs(graphs, self.max_hops)


def _with_encodings(graphs: Sequence[Data]) -> Sequence[Data]:
    """Return the graphs, with encodings computed on shallow copies if any graph lacks them."""
    if all("distance" in g for g in graphs):
        return graphs
    encoded = []
    for graph, encoding in zip(graphs, structural_encodings(graphs), strict=True):
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
    """Graph id, local source and local target of every directed edge, in graph order."""
    counts = torch.tensor([g.edge_index.size(1) for g in graphs])  # (B,)
    src, dst = torch.cat([g.edge_index for g in graphs], dim=1)  # (E,), (E,)
    return torch.arange(len(graphs)).repeat_interleave(counts), src, dst


def _dense_nodes(values: Tensor, node_mask: Tensor) -> Tensor:
    """Scatter ``(V, ...)`` per-node values into ``(B, T, ...)`` zeros after the [CLS] slot."""
    num_graphs, n_max = node_mask.shape
    dense = values.new_zeros(num_graphs, n_max + 1, *values.shape[1:])  # (B, T, ...)
    dense[:, 1:][node_mask] = values
    return dense


def _dense_pairs(flat: list[Tensor], pair_index: Tensor, shape: torch.Size, fill: int) -> Tensor:
    """Scatter per-graph flat ``(n * n,)`` pair values into ``(B, N, N)`` long, else ``fill``."""
    dense = torch.full(shape, fill, dtype=torch.long)  # (B, N, N)
    dense.view(-1).index_copy_(0, pair_index, torch.cat(flat).long())
    return dense


def _with_cls(atom_pairs: Tensor, mask: Tensor, cls_value: int, pad_value: int) -> Tensor:
    """Embed ``(B, N, N)`` atom pairs into ``(B, T, T)`` with the [CLS] row and column."""
    num_graphs, n_max, _ = atom_pairs.shape
    dense = torch.full((num_graphs, n_max + 1, n_max + 1), pad_value, dtype=torch.long)
    dense[:, 1:, 1:] = atom_pairs
    cls_row = torch.where(mask, cls_value, pad_value)  # (B, T)
    dense[:, 0, :] = cls_row
    dense[:, :, 0] = cls_row
    return dense


def _pad_paths(paths: Tensor, max_hops: int) -> Tensor:
    """Embed ``(B, N, N, h)`` paths into ``(B, T, T, max_hops)``, ``NO_EDGE`` elsewhere."""
    num_graphs, n_max, _, hops = paths.shape
    dense = torch.full((num_graphs, n_max + 1, n_max + 1, max_hops), NO_EDGE, dtype=torch.long)
    dense[:, 1:, 1:, :hops] = paths
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


def _targets(graphs: Sequence[Data]) -> Tensor | None:
    """``(B, num_tasks)`` float targets (OGB's long class labels cast), or None without ``y``."""
    targets = [g.y for g in graphs]
    if all(y is None for y in targets):
        return None
    if any(y is None for y in targets):
        missing = [y is None for y in targets].index(True)
        raise ValueError(f"collate_graphs: graph {missing} of the batch has no target y")
    return torch.cat([y.reshape(1, -1) for y in targets]).float()
