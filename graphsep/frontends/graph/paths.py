"""All-pairs shortest paths of molecular graphs, with canonical ties, and their bonds.

A breadth-first search on bitsets runs from every node of a chunk of graphs at once (Graphormer
runs Floyd–Warshall in Cython at load time instead). For each pair it keeps one shortest path,
stored as ``next_hop``, the first step from the row node towards the column node; where several
shortest paths tie (across a ring), the one whose bond features read smallest is taken, so that
Graphormer's multi-hop edge encoding does not depend on how the atoms are numbered (Graphormer
takes whichever its Floyd–Warshall meets first). :func:`trace_path_edges` walks ``next_hop`` to
the bonds whose features the edge encoding averages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphsep.frontends.graph.constants import NO_EDGE, UNREACHABLE_DISTANCE

TRACE_PAIRS = 2**16
"""Pairs per piece in :func:`trace_path_edges` (at least one graph per piece)."""


def edge_codes(graphs: Sequence[Data], by_features: bool) -> list[Tensor]:
    """Per graph, ``(E,)`` long ranks of its edges' feature rows in one lexicographic order.

    Equal feature rows get equal codes; every code is 0 without ``by_features`` or for a graph
    without ``edge_attr``. The codes break shortest-path ties in :func:`shortest_paths`.

    Args:
        graphs (Sequence[Data]): graphs with ``edge_index (2, E)``, optionally
            ``edge_attr (E, ...)``.
        by_features (bool): rank by edge features; False gives every edge code 0.

    Returns:
        list[Tensor]: one ``(E,)`` long tensor per graph, in input order.
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


def shortest_paths(
    edge_indices: list[Tensor], codes_per_graph: list[Tensor], sizes: Tensor
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Out-degrees, distances and canonical next hops of one chunk of graphs, split per graph.

    Each node gets a row of ``N`` columns, the nodes of its graph by local index. Rows are ordered
    by out-degree, largest first, so that the sources of each neighbour rank form a row prefix.
    Of all shortest paths of a pair, the one whose sequence of edge codes, read from the row node,
    is smallest is kept; among equal readings the one through the smallest next index.

    Args:
        edge_indices (list[Tensor]): per graph, ``(2, E)`` long edges in local node indices.
        codes_per_graph (list[Tensor]): per graph, ``(E,)`` edge codes, see :func:`edge_codes`.
        sizes (Tensor): ``(G,)`` long node count per graph (at least one graph).

    Returns:
        list[tuple[Tensor, Tensor, Tensor]]: per graph, int16 ``degree (n,)``,
        ``distance (n * n,)`` and ``next_hop (n * n,)`` as in
        :class:`~graphsep.frontends.graph.encodings.StructuralEncodings`.
    """
    n_max = int(sizes.max())
    node_ptr = offsets(sizes)
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
    codes = torch.cat(codes_per_graph)  # (E,)
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
    return list(zip(degree, distance, next_hop, strict=True))


def _neighbour_ranks(
    src: Tensor, dst: Tensor, codes: Tensor, row_degree: Tensor
) -> list[tuple[Tensor, Tensor]]:
    """Group out-edges by their rank among their source's out-edges.

    Args:
        src (Tensor): ``(E,)`` source rows, rows ordered by out-degree (largest first).
        dst (Tensor): ``(E,)`` target rows.
        codes (Tensor): ``(E,)`` edge feature codes, see :func:`edge_codes`.
        row_degree (Tensor): ``(V,)`` out-degree of each row.

    Returns:
        list[tuple[Tensor, Tensor]]: entry ``r`` holds the ``(V_r,)`` target rows and codes of
        the ``r``-th out-edge of rows ``0 .. V_r - 1`` (the rows with more than ``r`` out-edges).
    """
    order = torch.argsort(src, stable=True)
    src, dst, codes = src[order], dst[order], codes[order]
    rank = torch.arange(src.numel()) - offsets(row_degree)[src]  # (E,)
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

    One dense pass per neighbour rank instead of one sparse pass per distance level: faster,
    which matters to pretraining's per-batch collate (index ties, see
    :func:`~graphsep.frontends.graph.encodings.structural_encodings`).
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
    # pairs grouped by distance, -1 first; sorting the int16 distances is faster than the long
    levels = torch.argsort(flat, stable=True).split(torch.bincount(far + 1).tolist())
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
    column_start = torch.repeat_interleave(offsets(row_length)[:-1], row_length)  # (P,)
    return row_start + torch.arange(row_start.numel()) - column_start


def trace_path_edges(next_hop: Tensor, edge_id: Tensor, max_hops: int) -> Tensor:
    """Walk ``next_hop`` from every row atom towards every column atom, collecting edge rows.

    The path from ``i`` to ``j`` is ``a_0 = i``, ``a_{h+1} = next_hop[a_h, j]`` and its ``h``-th
    edge is ``edge_id[a_h, a_{h+1}]``, until ``a_h = j`` (where ``next_hop`` stays put). Each hop
    is two gathers on the flat pair grid, whatever the batch size.

    Args:
        next_hop (Tensor): ``(B, N, N)`` long next hops as in
            :class:`~graphsep.frontends.graph.encodings.StructuralEncodings`,
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
    # a few graphs at a time keep the gathers in cache, which pays for large molecules
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


def offsets(counts: Tensor) -> Tensor:
    """``(G + 1,)`` start offsets from per-graph counts."""
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])
