"""Self-describing checkpoints that load without unpickling anything.

A checkpoint is a folder: ``model.safetensors`` (the weights) and ``meta.json`` (the run
config, the task names and type, the target scaling, the featurizer and the package version).
Folders are written beside their final place and renamed into it, so an interrupted write never
leaves a half checkpoint under the final name.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors
from torch import Tensor, nn

import graphsep
from graphsep.config import ConfigError, config_from_dict
from graphsep.config.legacy import upgrade_config
from graphsep.errors import GraphsepError
from graphsep.files import fsync, publish, remove_leftovers, temporary_sibling, write_failure
from graphsep.tasks.property.spec import TaskSpec

FORMAT = "graphsep-checkpoint"
FORMAT_VERSION = 2
"""Version 2 (graphsep 0.2): nested config, the encoder as ``frontend`` and ``core``."""
READABLE_VERSIONS = (1, 2)
V1_PREFIXES = {
    "encoder.embedding.": "encoder.frontend.embedding.",
    "encoder.local.": "encoder.frontend.local.",
    "encoder.encoder.": "encoder.core.",
}
"""Where version 1's weights sit now: the graph model's parts under the generic encoder."""
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
TRAIN_STATE_FILE = "train_state.pt"
TRAIN_STATE_TYPES = {"optimizer": dict, "scheduler": dict, "rng": list, "progress": dict}
"""What ``train_state.pt`` holds: the engine's optimizer, schedule, RNG and progress state."""


class CheckpointError(GraphsepError, ValueError):
    """A checkpoint that is missing, truncated, foreign or from an incompatible version."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the weights and the metadata describing them.

    Args:
        state_dict (dict[str, torch.Tensor]): model weights.
        meta (dict[str, Any]): ``config``, ``task``, ``featurizer``, ``graphsep_version`` and
            any extra fields the writer stored.
        path (Path): the folder it was read from.
    """

    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path


