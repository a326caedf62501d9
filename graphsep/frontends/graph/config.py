"""The settings of the graph front end (``model.graph.*``), one object passed whole."""

from __future__ import annotations

from dataclasses import dataclass, field

from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims

from graphsep.frontends.graph.features import FEATURE_KINDS

NODE_KINDS = FEATURE_KINDS
"""The values of ``model.graph.node_kind``."""
EDGE_KINDS = (*FEATURE_KINDS, "none")
"""The values of ``model.graph.edge_kind``: ``none`` reads no edge features."""


@dataclass
class GraphConfig:
    """Graphormer embedding and optional local message passing before the core."""

    node_kind: str = "categorical"  # categorical (summed embeddings) or continuous (linear)
    node_dims: list[int] = field(default_factory=get_atom_feature_dims)  # OGB's 9 atom features
    edge_kind: str = "categorical"  # categorical, continuous or none (no edge encoding)
    edge_dims: list[int] = field(default_factory=get_bond_feature_dims)  # OGB's 3 bond features
    max_degree: int = 64  # higher degrees share one embedding
    max_distance: int = 20  # longer shortest paths share one bias bucket
    max_hops: int = 5  # bonds per path in the multi-hop edge encoding (Graphormer: 5)
    local_layers: int = 0  # GINE layers on the atom tokens before the core; 0: Graphormer alone
