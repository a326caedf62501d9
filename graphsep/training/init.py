"""Start an encoder from a saved checkpoint (``model.init_from``), checked against the config."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from torch import Tensor, nn

from graphsep.config import ModelConfig
from graphsep.training.checkpoint import CheckpointError, load_checkpoint, load_weights

ENCODER_PREFIX = "encoder."
TRAINING_ONLY = {"dropout", "attn_dropout"}
"""Architecture keys that may differ from the checkpoint's: they change training, not weights."""


def _architecture(model: dict[str, Any], frontend: str) -> dict[str, Any]:
    """Return the keys that shape the weights, flat: ``model.core.*`` and the front end's."""
    return {
        f"model.{section}.{key}": value
        for section in ("core", frontend)
        for key, value in model.get(section, {}).items()
        if key not in TRAINING_ONLY
    }


def architecture_mismatch(saved: dict[str, Any], wanted: ModelConfig) -> list[str]:
    """Return ``model.SECTION.KEY (checkpoint X, config Y)`` for each key that differs.

    A key the checkpoint lacks (written before the key existed) counts as its default; a
    checkpoint without ``model.frontend`` (graphsep 0.1) holds a graph model.
    """
    frontend = saved.get("frontend", "graph")
    if frontend != wanted.frontend:
        return [f"model.frontend (checkpoint {frontend!r}, config {wanted.frontend!r})"]
    defaults = _architecture(asdict(ModelConfig()), frontend)
    old = {**defaults, **_architecture(saved, frontend)}
    return [
        f"{key} (checkpoint {old[key]!r}, config {value!r})"
        for key, value in _architecture(asdict(wanted), frontend).items()
        if old[key] != value
    ]


def load_encoder_state(path: str, model_cfg: ModelConfig) -> dict[str, Tensor]:
    """Read the encoder weights of the checkpoint at ``path``, checked against ``model_cfg``.

    Called before any data is loaded, so that a wrong ``model.init_from`` stops at once.

    Raises:
        CheckpointError: not a graphsep checkpoint, or its architecture (norm type included)
            differs from ``model_cfg``; the message names every mismatching key.
    """
    ckpt = load_checkpoint(path)
    mismatch = architecture_mismatch(ckpt.meta["config"].get("model", {}), model_cfg)
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