def save_checkpoint(
    path: str | Path,
    state_dict: dict[str, torch.Tensor],
    meta: dict[str, Any],
    train_state: dict[str, Any] | None = None,
    keep_previous: bool = False,
    files: dict[str, str] | None = None,
) -> Path:
    """Write a checkpoint folder atomically (temporary folder, fsync, rename).

    The temporary folders that saves of ``path`` killed part way left behind are removed first
    (:func:`graphsep.files.remove_leftovers`): one process writes a run's checkpoints.

    Args:
        path (str | Path): the final folder; replaced if present.
        state_dict (dict[str, torch.Tensor]): model weights.
        meta (dict[str, Any]): JSON-serialisable description (config, task, featurizer).
        train_state (dict[str, Any], optional): optimizer, scheduler, RNG and progress state
            for resuming, saved as ``train_state.pt`` (tensors and plain types only, so it
            loads with ``weights_only=True``).
        keep_previous (bool, optional): keep the replaced folder as ``<path>.prev``, the
            fallback when the newest one turns out corrupt. (default: ``False``)
        files (dict[str, str], optional): further text files by name, e.g. a text model's
            ``tokenizer.json``. (default: None)

    Returns:
        Path: ``path``.

    Raises:
        WriteError: the folder could not be written (e.g. no space left on device); the
            temporary folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_failure(path, err) from err
    remove_leftovers(path)  # of a save killed part way: each is a whole checkpoint's size
    with temporary_sibling(path, folder=True) as tmp:
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
        # serialized in memory and written by Python, so that a full disk raises OSError
        (tmp / WEIGHTS_FILE).write_bytes(save_safetensors(tensors))
        header = {"format": FORMAT, "format_version": FORMAT_VERSION}
        full_meta = {**header, "graphsep_version": graphsep.__version__, **meta}
        (tmp / META_FILE).write_text(json.dumps(full_meta, indent=2))
        for name, text in (files or {}).items():
            (tmp / name).write_text(text)
        written = [WEIGHTS_FILE, META_FILE, *(files or {})]
        if train_state is not None:
            buffer = io.BytesIO()
            torch.save(train_state, buffer)
            (tmp / TRAIN_STATE_FILE).write_bytes(buffer.getvalue())
            written.append(TRAIN_STATE_FILE)
        for name in written:
            fsync(tmp / name)
        publish(tmp, path, previous_path(path) if keep_previous else None)
    return path


def previous_path(path: str | Path) -> Path:
    """Where :func:`save_checkpoint` keeps the replaced folder with ``keep_previous``."""
    path = Path(path)
    return path.with_name(f"{path.name}.prev")


def load_train_state(path: str | Path) -> dict[str, Any]:
    """Load ``train_state.pt`` of a checkpoint folder (no arbitrary unpickling).

    Raises:
        CheckpointError: the file is missing, truncated, not loadable with weights only, or
            not a graphsep training state (``TRAIN_STATE_TYPES``).
    """
    file = Path(path) / TRAIN_STATE_FILE
    if not file.is_file():
        raise CheckpointError(f"{path}: {TRAIN_STATE_FILE} is missing (not a resumable checkpoint)")
    try:
        state = torch.load(file, weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{file}: corrupt or truncated training state ({err})") from err
    expected = ", ".join(f"{k} ({t.__name__})" for k, t in TRAIN_STATE_TYPES.items())
    if not isinstance(state, dict) or any(
        not isinstance(state.get(key), kind) for key, kind in TRAIN_STATE_TYPES.items()
    ):
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{file}: not a graphsep training state: expected {expected}, found {found}"
        )
    return state


def read_meta(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint's ``meta.json`` without loading the weights.

    Raises:
        CheckpointError: the folder or file is missing, unreadable, not a graphsep checkpoint
            of a supported format version, or its config's model section or its task is not
            one graphsep can rebuild (the key, the value and what is allowed are named).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_dir() or not (path / META_FILE).is_file():
        raise CheckpointError(
            f"{path} is not a graphsep checkpoint (expected a folder with {META_FILE} and "
            f"{WEIGHTS_FILE}, as written to <out_dir>/best)"
        )
    try:
        meta = json.loads((path / META_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path / META_FILE}: corrupt checkpoint metadata ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path / META_FILE}: not a graphsep checkpoint")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path}: checkpoint format version {meta.get('format_version')} (graphsep "
            f"{meta.get('graphsep_version')}) is not supported by graphsep "
            f"{graphsep.__version__}, which reads versions {list(READABLE_VERSIONS)}"
        )
    if meta["format_version"] == 1 and isinstance(meta.get("config"), dict):
        meta["config"] = upgrade_config(meta["config"])
    _check_meta(meta, path / META_FILE)
    return meta


def _check_meta(meta: dict[str, Any], file: Path) -> None:
    """Check the entries that readers rebuild things from: the config's model, the task.

    The model section goes through the config schema (as a YAML file's would); other sections
    are only compared, by a resumed run, with its own config.
    """
    config = meta.get("config")
    if not isinstance(config, dict):
        found = f"a {type(config).__name__}" if "config" in meta else "no 'config' entry"
        raise CheckpointError(
            f"{file}: 'config' must be a mapping (the run's config); found {found}"
        )
    if not isinstance(config.get("model", {}), dict):
        raise CheckpointError(
            f"{file}: config.model must be a mapping (the model's settings); found a "
            f"{type(config['model']).__name__}"
        )
    try:
        config_from_dict({"model": config.get("model", {})}, f"{file}: config", run=False)
    except ConfigError as err:
        raise CheckpointError(str(err)) from err
    if "task" in meta:
        try:
            TaskSpec.from_dict(meta["task"])
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{file}: task: {err}") from err


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint folder written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: missing, truncated, foreign or incompatible checkpoint; the message
            names the file and the problem.
    """
    path = Path(path)
    meta = read_meta(path)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{path}: {WEIGHTS_FILE} is missing")
    try:
        state_dict = load_file(weights)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: corrupt or truncated weights ({err})") from err
    if meta["format_version"] == 1:
        state_dict = {_v1_name(k): v for k, v in state_dict.items()}
    return Checkpoint(state_dict=state_dict, meta=meta, path=path)


def _v1_name(name: str) -> str:
    """Return the name a version-1 weight has now (``V1_PREFIXES``)."""
    for old, new in V1_PREFIXES.items():
        if name.startswith(old):
            return new + name[len(old) :]
    return name


def load_weights(module: nn.Module, state_dict: dict[str, Tensor], where: str | Path) -> None:
    """Copy checkpoint weights into ``module``, or say why they do not fit it.

    Args:
        module (nn.Module): the model (or part of it) built from the checkpoint's config.
        state_dict (dict[str, Tensor]): the weights, as read by :func:`load_checkpoint`.
        where (str | Path): the checkpoint, named in the message.

    Raises:
        CheckpointError: missing, unexpected or differently shaped tensors; the first is named.
    """
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as err:
        # torch's first line only says "Error(s) in loading state_dict"; the next names one
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        problem = lines[1] if len(lines) > 1 else lines[0]
        raise CheckpointError(
            f"{where}: the weights do not fit the model: {problem[:300]}"
        ) from err
