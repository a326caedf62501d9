"""Self-describing checkpoints that load without unpickling anything.

A checkpoint is a folder: ``model.safetensors`` (the weights) and ``meta.json`` (the run
config, the task names and type, the target scaling, the featurizer and the package version).
Folders are written beside their final place and renamed into it, so an interrupted write never
leaves a half checkpoint under the final name.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors

import graphsep
from graphsep.errors import GraphsepError
from graphsep.files import fsync, publish, temporary_sibling, write_failure

FORMAT = "graphsep-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
TRAIN_STATE_FILE = "train_state.pt"


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
) -> Path:
    """Write a checkpoint folder atomically (temporary folder, fsync, rename).

    Args:
        path (str | Path): the final folder; replaced if present.
        state_dict (dict[str, torch.Tensor]): model weights.
        meta (dict[str, Any]): JSON-serialisable description (config, task, featurizer).
        train_state (dict[str, Any], optional): optimizer, scheduler, RNG and progress state
            for resuming, saved as ``train_state.pt`` (tensors and plain types only, so it
            loads with ``weights_only=True``).
        keep_previous (bool, optional): keep the replaced folder as ``<path>.prev``, the
            fallback when the newest one turns out corrupt. (default: ``False``)

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
    with temporary_sibling(path, folder=True) as tmp:
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
        # serialized in memory and written by Python, so that a full disk raises OSError
        (tmp / WEIGHTS_FILE).write_bytes(save_safetensors(tensors))
        header = {"format": FORMAT, "format_version": FORMAT_VERSION}
        full_meta = {**header, "graphsep_version": graphsep.__version__, **meta}
        (tmp / META_FILE).write_text(json.dumps(full_meta, indent=2))
        files = [WEIGHTS_FILE, META_FILE]
        if train_state is not None:
            buffer = io.BytesIO()
            torch.save(train_state, buffer)
            (tmp / TRAIN_STATE_FILE).write_bytes(buffer.getvalue())
            files.append(TRAIN_STATE_FILE)
        for name in files:
            fsync(tmp / name)
        _swap_in(tmp, path, keep_previous)
    return path


def _swap_in(tmp: Path, path: Path, keep_previous: bool) -> None:
    """Rename the complete ``tmp`` onto ``path``; the replaced folder goes to ``.prev``."""
    old = previous_path(path) if keep_previous else path.with_name(f".{path.name}.old")
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    publish(tmp, path)
    if not keep_previous:
        shutil.rmtree(old, ignore_errors=True)


def previous_path(path: str | Path) -> Path:
    """Where :func:`save_checkpoint` keeps the replaced folder with ``keep_previous``."""
    path = Path(path)
    return path.with_name(f"{path.name}.prev")


def load_train_state(path: str | Path) -> dict[str, Any]:
    """Load ``train_state.pt`` of a checkpoint folder (no arbitrary unpickling).

    Raises:
        CheckpointError: the file is missing, truncated or not loadable with weights only.
    """
    file = Path(path) / TRAIN_STATE_FILE
    if not file.is_file():
        raise CheckpointError(f"{path}: {TRAIN_STATE_FILE} is missing (not a resumable checkpoint)")
    try:
        return torch.load(file, weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{file}: corrupt or truncated training state ({err})") from err


def read_meta(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint's ``meta.json`` without loading the weights.

    Raises:
        CheckpointError: the folder or file is missing, unreadable, or not a graphsep
            checkpoint of a supported format version.
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
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {meta.get('format_version')} (graphsep "
            f"{meta.get('graphsep_version')}) is not supported by graphsep "
            f"{graphsep.__version__}, which reads version {FORMAT_VERSION}"
        )
    return meta


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
    return Checkpoint(state_dict=state_dict, meta=meta, path=path)
