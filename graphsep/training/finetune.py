"""Finetuning: train a property head on an OGB-layout dataset and score it with OGB.

One loop for one process or many under ``torchrun`` (DDP), resumable exactly from the ``last``
checkpoint written every epoch and every ``train.checkpoint_every`` steps.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from graphsep.config import Config, config_to_dict
from graphsep.nn.model import PropertyPredictor
from graphsep.training.checkpoint import save_checkpoint
from graphsep.training.data import PropertyData, load_property_data
from graphsep.training.distributed import (
    DistContext,
    barrier,
    init_distributed,
    mean_over_ranks,
    shutdown,
)
from graphsep.training.models import build_predictor, init_encoder_from
from graphsep.training.optim import build_optimizer, warmup_cosine
from graphsep.training.resume import (
    Progress,
    capture_rng,
    check_same_run,
    load_resume_point,
    restore_rng,
)
from graphsep.training.runtime import prepare_out_dir, seed_everything
from graphsep.training.task import TaskSpec


@torch.no_grad()
def predict(
    model: PropertyPredictor, loader: DataLoader, task: TaskSpec, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Return user-unit predictions and labels ``(G, num_tasks)`` over a loader, eval mode."""
    model.eval()
    preds, labels = [], []
    for batch in loader:
        batch = batch.to(device)
        preds.append(task.predictions(model(batch)).cpu())
        labels.append(batch.y.cpu())
    return torch.cat(preds).numpy(), torch.cat(labels).numpy()


def _is_better(value: float, best: float | None, task: TaskSpec) -> bool:
    if np.isnan(value):
        return best is None
    if best is None or np.isnan(best):
        return True
    return value > best if task.higher_is_better else value < best


