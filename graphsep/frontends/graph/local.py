"""Local message passing over the bonds, run on the atom tokens before global attention.

Graphormer sees bonds only through attention biases. GraphTrans (Wu et al., NeurIPS 2021) and
GraphGPS (Rampášek et al., NeurIPS 2022) add message passing along the edges, which gives the
tokens the local chemistry that attention must otherwise learn from few labels. Here a short
stack of GINE layers (Hu et al., ICLR 2020) refines the atom tokens inside the graph front end,
so the transformer core stays domain-agnostic.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINEConv

from graphsep.frontends.graph.features import FeatureEncoder


class LocalMessagePassing(nn.Module):
    """Pre-norm residual GINE layers on the atom slots of a dense batch.

    Layer ``l`` updates every real atom ``i`` by
    ``h_i += Dropout(MLP((1 + eps) n_i + sum_j ReLU(n_j + e_ij)))`` with ``n = LayerNorm(h)``
    and ``e_ij`` the layer's own embedding of bond ``ij``. The [CLS] slot has no bonds and is
    left as it is; padding slots have none either, so they never reach a real atom.

    Args:
        dim (int): token width ``D``.
        num_layers (int): GINE layers.
        edge_kind (str): ``"categorical"``, ``"continuous"`` or ``"none"`` (messages carry
            the neighbour's token alone).
        edge_dims (Sequence[int]): bond vocabulary sizes per column, or ``[channels]``.
        dropout (float, optional): dropout on each layer's update. (default: ``0.0``)
    """

    def __init__(
        self,
        dim: int,
        num_layers: int,
        edge_kind: str,
        edge_dims: Sequence[int],
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(num_layers))
        self.convs = nn.ModuleList(
            GINEConv(nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)),
                     train_eps=True)
            for _ in range(num_layers)
        )  # fmt: skip
        self.bond_encoders = nn.ModuleList(
            FeatureEncoder(edge_kind, edge_dims, dim) for _ in range(num_layers)
        ) if edge_kind != "none" else None  # fmt: skip
        # a masked bond (pretraining) reads as this learned value instead of its features
        self.mask_bond = nn.Parameter(torch.zeros(num_layers, dim))
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every layer."""
        for norm, conv in zip(self.norms, self.convs, strict=True):
            norm.reset_parameters()
            conv.reset_parameters()
        for encoder in self.bond_encoders or []:
            encoder.reset_parameters()
        nn.init.zeros_(self.mask_bond)

    def forward(
        self,
        tokens: Tensor,
        mask: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor | None,
        masked_edges: Tensor | None = None,
    ) -> Tensor:
        """Return the tokens ``(B, T, D)`` with their atom slots updated.

        Args:
            tokens (Tensor): ``(B, T, D)``, [CLS] at slot 0.
            mask (Tensor): ``(B, T)`` bool, True = real slot.
            edge_index (Tensor): ``(2, E)`` directed bonds as indices into the flat ``B * T``
                slots (:class:`~graphsep.frontends.graph.batch.GraphChunk`).
            edge_attr (Tensor, optional): ``(E, F_edge)`` bond features.
            masked_edges (Tensor, optional): ``(E,)`` bool, bonds whose features are hidden.
        """
        B, T, D = tokens.shape
        atoms = mask.clone()
        atoms[:, 0] = False  # [CLS] is not an atom
        keep = atoms.reshape(B * T, 1).to(tokens.dtype)
        h = tokens.reshape(B * T, D)
        for layer, (norm, conv) in enumerate(zip(self.norms, self.convs, strict=True)):
            bonds = self._bond_embedding(layer, edge_attr, masked_edges, edge_index.size(1), h)
            h = h + self.dropout(conv(norm(h), edge_index, bonds)) * keep
        return h.view(B, T, D)

    def _bond_embedding(
        self,
        layer: int,
        edge_attr: Tensor | None,
        masked_edges: Tensor | None,
        num_edges: int,
        h: Tensor,
    ) -> Tensor:
        """``(E, D)`` bond embeddings of one layer; zeros for graphs without bond features."""
        if self.bond_encoders is None or edge_attr is None:
            return h.new_zeros(num_edges, h.size(1))
        bonds = self.bond_encoders[layer](edge_attr)
        if masked_edges is not None:
            bonds = torch.where(masked_edges[:, None], self.mask_bond[layer], bonds)
        return bonds

    def extra_repr(self) -> str:
        """Hyper-parameters shown in ``repr``."""
        return f"layers={len(self.convs)}"
