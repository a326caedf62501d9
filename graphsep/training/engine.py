"""The training engine shared by every mode: one loop for one process or many under ``torchrun``.

A mode (finetuning, pretraining, later the image and text front ends) subclasses
:class:`TrainingRun` and supplies its model and training loader, the loss of a batch, and what
an evaluation measures. The engine owns everything else: the optimizer and schedule, DDP,
atomic ``last`` checkpoints every epoch and every ``train.checkpoint_every`` steps, exact
resume from them, ``metrics.jsonl`` and the ``best`` checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from graphsep.config import Config, config_to_dict
from graphsep.core.precision import autocast, grad_scaler
from graphsep.errors import GraphsepError
from graphsep.files import write_atomically
from graphsep.progress import progress_bar
from graphsep.training.checkpoint import (
    TRAIN_STATE_FILE,
    Checkpoint,
    CheckpointError,
    load_weights,
    save_checkpoint,
)
from graphsep.training.distributed import DistContext, barrier, mean_over_ranks
from graphsep.training.optim import build_optimizer, warmup_cosine
from graphsep.training.resume import (
    FINGERPRINT_KEY,
    Progress,
    capture_rng,
    check_optimizer_state,
    check_same_data,
    check_same_run,
    load_resume_point,
    restore_rng,
)
from graphsep.training.runtime import prepare_out_dir, seed_everything
from graphsep.training.sampler import EpochBatchSampler


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Read the rows of a ``metrics.jsonl``; a torn last line (a kill mid-write) is dropped.

    Raises:
        ValueError: a line other than the last is not JSON (the file was edited or mixed).
    """
    text = path.read_text() if path.exists() else ""
    lines = [line for line in text.splitlines() if line.strip()]
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number < len(lines):
                raise ValueError(f"{path}, line {number}: not a JSON row: {err}") from err
            tqdm.write(f"{path}: dropped a torn last line (the run was killed while writing it)")
    return rows


def lower_is_better(value: float, best: float | None) -> bool:
    """Whether a loss ``value`` beats ``best``.

    A NaN never does, unless there is no best yet; a NaN best always loses.
    """
    if math.isnan(value):
        return best is None
    return best is None or math.isnan(best) or value < best


class TrainingDiverged(GraphsepError):
    """The loss, the weights or the predictions stopped being finite; none of it was saved."""


@dataclass
class Evaluation:
    """What one evaluation measured.

    Args:
        monitored (float): the value that selects the best epoch.
        row (dict[str, Any]): the columns it adds to the epoch's ``metrics.jsonl`` row.
        line (str): the summary printed after the epoch's loss.
        scores (dict[str, Any]): what the ``best`` checkpoint records of it.
    """

    monitored: float
    row: dict[str, Any]
    line: str
    scores: dict[str, Any] = field(default_factory=dict)


