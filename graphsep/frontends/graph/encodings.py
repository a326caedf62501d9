"""Graphormer structural encodings (Ying et al., NeurIPS 2021), computed once per graph.

Per graph: the ``degree`` of each atom (centrality encoding), the all-pairs shortest-path
``distance`` (spatial encoding) and ``next_hop``, one shortest path per pair stored as the first
step from the row atom towards the column atom; :func:`trace_path_edges` walks it to the bonds
whose features Graphormer's multi-hop edge encoding averages. Where several shortest paths tie
(across a ring), the one whose bond features read smallest is taken, so that the edge encoding
does not depend on how the atoms are numbered (Graphormer takes whichever its Floyd–Warshall
meets first). Graphormer runs Floyd–Warshall in Cython at load time; here a breadth-first
search on bitsets runs from every node at once over size-sorted chunks of graphs, once, and
:class:`EncodedDataset` caches the result beside OGB's processed file. Pair tensors are flat
``(n * n,)`` row-major so that PyG can concatenate them across graphs.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from graphsep.frontends.graph.constants import NO_EDGE, UNREACHABLE_DISTANCE
from graphsep.molecules.files import load_tensors, save_atomic
from graphsep.progress import progress_bar

MAX_PAIRS = 2**19
"""Default bound on ``B * N * N`` per chunk: 1 MiB per int16 pair tensor, 15 molecules of 183 atoms.

