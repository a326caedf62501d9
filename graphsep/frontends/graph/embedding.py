"""Graphormer's embedding: from a dense :class:`GraphChunk` to tokens, mask and bias.

Ying et al., "Do Transformers Really Perform Bad for Graph Representation?", NeurIPS 2021:
summed atom embeddings plus a degree (centrality) embedding, a learned per-head bias per
shortest-path distance, the multi-hop edge encoding (bond embeddings along a shortest path,
weighted per hop and averaged), and a virtual [CLS] node joined to every atom through its own
learned "virtual distance".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from graphsep.core.contract import CoreInput
from graphsep.frontends.graph.batch import GraphChunk
from graphsep.frontends.graph.constants import (
    CLS_DISTANCE,
    NO_EDGE,
    PAD_DISTANCE,
    UNREACHABLE_DISTANCE,
)
from graphsep.frontends.graph.features import FeatureEncoder


class SpatialBias(nn.Module):
    """A learned per-head attention bias for each shortest-path distance bucket.

    Buckets: ``0 .. max_distance`` (longer paths share the last), then one each for
    unreachable pairs, the [CLS] virtual distance and padding.

    Args:
        num_heads (int): attention heads ``H``.
        max_distance (int): distances above this share one bucket.
    """

    def __init__(self, num_heads: int, max_distance: int) -> None:
        super().__init__()
        self.max_distance = max_distance
        self.bias = nn.Embedding(max_distance + 4, num_heads)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Start from a zero bias: plain attention until the distances prove useful."""
        nn.init.zeros_(self.bias.weight)

    def bucket(self, distance: Tensor) -> Tensor:
        """Map distances with sentinels ``(B, T, T)`` to bucket indices ``(B, T, T)``."""
        m = self.max_distance
        idx = distance.clamp(min=0, max=m)
        idx = torch.where(distance == UNREACHABLE_DISTANCE, m + 1, idx)
        idx = torch.where(distance == CLS_DISTANCE, m + 2, idx)
        return torch.where(distance == PAD_DISTANCE, m + 3, idx)

    def forward(self, distance: Tensor) -> Tensor:
        """Return the bias ``(B, T, T, H)`` for ``distance`` ``(B, T, T)``."""
        return self.bias(self.bucket(distance))

    def extra_repr(self) -> str:
        """Hyper-parameters shown in ``repr``."""
        return f"heads={self.bias.embedding_dim}, max_distance={self.max_distance}"


