"""The graph front end: Graphormer's embedding, optionally local message passing, per chunk."""

from __future__ import annotations

import torch
from torch import nn

from graphsep.core.config import CoreConfig
from graphsep.core.contract import CoreInput
from graphsep.core.encoder import TransformerEncoder
from graphsep.core.model import Encoder
from graphsep.frontends.graph.batch import GraphBatch, GraphChunk
from graphsep.frontends.graph.config import GraphConfig
from graphsep.frontends.graph.embedding import GraphormerEmbedding
from graphsep.frontends.graph.local import LocalMessagePassing


class GraphFrontEnd(nn.Module):
    """A :class:`GraphBatch` to the core's input, one :class:`CoreInput` per chunk.

    Its collate is :class:`~graphsep.frontends.graph.collate.GraphCollator`.

    Args:
        cfg (GraphConfig): the front end's settings (``model.graph``).
        dim (int): model width ``D``.
        num_heads (int): attention heads ``H`` (the bias has one plane per head).
        dropout (float): dropout of the local layers' updates.
        cls_features (nn.Module | None): maps each chunk's ``mol_features`` ``(B, F)`` to
            ``(B, D)``, added to the [CLS] node's learned initial state; None: [CLS] starts
            the same for every graph, as in Graphormer. (default: None)
    """

    def __init__(
        self,
        cfg: GraphConfig,
        dim: int,
        num_heads: int,
        dropout: float,
        cls_features: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.cls_features = cls_features
        self.embedding = GraphormerEmbedding(
            dim, num_heads, cfg.node_kind, cfg.node_dims, cfg.edge_kind, cfg.edge_dims,
            cfg.max_degree, cfg.max_distance, cfg.max_hops,
        )  # fmt: skip
        self.local: LocalMessagePassing | None = None
        if cfg.local_layers > 0:
            self.local = LocalMessagePassing(
                dim, cfg.local_layers, cfg.edge_kind, cfg.edge_dims, dropout
            )

    def forward(self, batch: GraphBatch) -> list[CoreInput]:
        """Return the core's input for every chunk of ``batch``, in order."""
        return [self.embed_chunk(chunk) for chunk in batch.chunks]

    def embed_chunk(self, chunk: GraphChunk) -> CoreInput:
        """Return the core's input for one chunk: tokens, mask and attention bias."""
        core_input = self.embedding(chunk)
        if self.cls_features is not None:
            if chunk.mol_features is None:
                raise ValueError(
                    "this model starts [CLS] from whole-molecule features "
                    "(task.property.mol_features), but the batch carries none"
                )
            tokens = core_input.tokens  # (B, T, D)
            cls = tokens[:, :1] + self.cls_features(chunk.mol_features.to(tokens.dtype))[:, None]
            core_input.tokens = torch.cat([cls, tokens[:, 1:]], dim=1)
        if self.local is not None:
            core_input.tokens = self.local(
                core_input.tokens, chunk.mask, chunk.edge_index, chunk.edge_attr,
                chunk.masked_edges,
            )  # fmt: skip
        return core_input

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
        }

    def mask_parameters(self) -> list[nn.Parameter]:
        """Return the [MASK] embeddings, which only masked pretraining uses."""
        return [p for n, p in self.named_parameters() if n in MASK_PARAMETERS]


MASK_PARAMETERS = ("embedding.mask_token", "embedding.edge_encoding.mask_edge", "local.mask_bond")
"""The front end's [MASK] embeddings: the masked atom, the masked bond's bias and local state."""


def graph_encoder(
    core: CoreConfig, graph: GraphConfig, cls_features: nn.Module | None = None
) -> Encoder:
    """Build the graph front end and the core that ``model.core`` and ``model.graph`` describe.

    The front end is built first, then the core, so a seed gives the same weights as before
    the two were split; ``cls_features`` is :class:`GraphFrontEnd`'s.
    """
    frontend = GraphFrontEnd(graph, core.dim, core.num_heads, core.dropout, cls_features)
    return Encoder(frontend, TransformerEncoder.from_config(core))
