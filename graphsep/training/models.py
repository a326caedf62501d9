"""Build models from a config, and start an encoder from a saved checkpoint."""

from __future__ import annotations

from typing import Any

from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims
from torch import Tensor, nn

from graphsep.config import ModelConfig
from graphsep.nn.model import GraphTransformer, PropertyPredictor
from graphsep.training.checkpoint import CheckpointError, load_checkpoint, load_weights

ENCODER_PREFIX = "encoder."


def ogb_feature_problems(model_cfg: ModelConfig) -> list[str]:
    """Why the model does not read OGB's featurization of SMILES; empty when it does.

    A model of other node or edge features (ZINC's atom types, a user's own graphs) cannot be
    pretrained on a SMILES corpus nor fed by ``graphsep predict``.
    """
    kinds = (model_cfg.node_kind, model_cfg.edge_kind)
    if kinds != ("categorical", "categorical"):
        return [
            "model.node_kind and model.edge_kind must be 'categorical', "
            f"got {kinds[0]!r}, {kinds[1]!r}"
        ]
    ogb = {"node_dims": get_atom_feature_dims(), "edge_dims": get_bond_feature_dims()}
    return [
        f"model.{key} must be {dims}, got {list(getattr(model_cfg, key))}"
        for key, dims in ogb.items()
        if list(getattr(model_cfg, key)) != dims
    ]


def feature_problems(model_cfg: ModelConfig, node_feat: Tensor, edge_feat: Tensor) -> list[str]:
    """Why the model cannot read a dataset's node and edge features; empty when it can.

    Args:
        model_cfg (ModelConfig): ``node_kind``, ``node_dims``, ``edge_kind``, ``edge_dims``.
        node_feat (Tensor): ``(N, F)`` the features of every node of the dataset.
        edge_feat (Tensor): ``(E, F_e)`` (or ``(E,)``: one column) those of every edge.

    Returns:
        list[str]: one line per mismatch, naming the key, what it reads and what the data holds.
    """
    problems = []
    for part, feat in (("node", node_feat), ("edge", edge_feat)):
        kind, dims = getattr(model_cfg, f"{part}_kind"), list(getattr(model_cfg, f"{part}_dims"))
        if kind == "none":
            continue
        feat, key = feat.view(feat.size(0), -1), f"model.{part}_dims"
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


def featurizer_of(model_cfg: ModelConfig) -> str | None:
    """``"ogb.smiles2graph"`` if the model reads OGB's SMILES featurization, else None."""
    return None if ogb_feature_problems(model_cfg) else "ogb.smiles2graph"


def build_predictor(model_cfg: ModelConfig, num_tasks: int) -> PropertyPredictor:
    """Build a :class:`PropertyPredictor` from the model config."""
    encoder = GraphTransformer(**model_cfg.architecture())
    return PropertyPredictor(encoder, num_tasks, model_cfg.head_dropout)


def architecture_mismatch(saved: dict[str, Any], wanted: ModelConfig) -> list[str]:
    """Return ``model.KEY (saved X, config Y)`` for each architecture key that differs.

    A key the checkpoint lacks (written before the key existed) counts as its default.
    """
    defaults = ModelConfig().architecture()
    return [
        f"model.{key} (checkpoint {saved.get(key, defaults[key])!r}, config {value!r})"
        for key, value in wanted.architecture().items()
        if key not in {"dropout", "attn_dropout"} and saved.get(key, defaults[key]) != value
    ]


def load_encoder_state(path: str, model_cfg: ModelConfig) -> dict[str, Tensor]:
    """Read the encoder weights of the checkpoint at ``path``, checked against ``model_cfg``.

    Called before any data is loaded, so that a wrong ``model.init_from`` stops at once.

    Raises:
        CheckpointError: not a graphsep checkpoint, or its architecture (norm type included)
            differs from ``model_cfg``; the message names every mismatching key.
    """
    ckpt = load_checkpoint(path)
    saved = ckpt.meta["config"].get("model", {})
    mismatch = architecture_mismatch(saved, model_cfg)
    if mismatch:
        raise CheckpointError(
            f"model.init_from={path}: the checkpoint's architecture differs from this config: "
            + "; ".join(mismatch)
            + ". Set these keys to the checkpoint's values."
        )
    encoder_state = {
        k[len(ENCODER_PREFIX) :]: v
        for k, v in ckpt.state_dict.items()
        if k.startswith(ENCODER_PREFIX)
    }
    if not encoder_state:
        raise CheckpointError(f"model.init_from={path}: the checkpoint holds no encoder weights")
    return encoder_state


def init_encoder_from(model: nn.Module, path: str, model_cfg: ModelConfig) -> None:
    """Copy the encoder weights of the checkpoint at ``path`` into ``model.encoder``.

    Raises:
        CheckpointError: as :func:`load_encoder_state`, or weights that do not fit.
    """
    load_weights(model.encoder, load_encoder_state(path, model_cfg), f"model.init_from={path}")
