"""Exact resume: what a run must restore after a kill, and the checks that make it safe.

The ``last`` checkpoint holds the model, optimizer, scheduler, RNG states of every rank and the
position in the epoch (batches already trained); with the size-bucketed sampler's seeded order
and a single-process data loader, continuing from there replays the uninterrupted run exactly.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from graphsep.config import Config, config_to_dict
from graphsep.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    load_train_state,
    previous_path,
)
from graphsep.training.distributed import DistContext

RESULT_NEUTRAL_KEYS = {
    "out_dir", "resume", "progress", "device", "data.root", "data.source", "data.num_workers",
    "train.checkpoint_every", "train.eval_batch_size", "data.corpus.cache_dir",
    "data.corpus.num_workers", "data.text.cache_dir", "train.compile", "train.patience",
}  # fmt: skip
"""Keys a resumed run may change: they do not change what it computes (a cached split or
tokenizer that differs is caught by the data fingerprint; ``train.patience`` decides only
where training stops, so a run stopped early continues the same trajectory without it)."""

FINGERPRINT_KEY = "data_fingerprint"
"""The ``meta.json`` entry that identifies the data a run trains on (older checkpoints lack it)."""


@dataclass
class Progress:
    """Where training stands; saved in every ``last`` checkpoint.

    Args:
        epoch (int): the epoch in progress, from 1.
        batch_in_epoch (int): batches of this epoch each rank has trained.
        step (int): optimizer steps taken.
        loss_sum (float): this epoch's summed batch losses so far (mean over ranks).
        best_value (float | None): best validation metric so far.
        best_epoch (int): the epoch that reached it (0: none yet).
    """

    epoch: int = 1
    batch_in_epoch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    best_value: float | None = None
    best_epoch: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return plain types for ``train_state.pt``."""
        return asdict(self)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_same_run(saved: dict[str, Any], cfg: Config, where: Path) -> None:
    """Stop if the config differs from the checkpoint's in a key that changes the result.

    A key the checkpoint lacks (written before the key existed) counts as its default, the
    behaviour of the code that wrote it, as :func:`~graphsep.training.init.architecture_mismatch`
    reads a checkpoint's model.

    Raises:
        CheckpointError: naming every such key with both values.
    """
    old = {**_flatten(config_to_dict(Config())), **_flatten(saved)}
    new = _flatten(config_to_dict(cfg))
    changed = [
        f"{key} (checkpoint {old.get(key)!r}, now {new.get(key)!r})"
        for key in sorted(old.keys() | new.keys())
        if key not in RESULT_NEUTRAL_KEYS and old.get(key) != new.get(key)
    ]
    if changed:
        raise CheckpointError(
            f"cannot resume from {where}: the config changed in keys that change the result: "
            + "; ".join(changed)
            + ". Restore them, or start a fresh run in another out_dir."
        )


def check_same_data(saved: dict[str, Any] | None, now: dict[str, Any], where: Path) -> None:
    """Stop if the data differs from the data the checkpoint at ``where`` was trained on.

    A checkpoint written before fingerprints were recorded resumes with a warning.

    Raises:
        CheckpointError: naming both fingerprints.
    """
    if saved is None:
        warnings.warn(
            f"{where} records no data fingerprint (written by an older graphsep): resuming "
            "without checking that the data is the one it was trained on",
            stacklevel=2,
        )
    elif saved != now:
        raise CheckpointError(
            f"cannot resume from {where}: the data differs from the data it was trained on "
            f"(checkpoint {_describe(saved)}; now {_describe(now)}). Restore that data, or "
            "start a fresh run in another out_dir."
        )


def _describe(fingerprint: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in fingerprint.items())


def load_resume_point(last: Path) -> tuple[Checkpoint, dict[str, Any]] | None:
    """Load ``last`` (or, if it is corrupt, ``last.prev`` with a warning); None if neither exists.

    Raises:
        CheckpointError: both exist and neither is readable.
    """
    candidates = [p for p in (last, previous_path(last)) if p.exists()]
    errors = []
    for path in candidates:
        try:
            return load_checkpoint(path), load_train_state(path)
        except CheckpointError as err:
            errors.append(str(err))
            warnings.warn(f"skipping unreadable checkpoint: {err}", stacklevel=2)
    if errors:
        raise CheckpointError("no readable checkpoint to resume from: " + "; ".join(errors))
    return None


def check_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Stop if a loaded optimizer state holds a tensor shaped unlike its parameter.

    ``Optimizer.load_state_dict`` checks only the number of parameters; a state saved for
    another model of as many parameters would fail at the first step.

    Raises:
        ValueError: naming the first such tensor and both shapes.
    """
    for index, param in enumerate(p for group in optimizer.param_groups for p in group["params"]):
        for name, value in optimizer.state.get(param, {}).items():
            if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                raise ValueError(
                    f"optimizer state {name!r} of parameter {index} has shape "
                    f"{tuple(value.shape)}, the parameter {tuple(param.shape)}"
                )


def capture_rng(ctx: DistContext) -> list[torch.Tensor]:
    """Return every rank's torch RNG state (CPU, then CUDA if used), gathered on all ranks."""
    state = [torch.get_rng_state()]
    if ctx.device.type == "cuda":
        state.append(torch.cuda.get_rng_state(ctx.device))
    if not ctx.distributed:
        return [torch.cat([s.view(-1) for s in state])]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, state)
    return [torch.cat([s.view(-1) for s in g]) for g in gathered]


def restore_rng(states: list[torch.Tensor], ctx: DistContext) -> None:
    """Restore this rank's RNG state captured by :func:`capture_rng`."""
    if len(states) != ctx.world_size:
        warnings.warn(
            f"resuming on {ctx.world_size} processes a run saved on {len(states)}: the random "
            "stream (dropout) differs from the uninterrupted run",
            stacklevel=2,
        )
    state = states[ctx.rank % len(states)]
    cpu_size = torch.get_rng_state().numel()
    torch.set_rng_state(state[:cpu_size].clone())
    if ctx.device.type == "cuda" and state.numel() > cpu_size:
        torch.cuda.set_rng_state(state[cpu_size:].clone(), ctx.device)