Small chunks keep the breadth-first search from stepping many small graphs through the diameter
of one long chain; measured on HIV, 2**18 to 2**21 are within noise, 2**23 is 20% slower.
"""

TRACE_PAIRS = 2**16
"""Pairs per piece in :func:`trace_path_edges` (at least one graph per piece)."""

CACHE_NAME = "graphormer_encodings.pt"
"""File name of the cache that :class:`EncodedDataset` writes into ``dataset.processed_dir``."""

CACHE_VERSION = 2
"""Bumped whenever cached encodings change meaning (2: canonical shortest paths)."""

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


_FIELDS = StructuralEncodings._fields


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
        codes = _edge_codes(chunk_graphs, canonical_paths)
        encodings = _encode_chunk([g.edge_index for g in chunk_graphs], codes, sizes[ids])
        for i, encoding in zip(ids, encodings, strict=True):
            out[i] = encoding
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


def _edge_codes(graphs: Sequence[Data], by_features: bool) -> list[Tensor]:
    """Per graph, ``(E,)`` long ranks of its edges' feature rows in one lexicographic order.

    Equal feature rows get equal codes; every code is 0 without ``by_features`` or for a graph
    without ``edge_attr``.
    """
    codes = [torch.zeros(g.edge_index.size(1), dtype=torch.long) for g in graphs]
    featured = [i for i, g in enumerate(graphs) if by_features and g.edge_attr is not None]
    if featured:
        counts = [graphs[i].edge_index.size(1) for i in featured]
        attrs = [graphs[i].edge_attr for i in featured]
        rows = torch.cat([a.unsqueeze(1) if a.dim() == 1 else a.flatten(1) for a in attrs])
        ranks = torch.zeros(rows.size(0), dtype=torch.long)
        for column in rows.unbind(1):  # lexicographic: rank by (rank so far, next column)
            values, column_rank = torch.unique(column, return_inverse=True)
            ranks = torch.unique(ranks * values.numel() + column_rank, return_inverse=True)[1]
        for i, part in zip(featured, ranks.split(counts), strict=True):
            codes[i] = part
    return codes


def _encode_chunk(
    edge_indices: list[Tensor], edge_codes: list[Tensor], sizes: Tensor
) -> list[StructuralEncodings]:
    """Encode one chunk of graphs and split the result per graph.

    Each node gets a row of ``N`` columns, the nodes of its graph by local index. Rows are ordered
    by out-degree, largest first, so that the sources of each neighbour rank form a row prefix.
    """
    n_max = int(sizes.max())
    node_ptr = _offsets(sizes)
    graph_of_node = torch.repeat_interleave(sizes)  # (V,)
    num_nodes = graph_of_node.numel()
    edge_counts = torch.tensor([e.size(1) for e in edge_indices])
    shift = node_ptr[:-1].repeat_interleave(edge_counts)  # (E,)
    src, dst = torch.cat(edge_indices, dim=1) + shift  # (E,), (E,) chunk-global node ids
    degree = torch.bincount(src, minlength=num_nodes)  # (V,)
    node_of_row = torch.argsort(degree, descending=True, stable=True)  # (V,)
    row_of_node = torch.empty_like(node_of_row)
    row_of_node[node_of_row] = torch.arange(num_nodes)
    local = (torch.arange(num_nodes) - node_ptr[graph_of_node])[node_of_row]  # (V,) per row
    codes = torch.cat(edge_codes)  # (E,)
    neighbours = _neighbour_ranks(row_of_node[src], row_of_node[dst], codes, degree[node_of_row])
    targets = [rank_targets for rank_targets, _ in neighbours]
    distance = _bfs_distance(targets, local, n_max)
    if codes.any():
        next_hop = _next_hop(distance, neighbours, local)
    else:  # one code: the canonical path is the one through the smallest next index
        next_hop = _next_hop_by_index(distance, targets, local)

    pick = _pair_index(row_of_node, sizes[graph_of_node], n_max)
    pair_sizes = (sizes * sizes).tolist()
    degree = degree.to(torch.int16).split(sizes.tolist())
    # (V * N,) -> (sum n^2,) -> one (n * n,) piece per graph
    distance = distance.view(-1).index_select(0, pick).split(pair_sizes)
    next_hop = next_hop.view(-1).index_select(0, pick).split(pair_sizes)
    return [StructuralEncodings(*t) for t in zip(degree, distance, next_hop, strict=True)]


def _neighbour_ranks(
    src: Tensor, dst: Tensor, codes: Tensor, row_degree: Tensor
) -> list[tuple[Tensor, Tensor]]:
    """Group out-edges by their rank among their source's out-edges.

    Args:
        src (Tensor): ``(E,)`` source rows, rows ordered by out-degree (largest first).
        dst (Tensor): ``(E,)`` target rows.
        codes (Tensor): ``(E,)`` edge feature codes, see :func:`_edge_codes`.
        row_degree (Tensor): ``(V,)`` out-degree of each row.

    Returns:
        list[tuple[Tensor, Tensor]]: entry ``r`` holds the ``(V_r,)`` target rows and codes of
        the ``r``-th out-edge of rows ``0 .. V_r - 1`` (the rows with more than ``r`` out-edges).
    """
    order = torch.argsort(src, stable=True)
    src, dst, codes = src[order], dst[order], codes[order]
    rank = torch.arange(src.numel()) - _offsets(row_degree)[src]  # (E,)
    max_degree = int(row_degree[0]) if row_degree.numel() else 0
    return [(dst[rank == r], codes[rank == r]) for r in range(max_degree)]


def _bfs_distance(neighbours: list[Tensor], local: Tensor, n_max: int) -> Tensor:
    """All-pairs hop counts by a breadth-first search on bitsets, all sources at once.

    Row ``u`` of ``reached`` is a bitset over the nodes of ``u``'s graph; one hop ORs in the rows
    of ``u``'s out-neighbours, so a step costs ``O(E * N / 64)`` word operations. Each pair is
    newly reached exactly once, at its distance ``k``: ORing the new bits into the bit planes
    where ``k`` has a 1 writes ``k`` in binary without any carry.

    Args:
        neighbours (list[Tensor]): out-neighbour rows by rank, see :func:`_neighbour_ranks`.
        local (Tensor): ``(V,)`` each row's node index inside its graph.
        n_max (int): nodes in the largest graph of the chunk, ``N``.

    Returns:
        Tensor: ``(V, N)`` int16 distance from each row's node to each node of its graph (column
        = local index), ``UNREACHABLE_DISTANCE`` for other fragments and columns past its graph.
    """
    num_nodes, words = local.numel(), (n_max + 63) // 64
    reached = torch.zeros(num_nodes, words, dtype=torch.int64)  # (V, W)
    reached[torch.arange(num_nodes), local // 64] = torch.ones_like(local) << (local % 64)
    planes = torch.zeros(max(1, (n_max - 1).bit_length()), num_nodes, words, dtype=torch.int64)
    for hop in range(1, n_max):
        grown = reached.clone()
        for rank_neighbours in neighbours:
            grown[: rank_neighbours.numel()] |= reached.index_select(0, rank_neighbours)
        new = grown & ~reached  # (V, W)
        if not new.any():
            break
        for plane in range(planes.size(0)):
            if hop >> plane & 1:
                planes[plane] |= new
        reached = grown
    bits = _unpack_bits(planes, n_max)  # (P, V, N)
    distance = torch.zeros(num_nodes, n_max, dtype=torch.int16)
    for plane in range(planes.size(0)):
        distance |= bits[plane].to(torch.int16) << plane
    unreachable = _unpack_bits(reached, n_max) == 0  # (V, N)
    return distance.masked_fill_(unreachable, UNREACHABLE_DISTANCE)


def _unpack_bits(words: Tensor, n_max: int) -> Tensor:
    """Unpack ``(..., W)`` int64 bitsets into ``(..., N)`` uint8 bits, bit ``j`` = column ``j``."""
    # little-endian words: bit j sits in byte j // 8 at position j % 8
    as_bytes = words.numpy().astype("<i8", copy=False).view(np.uint8)  # (..., 8 * W)
    return torch.from_numpy(np.unpackbits(as_bytes, axis=-1, count=n_max, bitorder="little"))


def _next_hop_by_index(distance: Tensor, neighbours: list[Tensor], local: Tensor) -> Tensor:
    """:func:`_next_hop` when all edge codes are equal: the smallest index among ties.

    One dense pass per neighbour rank instead of one sparse pass per distance level: about half
    the time, which pretraining's per-batch collate (index ties, see the module) saves.
    """
    num_nodes, n_max = distance.shape
    unreachable = distance < 0  # (V, N)
    far = distance.int().masked_fill_(unreachable, n_max)  # (V, N)
    best = torch.full((num_nodes, n_max), (n_max + 1) * n_max, dtype=torch.int32)
    for rank_neighbours in neighbours:
        # key per (u, j) through this neighbour k: distance first, then k, so min picks nearest k
        keys = far.index_select(0, rank_neighbours) * n_max  # (V_r, N)
        keys += local.index_select(0, rank_neighbours).int().unsqueeze(1)
        prefix = best[: rank_neighbours.numel()]
        torch.minimum(prefix, keys, out=prefix)
    next_hop = (best % n_max).to(torch.int16).masked_fill_(unreachable, NO_EDGE)  # (V, N)
    diagonal = torch.arange(n_max) == local.unsqueeze(1)  # (V, N)
    return torch.where(diagonal, local.to(torch.int16).unsqueeze(1), next_hop)


def _next_hop(distance: Tensor, neighbours: list[tuple[Tensor, Tensor]], local: Tensor) -> Tensor:
    """For each pair (u, j), the out-neighbour of u that starts the canonical path from u to j.

    Dynamic programming over distance levels: a path of ``L`` hops reads as (code of its first
    edge, rank of the rest, a canonical path of ``L - 1`` hops); the smallest reading wins, then
    the smallest next index; all winners of a level are ranked together for the next.

    Args:
        distance (Tensor): ``(V, N)`` int16 distances as :func:`_bfs_distance` returns them.
        neighbours (list[tuple[Tensor, Tensor]]): out-neighbour rows and edge codes by rank,
            see :func:`_neighbour_ranks`.
        local (Tensor): ``(V,)`` each row's node index inside its graph.

    Returns:
        Tensor: ``(V, N)`` int16 local index of the next hop, ``u`` itself on the diagonal,
        ``NO_EDGE`` where unreachable.
    """
    num_nodes, n_max = distance.shape
    flat = distance.view(-1)  # (V * N,) flat pair u * N + j, -1 where unreachable
    far = flat.long()
    levels = torch.argsort(flat, stable=True).split(torch.bincount(far + 1).tolist())  # int16: 2x
    next_hop = torch.full_like(far, NO_EDGE)
    rank = torch.zeros_like(far)  # rank of the canonical path's reading within its level
    if len(levels) > 1:
        next_hop[levels[1]] = local[levels[1] // n_max]  # distance 0: stay put
    ranks_below, never = 1, torch.iinfo(torch.long).max
    for hops, pairs in enumerate(levels[2:], start=1):
        rows, columns = pairs // n_max, pairs % n_max  # rows ascend: the sort was stable
        best = torch.full_like(pairs, never)
        for targets, codes in neighbours:
            reach = int(torch.searchsorted(rows, targets.numel()))  # rows with this neighbour
            u, prefix = rows[:reach], best[:reach]
            k = targets.index_select(0, u)
            toward = k * n_max + columns[:reach]  # the pair (k, j), one hop on
            key = codes.index_select(0, u) * ranks_below + rank.index_select(0, toward)
            key = key * n_max + local.index_select(0, k)
            key.masked_fill_(far.index_select(0, toward) != hops - 1, never)
            torch.minimum(prefix, key, out=prefix)
        next_hop.index_copy_(0, pairs, best % n_max)
        readings, reading_rank = torch.unique(best // n_max, return_inverse=True)
        rank.index_copy_(0, pairs, reading_rank)
        ranks_below = readings.numel()
    return next_hop.to(torch.int16).view(num_nodes, n_max)


def _pair_index(row_of_node: Tensor, row_length: Tensor, n_max: int) -> Tensor:
    """Flat ``(V * N)`` positions of every real pair, graph by graph and row-major.

    Args:
        row_of_node (Tensor): ``(V,)`` row holding each node.
        row_length (Tensor): ``(V,)`` size of each node's graph (its real columns).
        n_max (int): columns per row, ``N``.

    Returns:
        Tensor: ``(sum n^2,)`` long positions.
    """
    row_start = torch.repeat_interleave(row_of_node * n_max, row_length)  # (P,)
    column_start = torch.repeat_interleave(_offsets(row_length)[:-1], row_length)  # (P,)
    return row_start + torch.arange(row_start.numel()) - column_start


def trace_path_edges(next_hop: Tensor, edge_id: Tensor, max_hops: int) -> Tensor:
    """Walk ``next_hop`` from every row atom towards every column atom, collecting edge rows.

    The path from ``i`` to ``j`` is ``a_0 = i``, ``a_{h+1} = next_hop[a_h, j]`` and its ``h``-th
    edge is ``edge_id[a_h, a_{h+1}]``, until ``a_h = j`` (where ``next_hop`` stays put). Each hop
    is two gathers on the flat pair grid, whatever the batch size.

    Args:
        next_hop (Tensor): ``(B, N, N)`` long next hops as in :class:`StructuralEncodings`,
            ``NO_EDGE`` where unreachable and at padding.
        edge_id (Tensor): ``(B, N, N)`` long row (in the batch's ``edge_attr``) of the directed
            edge from row node to column node, ``NO_EDGE`` if none.
        max_hops (int): number of hops kept; longer paths are cut after ``max_hops`` edges.

    Returns:
        Tensor: ``(B, N, N, max_hops)`` long edge rows, nearest ``i`` first, ``NO_EDGE`` past the
        path's end.
    """
    num_graphs, n_max, _ = next_hop.shape
    paths = next_hop.new_empty(num_graphs, n_max, n_max, max_hops)
    if max_hops == 0:
        return paths
    # a few graphs at a time keep the gathers in cache: 64 graphs of 200 atoms took 185 ms in
    # one piece, 81 ms in pieces of 2**16 pairs (2 cores, 1 thread); 64 of 30 atoms: no change
    step = max(1, TRACE_PAIRS // (n_max * n_max))
    for start in range(0, num_graphs, step):
        part = slice(start, start + step)
        _trace_chunk(next_hop[part], edge_id[part], paths[part])
    return paths


def _trace_chunk(next_hop: Tensor, edge_id: Tensor, paths: Tensor) -> None:
    """Fill ``paths (B, N, N, H)`` for a chunk of graphs, see :func:`trace_path_edges`."""
    num_graphs, n_max, _ = next_hop.shape
    rows = torch.arange(n_max).view(1, n_max, 1)  # (1, N, 1)
    columns = torch.arange(n_max).view(1, 1, n_max)  # (1, 1, N)
    # walks that have arrived stay put (next_hop[j, j] = j); make unreachable ones stay put too
    step = torch.where(next_hop >= 0, next_hop, rows)  # (B, N, N)
    # and make staying put read NO_EDGE: a self-loop never lies on a shortest path
    edge_id = edge_id.masked_fill(torch.eye(n_max, dtype=torch.bool), NO_EDGE)
    # walk on the flat pair grid p = a * N + j: per hop one gather for the edge, one for the step
    successor = (step * n_max + columns).view(num_graphs, -1)  # (B, N * N)
    first_hop = (rows * n_max + step).view(num_graphs, -1)  # (B, N * N)
    first_edge = edge_id.view(num_graphs, -1).gather(1, first_hop)  # (B, N * N)
    hops, position = [first_edge], successor
    for hop in range(1, paths.size(-1)):
        hops.append(first_edge.gather(1, position))
        if hop + 1 < paths.size(-1):
            position = successor.gather(1, position)
    torch.stack(hops, dim=-1, out=paths.view(num_graphs, n_max * n_max, -1))  # (B, N * N, H)


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


def encode_dataset(
    dataset: Sequence[Data],
    batch_graphs: int = 4096,
    max_pairs: int = MAX_PAIRS,
    progress: bool = True,
) -> dict[str, Tensor]:
    """Encode a whole dataset in size-sorted batches into flat concatenated tensors.

    Args:
        dataset (Sequence[Data]): an OGB/PyG dataset (or list) of graphs.
        batch_graphs (int): graphs loaded and encoded per step (default 4096).
        max_pairs (int): bound on ``B * N * N`` per chunk, see :func:`structural_encodings`.
        progress (bool): show a progress bar on a terminal (default True).

    Returns:
        dict[str, Tensor]: ``degree``, ``distance``, ``next_hop`` (int16, graphs concatenated in
        dataset order), ``node_ptr`` and ``pair_ptr`` (``(G + 1,)`` long offsets of graph ``g``'s
        nodes and pairs).
    """
    sizes = graph_sizes(dataset)
    order = torch.argsort(sizes, stable=True).tolist()
    encodings: list[StructuralEncodings | None] = [None] * len(order)
    with progress_bar(total=len(order), enabled=progress, unit="graph", desc="encodings") as bar:
        for start in range(0, len(order), batch_graphs):
            ids = order[start : start + batch_graphs]
            batch = structural_encodings([dataset[i] for i in ids], max_pairs)
            for i, encoding in zip(ids, batch, strict=True):
                encodings[i] = encoding
            bar.update(len(ids))
    return {
        **{key: _cat_int16([e[k] for e in encodings]) for k, key in enumerate(_FIELDS)},
        "node_ptr": _offsets(sizes),
        "pair_ptr": _offsets(sizes * sizes),
    }


def _cat_int16(parts: list[Tensor]) -> Tensor:
    """Concatenate, keeping int16 for an empty dataset too."""
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.int16)


def _offsets(counts: Tensor) -> Tensor:
    """``(G + 1,)`` start offsets from per-graph counts."""
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


def graph_sizes(dataset: Sequence[Data]) -> Tensor:
    """Count the nodes per graph, read from the slices of an in-memory PyG dataset when possible.

    Args:
        dataset (Sequence[Data]): an OGB/PyG dataset (or list) of graphs.

    Returns:
        Tensor: ``(G,)`` long node counts.
    """
    slices = getattr(dataset, "slices", None)
    if _is_whole(dataset) and slices is not None and "x" in slices:
        return slices["x"].diff().long()
    return torch.tensor([dataset[i].num_nodes for i in range(len(dataset))], dtype=torch.long)


class EncodedDataset(Dataset):
    """A graph dataset whose items carry cached ``degree``, ``distance`` and ``next_hop``.

    The encodings are computed once by :func:`encode_dataset` and saved (atomically) as one file
    of flat int16 tensors plus offsets, by default
    ``<dataset.processed_dir>/graphormer_encodings.pt`` beside OGB's processed file; a cache
    whose graph sizes disagree with the dataset, or written by another ``CACHE_VERSION``, is
    rebuilt; a damaged one is refused, naming it (:func:`~graphsep.molecules.files.load_tensors`).

    Args:
        dataset (Sequence[Data]): an OGB/PyG dataset (or any indexable sequence of graphs).
        cache_path (str | Path | None): cache file; None = the default beside the processed
            file, or no file at all for a dataset without ``processed_dir`` (default None).
        batch_graphs (int): graphs per encoding step (default 4096).
        progress (bool): show a progress bar on a terminal while encoding (default True).
    """

    def __init__(
        self,
        dataset: Sequence[Data],
        cache_path: str | Path | None = None,
        batch_graphs: int = 4096,
        progress: bool = True,
    ) -> None:
        self.dataset = dataset
        self.cache_path = _default_cache_path(dataset, cache_path)
        self.store = self._load_or_encode(batch_graphs, progress)
        self.indices = torch.arange(len(dataset))

    def _load_or_encode(self, batch_graphs: int, progress: bool) -> dict[str, Tensor]:
        """Read the cache if it matches the dataset, else encode and write it."""
        sizes = graph_sizes(self.dataset)
        if self.cache_path is not None and self.cache_path.exists():
            store = load_tensors(self.cache_path)
            version = int(store.get("version", 1))
            if version == CACHE_VERSION and torch.equal(store["node_ptr"].diff(), sizes):
                return store
            problem = (
                f"written by cache version {version}, not {CACHE_VERSION}"
                if version != CACHE_VERSION
                else "graph sizes differ from the dataset's"
            )
            warnings.warn(f"{self.cache_path}: {problem}, re-encoding", stacklevel=3)
        store = encode_dataset(self.dataset, batch_graphs=batch_graphs, progress=progress)
        store["version"] = torch.tensor(CACHE_VERSION)
        if self.cache_path is not None:
            save_atomic(store, self.cache_path)
        return store

    @property
    def sizes(self) -> Tensor:
        """``(len(self),)`` long number of atoms per graph, for a size-bucketed sampler."""
        return self.store["node_ptr"].diff()[self.indices]

    def __len__(self) -> int:
        return self.indices.numel()

    def __getitem__(self, index: Any) -> Data | EncodedDataset:
        """Graph ``index`` with its encodings, or a view for a slice/index tensor/sequence."""
        scalar = index.dim() == 0 if isinstance(index, Tensor) else hasattr(index, "__index__")
        if scalar:
            return self._get(int(self.indices[int(index)]))
        return self.index_select(index)

    def _get(self, graph: int) -> Data:
        """Graph ``graph`` of the wrapped dataset with its three encodings attached."""
        data = copy.copy(self.dataset[graph])  # shallow: never write into a user's list
        node_ptr, pair_ptr = self.store["node_ptr"], self.store["pair_ptr"]
        nodes = slice(int(node_ptr[graph]), int(node_ptr[graph + 1]))
        pairs = slice(int(pair_ptr[graph]), int(pair_ptr[graph + 1]))
        data.degree = self.store["degree"][nodes]
        data.distance = self.store["distance"][pairs]
        data.next_hop = self.store["next_hop"][pairs]
        return data

    def index_select(self, index: Tensor | slice | Sequence[int]) -> EncodedDataset:
        """Return a view on a subset (e.g. OGB's ``split_idx["train"]``) sharing the cached tensors.

        Args:
            index (Tensor | slice | Sequence[int]): positions in this dataset (long or bool).

        Returns:
            EncodedDataset: the subset view.
        """
        if isinstance(index, slice):
            selected = self.indices[index]
        else:
            index = torch.as_tensor(index)
            selected = self.indices[index if index.dtype == torch.bool else index.long()]
        view = object.__new__(EncodedDataset)
        view.__dict__.update(self.__dict__, indices=selected)
        return view

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.dataset!r}, graphs={len(self)})"


def _is_whole(dataset: Sequence[Data]) -> bool:
    """Whether a PyG dataset is not a view (``dataset[split]``) on a larger one."""
    return hasattr(dataset, "len") and dataset.len() == len(dataset)


def _default_cache_path(dataset: Sequence[Data], cache_path: str | Path | None) -> Path | None:
    """Return the explicit path, else ``<processed_dir>/graphormer_encodings.pt`` if any."""
    if cache_path is not None:
        return Path(cache_path)
    processed_dir = getattr(dataset, "processed_dir", None)
    if processed_dir is None:
        return None
    if not _is_whole(dataset):
        # a split's cache would overwrite the whole dataset's under the same name
        raise ValueError(
            f"EncodedDataset: {dataset!r} is a view of {dataset.len()} graphs; wrap the whole "
            "dataset and select the split with index_select, or pass cache_path"
        )
    return Path(processed_dir) / CACHE_NAME