class PathEdgeEncoding(nn.Module):
    """Graphormer's multi-hop edge encoding.

    For atoms ``i, j`` joined by a shortest path whose first ``K <= max_hops`` bonds are
    ``e_1 .. e_K``, the per-head bias is ``sum_k embed(e_k) @ W_k / K``.

    Args:
        edge_encoder (FeatureEncoder): maps bond features to ``H`` values per bond.
        num_heads (int): attention heads ``H``.
        max_hops (int): bonds of the path taken into account.
    """

    def __init__(self, edge_encoder: FeatureEncoder, num_heads: int, max_hops: int) -> None:
        super().__init__()
        self.edge_encoder = edge_encoder
        self.max_hops = max_hops
        self.hop_weight = nn.Parameter(torch.empty(max_hops, num_heads, num_heads))
        self.mask_edge = nn.Parameter(torch.zeros(num_heads))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the per-hop head mixing near the identity."""
        self.edge_encoder.reset_parameters()
        eye = torch.eye(self.hop_weight.size(-1))
        with torch.no_grad():
            self.hop_weight.copy_(eye.expand_as(self.hop_weight))
        nn.init.zeros_(self.mask_edge)

    def forward(
        self,
        edge_attr: Tensor,
        path_edges: Tensor,
        distance: Tensor,
        masked_edges: Tensor | None = None,
    ) -> Tensor:
        """Return the edge bias ``(B, T, T, H)``.

        Args:
            edge_attr (Tensor): ``(E, F_edge)`` features of the batch's directed edges.
            path_edges (Tensor): ``(B, T, T, K)`` rows of ``edge_attr`` along each path,
                ``NO_EDGE`` past its end; ``K >= max_hops``.
            distance (Tensor): ``(B, T, T)`` distances with sentinels.
            masked_edges (Tensor, optional): ``(E,)`` bool; these edges' features are replaced
                by a learned [MASK] value wherever a path uses them.
        """
        per_edge = self.edge_encoder(edge_attr)  # (E, H)
        if masked_edges is not None:
            per_edge = torch.where(masked_edges[:, None], self.mask_edge, per_edge)
        K, H = self.max_hops, per_edge.size(-1)
        if path_edges.size(-1) < K:
            raise ValueError(
                f"path_edges hold {path_edges.size(-1)} hops but the edge encoding uses {K}: "
                "collate with max_hops equal to the model's"
            )
        # Row 0 of each hop's table is "no edge" and contributes nothing.
        per_hop = torch.einsum("eh,khg->keg", per_edge, self.hop_weight)  # (K, E, H)
        table = torch.cat([per_edge.new_zeros(K, 1, H), per_hop], dim=1)  # (K, 1 + E, H)
        path = path_edges[..., :K]  # (B, T, T, K)
        rows = torch.where(path == NO_EDGE, 0, path + 1)
        hop_offset = torch.arange(K, device=rows.device) * table.size(1)
        gathered = table.reshape(-1, H)[rows + hop_offset]  # (B, T, T, K, H)
        hops = distance.clamp(min=1, max=K).unsqueeze(-1)  # (B, T, T, 1)
        return gathered.sum(-2) / hops

    def extra_repr(self) -> str:
        """Hyper-parameters shown in ``repr``."""
        return f"max_hops={self.max_hops}"


class GraphormerEmbedding(nn.Module):
    """Turn a :class:`GraphChunk` into the core's input: tokens, mask and attention bias.

    Args:
        dim (int): model width ``D``.
        num_heads (int): attention heads ``H``.
        node_kind (str): ``"categorical"`` or ``"continuous"`` node features.
        node_dims (Sequence[int]): vocabulary size per column, or ``[channels]``.
        edge_kind (str): ``"categorical"``, ``"continuous"`` or ``"none"`` (no edge encoding).
        edge_dims (Sequence[int]): as ``node_dims``, for bonds.
        max_degree (int, optional): degrees above share one embedding. (default: ``64``)
        max_distance (int, optional): see :class:`SpatialBias`. (default: ``20``)
        max_hops (int, optional): see :class:`PathEdgeEncoding`. (default: ``5``)
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        node_kind: str,
        node_dims: Sequence[int],
        edge_kind: str,
        edge_dims: Sequence[int],
        max_degree: int = 64,
        max_distance: int = 20,
        max_hops: int = 5,
    ) -> None:
        super().__init__()
        self.max_degree = max_degree
        self.node_encoder = FeatureEncoder(node_kind, node_dims, dim)
        self.degree_encoder = nn.Embedding(max_degree + 1, dim)
        self.cls_token = nn.Parameter(torch.zeros(dim))
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.spatial_bias = SpatialBias(num_heads, max_distance)
        self.edge_encoding: PathEdgeEncoding | None = None
        if edge_kind != "none":
            edge_encoder = FeatureEncoder(edge_kind, edge_dims, num_heads)
            self.edge_encoding = PathEdgeEncoding(edge_encoder, num_heads, max_hops)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every embedding."""
        self.node_encoder.reset_parameters()
        nn.init.normal_(self.degree_encoder.weight, std=0.02)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        self.spatial_bias.reset_parameters()
        if self.edge_encoding is not None:
            self.edge_encoding.reset_parameters()

    def forward(self, chunk: GraphChunk) -> CoreInput:
        """Embed one chunk; its ``masked_atoms`` and ``masked_edges`` (pretraining) are hidden.

        A masked atom's features are replaced by the learned [MASK] embedding (its degree stays
        visible); a masked bond's, see :class:`PathEdgeEncoding`.

        Returns:
            CoreInput: tokens ``(B, T, D)``, mask ``(B, T)``, attention bias ``(B, H, T, T)``.
        """
        atoms = self.node_encoder(chunk.x)  # (B, T, D)
        if chunk.masked_atoms is not None:
            atoms = torch.where(chunk.masked_atoms[..., None], self.mask_token, atoms)
        tokens = atoms + self.degree_encoder(chunk.degree.clamp(max=self.max_degree))
        tokens[:, 0] = self.cls_token  # the virtual [CLS] node has no atom features
        tokens = tokens * chunk.mask[..., None]  # padding slots hold zeros
        bias = self.spatial_bias(chunk.distance)  # (B, T, T, H)
        if self.edge_encoding is not None and chunk.edge_attr is not None:
            bias = bias + self.edge_encoding(
                chunk.edge_attr, chunk.path_edges, chunk.distance, chunk.masked_edges
            )
        return CoreInput(tokens, chunk.mask, bias.permute(0, 3, 1, 2))  # bias (B, H, T, T)