class FinetuneRun:
    """One finetuning run: model, optimizer, data, progress and the files it writes.

    Args:
        cfg (Config): the run's config.
        ctx (DistContext): this process's place in a (possibly single-process) DDP run.
    """

    def __init__(self, cfg: Config, ctx: DistContext) -> None:
        self.cfg, self.ctx = cfg, ctx
        self.out_dir = Path(cfg.out_dir)
        if ctx.is_main:
            prepare_out_dir(self.out_dir)
        seed_everything(cfg.seed)
        self.data: PropertyData = load_property_data(cfg, ctx)
        self.task = self.data.task
        self.model = build_predictor(cfg.model, self.task.num_tasks)
        if cfg.model.init_from:
            init_encoder_from(self.model, cfg.model.init_from, cfg.model)
        self.model.to(ctx.device)
        steps_per_epoch = len(self.data.train)
        self.total_steps = steps_per_epoch * cfg.train.epochs
        if cfg.train.max_steps:
            self.total_steps = min(self.total_steps, cfg.train.max_steps)
        self.optimizer = build_optimizer(self.model, cfg.train.lr, cfg.train.weight_decay)
        warmup = min(int(cfg.train.warmup_epochs * steps_per_epoch), self.total_steps // 2)
        self.scheduler = warmup_cosine(self.optimizer, warmup, self.total_steps)
        self.progress = Progress()
        if cfg.resume == "auto":
            self._resume()
        self.trained = self.model
        if ctx.distributed:
            # the [MASK] parameters of pretraining get no gradient when finetuning
            self.trained = DistributedDataParallel(self.model, find_unused_parameters=True)

    @property
    def metrics_path(self) -> Path:
        """``<out_dir>/metrics.jsonl``: one JSON row per finished epoch."""
        return self.out_dir / "metrics.jsonl"

    def _resume(self) -> None:
        point = load_resume_point(self.out_dir / "last")
        if point is None:
            return
        ckpt, state = point
        check_same_run(ckpt.meta["config"], self.cfg, ckpt.path)
        self.model.load_state_dict(ckpt.state_dict)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"], self.ctx)
        self.progress = Progress(**state["progress"])
        if self.ctx.is_main:  # rows of epochs after the checkpoint would be duplicated
            self._truncate_metrics(self.progress.epoch)
            tqdm.write(f"resumed from {ckpt.path}: epoch {self.progress.epoch}, "
                       f"batch {self.progress.batch_in_epoch}, step {self.progress.step}")

    def _truncate_metrics(self, epoch: int) -> None:
        if not self.metrics_path.exists():
            return
        rows = self.metrics_path.read_text().splitlines()
        kept = [r for r in rows if r.strip() and json.loads(r)["epoch"] < epoch]
        self.metrics_path.write_text("".join(f"{r}\n" for r in kept))

    def _meta(self, **extra: Any) -> dict[str, Any]:
        return {
            "kind": "property",
            "config": config_to_dict(self.cfg),
            "task": self.task.to_dict(),
            "featurizer": "ogb.smiles2graph",
            **extra,
        }

    def _save_last(self) -> None:
        """Write the resumable ``last`` checkpoint (collective: every rank calls it)."""
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
            save_checkpoint(
                self.out_dir / "last", self.model.state_dict(), self._meta(progress=progress),
                train_state=train_state, keep_previous=True,
            )  # fmt: skip
        barrier(self.ctx)

    def _train_step(self, batch: Any) -> float:
        batch = batch.to(self.ctx.device)
        loss = self.task.loss(self.trained(batch), batch.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.train.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return loss.item()

    def _train_epoch(self, epoch: int) -> float:
        """Train the rest of ``epoch``; return its mean loss over ranks and batches."""
        p, every = self.progress, self.cfg.train.checkpoint_every
        self.data.set_epoch(epoch, start_batch=p.batch_in_epoch)
        self.model.train()
        show = self.cfg.progress and self.ctx.is_main
        bar = tqdm(self.data.train, desc=f"epoch {epoch}", leave=False, disable=not show)
        for batch in bar:
            if p.step >= self.total_steps:
                break
            loss = self._train_step(batch)
            p.step, p.batch_in_epoch = p.step + 1, p.batch_in_epoch + 1
            p.loss_sum += loss
            bar.set_postfix(loss=f"{loss:.4f}")
            if every and p.step % every == 0:
                self._save_last()
        return mean_over_ranks(p.loss_sum / max(p.batch_in_epoch, 1), self.ctx)

    def _evaluate(self, epoch: int, loss: float, seconds: float) -> None:
        """Score valid and test on the main rank, log a row, keep the best model."""
        device, task = self.ctx.device, self.task
        valid = task.score(*predict(self.model, self.data.valid, task, device))
        test = task.score(*predict(self.model, self.data.test, task, device))
        row = {
            "metric": task.metric, "epoch": epoch, "step": self.progress.step,
            "train_loss": loss, "valid": valid, "test": test,
            "lr": self.scheduler.get_last_lr()[0], "seconds": seconds,
        }  # fmt: skip
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        tqdm.write(
            f"epoch {epoch:3d}  loss {loss:.4f}  valid {task.metric} {valid:.4f}  "
            f"test {test:.4f}  ({seconds:.1f}s)"
        )
        if _is_better(valid, self.progress.best_value, task):
            self.progress.best_value, self.progress.best_epoch = valid, epoch
            scores = {"valid": valid, "test": test}
            save_checkpoint(self.out_dir / "best", self.model.state_dict(),
                            self._meta(epoch=epoch, scores=scores))  # fmt: skip

    def fit(self) -> dict[str, Any]:
        """Train to the end; return ``results.json``'s content (main rank) or ``{}``."""
        p = self.progress
        for epoch in range(p.epoch, self.cfg.train.epochs + 1):
            if p.step >= self.total_steps:
                break
            start = time.perf_counter()
            loss = self._train_epoch(epoch)
            if self.ctx.is_main:
                self._evaluate(epoch, loss, time.perf_counter() - start)
            p.epoch, p.batch_in_epoch, p.loss_sum = epoch + 1, 0, 0.0
            self._save_last()
        return self._results() if self.ctx.is_main else {}

    def _results(self) -> dict[str, Any]:
        rows = [json.loads(r) for r in self.metrics_path.read_text().splitlines() if r.strip()]
        best = next(r for r in rows if r["epoch"] == self.progress.best_epoch)
        results = {
            "dataset": self.cfg.data.name, "metric": self.task.metric,
            "best_epoch": best["epoch"], "valid": best["valid"], "test": best["test"],
            "epochs_run": rows[-1]["epoch"], "steps": self.progress.step,
            "norm": self.cfg.model.norm, "seed": self.cfg.seed,
            "processes": self.ctx.world_size,
        }  # fmt: skip
        (self.out_dir / "results.json").write_text(json.dumps(results, indent=2))
        return results


def finetune(cfg: Config) -> dict[str, Any]:
    """Train, evaluate each epoch, keep the best-valid model; return ``results.json``'s content.

    Writes ``<out_dir>/metrics.jsonl`` (a row per epoch), ``<out_dir>/best/`` (the best-valid
    epoch's checkpoint), ``<out_dir>/last/`` (resumable state) and ``<out_dir>/results.json``.
    Under ``torchrun`` every rank calls this; only rank 0 writes files and returns results.
    """
    ctx = init_distributed(cfg.device)
    try:
        return FinetuneRun(cfg, ctx).fit()
    finally:
        shutdown(ctx)
