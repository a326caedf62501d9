"""Finetuning: train a property head on an OGB-layout dataset and score it with OGB."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from graphsep.config import Config, config_to_dict
from graphsep.nn.model import PropertyPredictor
from graphsep.training.checkpoint import save_checkpoint
from graphsep.training.data import PropertyData, load_property_data
from graphsep.training.models import build_predictor, init_encoder_from
from graphsep.training.optim import build_optimizer, warmup_cosine
from graphsep.training.runtime import prepare_out_dir, resolve_device, seed_everything
from graphsep.training.task import TaskSpec


@dataclass
class EpochResult:
    """One epoch's numbers, one row of ``metrics.jsonl``."""

    epoch: int
    step: int
    train_loss: float
    valid: float
    test: float
    lr: float
    seconds: float


def train_one_epoch(
    model: PropertyPredictor,
    loader: DataLoader,
    task: TaskSpec,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
    grad_clip: float,
    max_steps: int | None = None,
    progress: bool = True,
) -> tuple[float, int]:
    """Run one epoch (or ``max_steps`` steps); return the mean loss and the steps taken."""
    model.train()
    total, steps = 0.0, 0
    bar = tqdm(loader, desc="train", leave=False, disable=not progress)
    for batch in bar:
        if max_steps is not None and steps >= max_steps:
            break
        batch = batch.to(device)
        loss = task.loss(model(batch), batch.y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        total, steps = total + loss.item(), steps + 1
        bar.set_postfix(loss=f"{loss.item():.4f}")
    return total / max(steps, 1), steps


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


def _checkpoint_meta(cfg: Config, task: TaskSpec, epoch: int, scores: dict) -> dict[str, Any]:
    return {
        "kind": "property",
        "config": config_to_dict(cfg),
        "task": task.to_dict(),
        "featurizer": "ogb.smiles2graph",
        "epoch": epoch,
        "scores": scores,
    }


def _is_better(value: float, best: float | None, task: TaskSpec) -> bool:
    if np.isnan(value):
        return best is None
    if best is None or np.isnan(best):
        return True
    return value > best if task.higher_is_better else value < best


def finetune(cfg: Config) -> dict[str, Any]:
    """Train, evaluate each epoch, keep the best-valid model; return ``results.json``'s content.

    Writes ``<out_dir>/metrics.jsonl`` (a row per epoch), ``<out_dir>/best/`` (checkpoint of
    the best-valid epoch) and ``<out_dir>/results.json``.
    """
    out_dir = prepare_out_dir(cfg.out_dir)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    data: PropertyData = load_property_data(cfg)
    task = data.task
    model = build_predictor(cfg.model, task.num_tasks)
    if cfg.model.init_from:
        init_encoder_from(model, cfg.model.init_from, cfg.model)
    model.to(device)

    steps_per_epoch = len(data.train)
    total_steps = steps_per_epoch * cfg.train.epochs
    if cfg.train.max_steps:
        total_steps = min(total_steps, cfg.train.max_steps)
    optimizer = build_optimizer(model, cfg.train.lr, cfg.train.weight_decay)
    warmup = int(cfg.train.warmup_epochs * steps_per_epoch)
    scheduler = warmup_cosine(optimizer, min(warmup, total_steps // 2), total_steps)

    metrics_path = out_dir / "metrics.jsonl"
    metrics_path.write_text("")
    best: EpochResult | None = None
    step = 0
    for epoch in range(1, cfg.train.epochs + 1):
        start = time.perf_counter()
        data.set_epoch(epoch)
        remaining = total_steps - step
        loss, taken = train_one_epoch(
            model, data.train, task, optimizer, scheduler, device,
            cfg.train.grad_clip, remaining, cfg.progress,
        )  # fmt: skip
        step += taken
        valid = task.score(*predict(model, data.valid, task, device))
        test = task.score(*predict(model, data.test, task, device))
        row = EpochResult(
            epoch, step, loss, valid, test, scheduler.get_last_lr()[0],
            time.perf_counter() - start,
        )  # fmt: skip
        with open(metrics_path, "a") as f:
            f.write(json.dumps({"metric": task.metric, **row.__dict__}) + "\n")
        tqdm.write(
            f"epoch {epoch:3d}  loss {loss:.4f}  valid {task.metric} {valid:.4f}  "
            f"test {test:.4f}  ({row.seconds:.1f}s)"
        )
        if _is_better(valid, best.valid if best else None, task):
            best = row
            scores = {"valid": valid, "test": test}
            save_checkpoint(
                out_dir / "best", model.state_dict(), _checkpoint_meta(cfg, task, epoch, scores)
            )
        if step >= total_steps:
            break

    results = {
        "dataset": cfg.data.name,
        "metric": task.metric,
        "best_epoch": best.epoch,
        "valid": best.valid,
        "test": best.test,
        "epochs_run": epoch,
        "steps": step,
        "norm": cfg.model.norm,
        "seed": cfg.seed,
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    return results
