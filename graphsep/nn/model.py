"""Composed models: the graph transformer (front end + core) and the property predictor."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from graphsep.data.batch import ChunkedGraphBatch, GraphBatch
from graphsep.nn.encoder import TransformerEncoder
from graphsep.nn.graphormer import GraphormerEmbedding
from graphsep.nn.local import LocalMessagePassing


class GraphTransformer(nn.Module):
    """Graphormer front end (optionally with local message passing) feeding the core.

    The constructor's arguments are the fields of :class:`graphsep.config.ModelConfig`
    (minus ``init_from``), so a config builds the model as ``GraphTransformer(**arch)``.

    Args:
        dim (int): model width ``D``.
        depth (int): transformer blocks.
        num_heads (int): attention heads ``H``.
        mlp_ratio (float): MLP hidden width over ``D``.
        dropout (float): residual-branch dropout.
        attn_dropout (float): attention-weight dropout.
        norm (str): ``"sep"`` or ``"share"``.
        cls_norm (str): ``"bn"`` or ``"ln"``, the [CLS] normalizer under ``"sep"``.
        node_kind (str): ``"categorical"`` or ``"continuous"``.
        node_dims (Sequence[int]): vocabulary sizes per column, or ``[channels]``.
        edge_kind (str): ``"categorical"``, ``"continuous"`` or ``"none"``.
        edge_dims (Sequence[int]): as ``node_dims`` for edges.
        max_degree (int): degree embedding cap.
        max_distance (int): shortest-path distance cap.
        max_hops (int): bonds per path in the edge encoding.
        local_layers (int, optional): GINE layers on the atom tokens before the core
            (:class:`~graphsep.nn.local.LocalMessagePassing`); ``0``: Graphormer alone.
            (default: ``0``)
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        dropout: float,
        attn_dropout: float,
        norm: str,
        cls_norm: str,
        node_kind: str,
        node_dims: Sequence[int],
        edge_kind: str,
        edge_dims: Sequence[int],
        max_degree: int,
        max_distance: int,
        max_hops: int,
        local_layers: int = 0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.max_hops = max_hops
        self.embedding = GraphormerEmbedding(
            dim, num_heads, node_kind, node_dims, edge_kind, edge_dims,
            max_degree, max_distance, max_hops,
        )  # fmt: skip
        self.local: LocalMessagePassing | None = None
        if local_layers > 0:
            self.local = LocalMessagePassing(dim, local_layers, edge_kind, edge_dims, dropout)
        self.encoder = TransformerEncoder(
            dim, depth, num_heads, mlp_ratio, dropout, attn_dropout, norm, cls_norm
        )

    def forward(
        self,
        batch: GraphBatch | ChunkedGraphBatch,
        masked_atoms: Tensor | Sequence[Tensor] | None = None,
        masked_edges: Tensor | Sequence[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor | list[Tensor]]:
        """Encode a batch; returns the [CLS] vectors ``(B, D)`` and all slots ``(B, T, D)``.

        A :class:`ChunkedGraphBatch` gives the [CLS] vectors of every chunk in order and one
        ``(B_i, T_i, D)`` slot tensor per chunk. See :meth:`GraphormerEmbedding.forward` for
        the optional masks (pretraining); a chunked batch takes one mask tensor per chunk.
        """
        if isinstance(batch, GraphBatch):
            out = self.encoder(*self.front_end(batch, masked_atoms, masked_edges))  # (B, T, D)
            return out[:, 0], out
        none = [None] * len(batch.chunks)
        chunks = zip(batch.chunks, masked_atoms or none, masked_edges or none, strict=True)
        outs = self.encoder.forward_chunks([self.front_end(*chunk) for chunk in chunks])
        return torch.cat([out[:, 0] for out in outs]), outs

    def front_end(
        self,
        batch: GraphBatch,
        masked_atoms: Tensor | None = None,
        masked_edges: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Return the core's input for one dense batch: tokens, mask and attention bias."""
        tokens, mask, bias = self.embedding(batch, masked_atoms, masked_edges)
        if self.local is not None:
            tokens = self.local(tokens, mask, batch.edge_index, batch.edge_attr, masked_edges)
        return tokens, mask, bias

    def no_weight_decay(self) -> set[str]:
        """Names of parameters kept out of weight decay: tokens, embeddings, norms, biases.

        The whole Graphormer embedding is: its lookup tables, as is usual for embeddings, and
        its per-hop head mixing, which starts at the identity, so decay would pull it away from
        where it starts rather than towards it. The local layers' bond tables are lookup tables
        too; their MLP matrices are decayed like the core's.
        """
        return {
            name
            for name, p in self.named_parameters()
            if p.ndim < 2
            or name.startswith(("embedding.", "local.bond_encoders.", "local.mask_bond"))
            or name.endswith("_token")
        }


class PropertyHead(nn.Module):
    """[CLS] vector to one output per task: Linear, GELU, dropout, Linear.

    Args:
        dim (int): input width ``D``.
        num_tasks (int): outputs (logits or standardised regression values).
        dropout (float, optional): dropout before the last layer. (default: ``0.0``)
    """

    def __init__(self, dim: int, num_tasks: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, num_tasks)
        )

    def forward(self, cls: Tensor) -> Tensor:
        """Map ``(B, D)`` to ``(B, num_tasks)``."""
        return self.net(cls)


class PropertyPredictor(nn.Module):
    """A :class:`GraphTransformer` with a :class:`PropertyHead` on its [CLS] output.

    Args:
        encoder (GraphTransformer): the graph encoder.
        num_tasks (int): outputs of the head.
        head_dropout (float, optional): dropout inside the head. (default: ``0.0``)
    """

    def __init__(
        self, encoder: GraphTransformer, num_tasks: int, head_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = PropertyHead(encoder.dim, num_tasks, head_dropout)

    def forward(self, batch: GraphBatch | ChunkedGraphBatch) -> Tensor:
        """Return raw outputs ``(B, num_tasks)``: logits or standardised values."""
        cls, _ = self.encoder(batch)
        return self.head(cls)

    def embed(self, batch: GraphBatch | ChunkedGraphBatch) -> Tensor:
        """Return the [CLS] embeddings ``(B, D)``."""
        return self.encoder(batch)[0]

    def no_weight_decay(self) -> set[str]:
        """Return the encoder's no-decay names, prefixed, and the head's biases."""
        names = {f"encoder.{n}" for n in self.encoder.no_weight_decay()}
        return names | {n for n, p in self.head.named_parameters(prefix="head") if p.ndim < 2}
