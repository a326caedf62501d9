"""Whether a graph front end's settings read given features: OGB's featurization, a dataset."""

from __future__ import annotations

from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims
from torch import Tensor

from graphsep.frontends.graph.config import GraphConfig

OGB_FEATURIZER = "ogb.smiles2graph"
"""The ``featurizer`` a checkpoint records when its model reads OGB's featurization of SMILES."""


def ogb_feature_problems(graph: GraphConfig) -> list[str]:
    """Why the front end does not read OGB's featurization of SMILES; empty when it does.

    A model of other node or edge features (ZINC's atom types, a user's own graphs) cannot be
    pretrained on a SMILES corpus nor fed by ``graphsep predict``.
    """
    kinds = (graph.node_kind, graph.edge_kind)
    if kinds != ("categorical", "categorical"):
        return [
            "model.graph.node_kind and model.graph.edge_kind must be 'categorical', "
            f"got {kinds[0]!r}, {kinds[1]!r}"
        ]
    ogb = {"node_dims": get_atom_feature_dims(), "edge_dims": get_bond_feature_dims()}
    return [
        f"model.graph.{key} must be {dims}, got {list(getattr(graph, key))}"
        for key, dims in ogb.items()
        if list(getattr(graph, key)) != dims
    ]


def feature_problems(graph: GraphConfig, node_feat: Tensor, edge_feat: Tensor) -> list[str]:
    """Why the front end cannot read a dataset's node and edge features; empty when it can.

    Args:
        graph (GraphConfig): ``node_kind``, ``node_dims``, ``edge_kind``, ``edge_dims``.
        node_feat (Tensor): ``(N, F)`` the features of every node of the dataset.
        edge_feat (Tensor): ``(E, F_e)`` (or ``(E,)``: one column) those of every edge.

    Returns:
        list[str]: one line per mismatch, naming the key, what it reads and what the data holds.
    """
    problems = []
    for part, feat in (("node", node_feat), ("edge", edge_feat)):
        kind, dims = getattr(graph, f"{part}_kind"), list(getattr(graph, f"{part}_dims"))
        if kind == "none":
            continue
        feat, key = feat.view(feat.size(0), -1), f"model.graph.{part}_dims"
        reads = dims[0] if kind == "continuous" else len(dims)
        if feat.size(1) != reads:
            problems.append(
                f"{key}={dims} reads {reads} {kind} {part} feature(s), the data has {feat.size(1)}"
            )
        elif kind == "categorical" and feat.numel():
            low, high = feat.min(0).values.tolist(), feat.max(0).values.tolist()
            problems += [
                f"{key}[{i}]={size} embeds values 0 to {size - 1}, the data's {part} feature {i} "
                f"spans {low[i]} to {high[i]}"
                for i, size in enumerate(dims)
                if low[i] < 0 or high[i] >= size
            ]
    return problems


def featurizer_of(graph: GraphConfig) -> str | None:
    """``OGB_FEATURIZER`` if the front end reads OGB's SMILES featurization, else None."""
    return None if ogb_feature_problems(graph) else OGB_FEATURIZER
