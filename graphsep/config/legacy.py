"""The flat keys of graphsep 0.1 and their places in today's nested config.

A checkpoint written by graphsep 0.1 stores its config with these keys; it still loads
(:func:`upgrade_config`). The same key typed on the command line or in a YAML file stops with a
message naming its new place (:func:`moved_key_message`), so old commands fail loudly, once.
"""

from __future__ import annotations

import copy
from typing import Any

_CORE = ("norm", "cls_norm", "dim", "depth", "num_heads", "mlp_ratio", "dropout", "attn_dropout")
_GRAPH = (
    "node_kind", "node_dims", "edge_kind", "edge_dims", "max_degree", "max_distance",
    "max_hops", "local_layers",
)  # fmt: skip
_CORPUS = (
    "smiles_column", "max_molecules", "max_atoms", "held_out_fraction", "held_out_max",
    "cache_dir", "shard_size", "num_workers",
)  # fmt: skip
_MASKING = ("atom_mask_rate", "bond_mask_rate", "atom_type_weight")

MOVED_KEYS: dict[str, str] = {
    **{f"model.{k}": f"model.core.{k}" for k in _CORE},
    **{f"model.{k}": f"model.graph.{k}" for k in _GRAPH},
    "model.head_dropout": "task.property.head_dropout",
    "mode": "task.name",
    "pretrain.corpus": "data.corpus.files",
    **{f"pretrain.{k}": f"data.corpus.{k}" for k in _CORPUS},
    **{f"pretrain.{k}": f"task.masked_graph.{k}" for k in _MASKING},
}
"""Each 0.1 key and its place now."""

RENAMED_KEYS: dict[str, str] = {"data.text.tokenizer_dir": "data.text.cache_dir"}
"""Keys of today's nested layout renamed since, and their names now (checkpoints written
before the rename hold the old name)."""

MODE_TASKS = {"finetune": "property", "pretrain": "masked_graph"}
"""The 0.1 values of ``mode`` and the ``task.name`` each became."""


def moved_key_message(key: str, where: str) -> str | None:
    """Return the message for an old key given in ``where``, or None if ``key`` is not one."""
    moved = {**MOVED_KEYS, **RENAMED_KEYS}
    if key not in moved:
        return None
    hint = ""
    if key == "mode":
        hint = " (mode=finetune is task.name=property, mode=pretrain is task.name=masked_graph)"
    return f"{where}: key '{key}' has moved to '{moved[key]}'{hint}"


def is_flat(content: dict[str, Any]) -> bool:
    """Whether a saved config is in 0.1's flat shape (``mode``, ``pretrain``, ``model.dim``)."""
    model = content.get("model", {})
    return "mode" in content or "pretrain" in content or any(k in model for k in _CORE)


def upgrade_config(content: dict[str, Any]) -> dict[str, Any]:
    """Return a saved config dict (from a checkpoint's ``meta.json``) in today's shape.

    A 0.1 (flat) config is nested; a nested one has its :data:`RENAMED_KEYS` renamed. A key of
    neither shape is left where it is, so the config's own checks name it.
    """
    if not is_flat(content):
        return _renamed(content)
    old = copy.deepcopy(content)
    new: dict[str, Any] = {}
    for section in ("model", "pretrain"):
        for key, value in (old.pop(section, None) or {}).items():
            _put(new, MOVED_KEYS.get(f"{section}.{key}", f"{section}.{key}"), value)
    if "mode" in old:
        mode = old.pop("mode")
        _put(new, "task.name", MODE_TASKS.get(mode, mode))
    for key, value in old.items():  # out_dir, seed, data.*, train.*: unchanged
        if isinstance(value, dict):
            _merge_into(new, key, value)
        else:
            _put(new, key, value)
    return new


def _renamed(content: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(content)
    for old, now in RENAMED_KEYS.items():
        *parents, leaf = old.split(".")
        node = new
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            _put(new, now, node.pop(leaf))
    return new


def _put(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def _merge_into(tree: dict[str, Any], section: str, values: dict[str, Any]) -> None:
    for key, value in values.items():
        _put(tree, f"{section}.{key}", value)