class TrainingRun:
    """A training run: subclasses build the model and data and say how to score them.

    Subclasses implement :meth:`build`, :meth:`data_fingerprint`, :meth:`batch_loss`,
    :meth:`evaluate`, :meth:`is_better` and may extend :meth:`meta` and :meth:`results`.

    Args:
        cfg (Config): the run's config.
        ctx (DistContext): this process's place in a (possibly single-process) DDP run.
    """

    kind = "run"
    """The checkpoints' ``meta.json`` ``kind``."""

    find_unused_parameters = False
    """Whether a step may leave parameters without a gradient (DDP must then look for them)."""

    def __init__(self, cfg: Config, ctx: DistContext) -> None:
        self.cfg, self.ctx = cfg, ctx
        self.out_dir = Path(cfg.out_dir)
        if ctx.is_main:
            prepare_out_dir(self.out_dir)
        seed_everything(cfg.seed)
        # read before build: a resumed run checks its config before any data loads, and takes
        # its weights from the checkpoint, not from model.init_from (which may be gone by now)
        point = load_resume_point(self.out_dir / "last") if cfg.resume == "auto" else None
        if point is not None:
            check_same_run(point[0].meta["config"], cfg, point[0].path)
        self.resuming = point is not None
        self.model, self.train_loader = self.build()
        if not isinstance(self.train_loader.batch_sampler, EpochBatchSampler):
            raise TypeError(
                f"{type(self).__name__}.build: the training loader's batch sampler "
                f"({type(self.train_loader.batch_sampler).__name__}) has no set_epoch(epoch, "
                "start_batch): exact resume needs one (graphsep.training.sampler)"
            )
        if point is not None:
            check_same_data(
                point[0].meta.get(FINGERPRINT_KEY), self.data_fingerprint(), point[0].path
            )
        self.model.to(ctx.device)
        steps_per_epoch = len(self.train_loader)
        self.total_steps = steps_per_epoch * cfg.train.epochs
        if cfg.train.max_steps:
            self.total_steps = min(self.total_steps, cfg.train.max_steps)
        self.optimizer = build_optimizer(self.model, cfg.train.lr, cfg.train.weight_decay)
        self.scaler = grad_scaler(cfg.train.precision, ctx.device)  # fp16 only
        warmup = min(int(cfg.train.warmup_epochs * steps_per_epoch), self.total_steps // 2)
        self.scheduler = warmup_cosine(self.optimizer, warmup, self.total_steps)
        self.progress = Progress()
        if point is not None:
            self._resume(*point)
        elif ctx.is_main:
            self._start_metrics()
        self.trained: nn.Module = self.model
        if ctx.distributed:
            self.trained = DistributedDataParallel(
                self.model, find_unused_parameters=self.find_unused_parameters
            )
        if cfg.train.compile:  # dynamic: chunks and sequences change length batch to batch
            self.trained = torch.compile(self.trained, dynamic=True)

    # -- what a mode supplies -------------------------------------------------------------

    def build(self) -> tuple[nn.Module, DataLoader]:
        """Return the model (on CPU) and the training loader.

        The loader's batch sampler is an :class:`~graphsep.training.sampler.EpochBatchSampler`;
        ``self.resuming`` tells whether the weights will come from a ``last`` checkpoint.
        """
        raise NotImplementedError

    def data_fingerprint(self) -> dict[str, Any]:
        """Return what identifies the data built by :meth:`build` (plain types, for JSON).

        Saved in every checkpoint; a resumed run refuses data whose fingerprint differs.
        """
        raise NotImplementedError

    def batch_loss(self, batch: Any) -> Tensor:
        """Return the loss of one training batch, computed through ``self.trained``.

        What a task draws per batch (masks) is drawn at collation, keyed by the batch's epoch
        and position (:class:`~graphsep.training.sampler.KeyedCollator`), so it is the same
        after a resume.
        """
        raise NotImplementedError

    def evaluate(self, epoch: int) -> Evaluation:
        """Score the model after ``epoch`` (eval mode is the caller's task).

        Collective: every rank calls it, scores its share of the evaluation data and returns
        the scores of the whole, so that no rank idles at a collective while another scores.
        """
        raise NotImplementedError

    def is_better(self, value: float, best: float | None) -> bool:
        """Return True if ``value`` beats the best monitored value so far (None: no best)."""
        raise NotImplementedError

    def meta(self, **extra: Any) -> dict[str, Any]:
        """Return the ``meta.json`` fields of this run's checkpoints."""
        return {
            "kind": self.kind, "config": config_to_dict(self.cfg),
            FINGERPRINT_KEY: self.data_fingerprint(), **extra,
        }  # fmt: skip

    def checkpoint_files(self) -> dict[str, str]:
        """Return further text files every checkpoint holds, by name (none by default)."""
        return {}

    def results(self, best: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Return ``results.json``'s content from the best row and all ``metrics.jsonl`` rows."""
        return {
            "best_epoch": best["epoch"], "epochs_run": rows[-1]["epoch"],
            "steps": self.progress.step, "norm": self.cfg.model.core.norm, "seed": self.cfg.seed,
            "processes": self.ctx.world_size,
            "params": sum(p.numel() for p in self.model.parameters()),
            "trainable_params": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            "hours": sum(r["seconds"] for r in rows) / 3600,  # resumed runs included
        }  # fmt: skip

    # -- the engine -----------------------------------------------------------------------

    @property
    def metrics_path(self) -> Path:
        """``<out_dir>/metrics.jsonl``: one JSON row per finished epoch."""
        return self.out_dir / "metrics.jsonl"

    def diverged(self, what: str) -> TrainingDiverged:
        """Return the error that stops a run whose numbers are no longer finite (``what``).

        Nothing from the diverged model is saved: the checkpoints in out_dir predate it.
        """
        p = self.progress
        return TrainingDiverged(
            f"training diverged at step {p.step} (epoch {p.epoch}): {what}; likely causes: "
            f"train.lr={self.cfg.train.lr:g} too high, or non-finite labels in the data. "
            f"No checkpoint was written from the diverged model"
        )

    def _check_weights(self) -> None:
        """Stop before a model with a non-finite weight or statistic is scored or saved."""
        tensors = self.model.state_dict().values()
        if not all(t.isfinite().all() for t in tensors if t.is_floating_point()):
            raise self.diverged("the model's weights are no longer finite")

    def _resume(self, ckpt: Checkpoint, state: dict[str, Any]) -> None:
        """Continue from a ``last`` checkpoint and its training state."""
        load_weights(self.model, ckpt.state_dict, ckpt.path)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            check_optimizer_state(self.optimizer)
            self.scheduler.load_state_dict(state["scheduler"])
            if "scaler" in state:  # an fp16 run's loss scale
                self.scaler.load_state_dict(state["scaler"])
            restore_rng(state["rng"], self.ctx)
            self.progress = Progress(**state["progress"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise CheckpointError(
                f"{ckpt.path / TRAIN_STATE_FILE}: does not fit this run: {str(err).splitlines()[0]}"
            ) from err
        if self.ctx.is_main:  # rows of epochs after the checkpoint would be duplicated
            self._truncate_metrics(self.progress.epoch)
            tqdm.write(
                f"resumed from {ckpt.path}: epoch {self.progress.epoch}, "
                f"batch {self.progress.batch_in_epoch}, step {self.progress.step}"
            )

    def _start_metrics(self) -> None:
        """Begin a fresh run's rows: an earlier run's files in out_dir move to ``*.prev``."""
        for path in (self.metrics_path, self.out_dir / "results.json"):
            if path.exists():
                previous = path.with_name(path.name + ".prev")
                path.replace(previous)
                tqdm.write(f"{path} is an earlier run's (no resume): kept as {previous}")

    def _truncate_metrics(self, epoch: int) -> None:
        kept = [row for row in read_metrics(self.metrics_path) if row["epoch"] < epoch]
        text = "".join(json.dumps(row) + "\n" for row in kept)
        write_atomically(self.metrics_path, lambda tmp: tmp.write_text(text))

    def _save_last(self) -> None:
        """Write the resumable ``last`` checkpoint (collective: every rank calls it)."""
        self._check_weights()
        progress = self.progress.to_dict()
        progress["loss_sum"] = mean_over_ranks(self.progress.loss_sum, self.ctx)
        rng = capture_rng(self.ctx)
        if self.ctx.is_main:
            train_state = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": rng,
                "progress": progress,
            }
            if self.scaler.is_enabled():
                train_state["scaler"] = self.scaler.state_dict()
            save_checkpoint(
                self.out_dir / "last", self.model.state_dict(), self.meta(progress=progress),
                train_state=train_state, keep_previous=True, files=self.checkpoint_files(),
            )  # fmt: skip
        barrier(self.ctx)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Return the context of ``train.precision`` on the run's device (training, evaluation)."""
        return autocast(self.cfg.train.precision, self.ctx.device)

    def _train_step(self, batch: Any) -> float:
        with self.autocast():
            loss = self.batch_loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.train.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not scaled ones
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.scaler.step(self.optimizer)  # fp16: skipped when a gradient overflowed
        self.scaler.update()
        self.scheduler.step()
        return loss.item()

    def _train_epoch(self, epoch: int) -> float:
        """Train the rest of ``epoch``; return its mean loss over ranks and batches."""
        p, every = self.progress, self.cfg.train.checkpoint_every
        self.train_loader.batch_sampler.set_epoch(epoch, start_batch=p.batch_in_epoch)
        self.model.train()
        show = self.cfg.progress and self.ctx.is_main
        bar = progress_bar(self.train_loader, show, desc=f"epoch {epoch}", leave=False)
        for batch in bar:
            if p.step >= self.total_steps:
                break
            loss = self._train_step(batch)
            p.step, p.batch_in_epoch = p.step + 1, p.batch_in_epoch + 1
            if not math.isfinite(loss):  # a rank stopping here ends a torchrun run
                raise self.diverged(f"the loss is {loss}")
            p.loss_sum += loss
            bar.set_postfix(loss=f"{loss:.4f}")
            if every and p.step % every == 0:
                self._save_last()
        return mean_over_ranks(p.loss_sum / max(p.batch_in_epoch, 1), self.ctx)

    def _log_epoch(self, epoch: int, loss: float, start: float, train_seconds: float) -> None:
        """Evaluate on every rank; the main one appends the epoch's row and saves the best.

        Every rank tracks the best: an evaluation returns the same scores on all of them, so
        they agree on when ``train.patience`` runs out.
        """
        self._check_weights()
        self.model.eval()
        with self.autocast():
            evaluation = self.evaluate(epoch)
        improved = self.is_better(evaluation.monitored, self.progress.best_value)
        if improved:
            self.progress.best_value, self.progress.best_epoch = evaluation.monitored, epoch
        if not self.ctx.is_main:
            return
        seconds = time.perf_counter() - start
        row = {
            "epoch": epoch, "step": self.progress.step, "train_loss": loss, **evaluation.row,
            "lr": self.scheduler.get_last_lr()[0], "train_seconds": train_seconds,
            "seconds": seconds,
        }  # fmt: skip
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        tqdm.write(f"epoch {epoch:3d}  loss {loss:.4f}  {evaluation.line}  ({seconds:.1f}s)")
        if improved:
            meta = self.meta(epoch=epoch, scores=evaluation.scores)
            save_checkpoint(
                self.out_dir / "best", self.model.state_dict(), meta, files=self.checkpoint_files()
            )

    def patience_spent(self) -> bool:
        """Whether ``train.patience`` epochs in a row have passed without a better value."""
        patience, p = self.cfg.train.patience, self.progress
        return patience > 0 and p.best_epoch > 0 and p.epoch - 1 - p.best_epoch >= patience

    def fit(self) -> dict[str, Any]:
        """Train to the end; return ``results.json``'s content (main rank) or ``{}``."""
        p = self.progress
        for epoch in range(p.epoch, self.cfg.train.epochs + 1):
            if p.step >= self.total_steps:
                break
            if self.patience_spent():
                if self.ctx.is_main:
                    tqdm.write(
                        f"stopped after epoch {p.epoch - 1}: no better value in the "
                        f"{self.cfg.train.patience} epochs since epoch {p.best_epoch} "
                        "(train.patience)"
                    )
                break
            start = time.perf_counter()
            loss = self._train_epoch(epoch)
            self._log_epoch(epoch, loss, start, time.perf_counter() - start)
            p.epoch, p.batch_in_epoch, p.loss_sum = epoch + 1, 0, 0.0
            self._save_last()
        if not self.ctx.is_main:
            return {}
        rows = read_metrics(self.metrics_path)
        best = next(r for r in rows if r["epoch"] == p.best_epoch)
        results = self.results(best, rows)
        text = json.dumps(results, indent=2)
        write_atomically(self.out_dir / "results.json", lambda tmp: tmp.write_text(text))
        return results
