"""Finetuning: train a property head on an OGB-layout dataset and score it with OGB.

Runs on the shared engine (:mod:`graphsep.training.engine`): one process or many under
``torchrun``, resumable exactly from the ``last`` checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from graphsep.config import Config
from graphsep.core.heads import ClsPredictor
from graphsep.frontends.graph.checks import featurizer_of
from graphsep.tasks.property.data import PropertyData, load_property_data
from graphsep.tasks.property.model import build_predictor, with_new_parameters
from graphsep.tasks.property.spec import TaskSpec
from graphsep.training.checkpoint import load_weights
from graphsep.training.distributed import gather_from_ranks, init_distributed, shutdown
from graphsep.training.engine import Evaluation, TrainingRun
from graphsep.training.init import load_encoder_state


@torch.no_grad()
def predict(
    model: ClsPredictor, loader: DataLoader, task: TaskSpec, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Return user-unit predictions and labels ``(G, num_tasks)`` over a loader, eval mode."""
    model.eval()
    preds, labels = [], []
    for batch in loader:
        batch = batch.to(device, non_blocking=True)
        preds.append(task.predictions(model(batch)).cpu())
        labels.append(batch.y.cpu())
    if not preds:  # a rank whose share of a small split is empty
        return np.zeros((0, task.num_tasks), np.float32), np.zeros((0, task.num_tasks), np.float32)
    return torch.cat(preds).numpy(), torch.cat(labels).numpy()


class FinetuneRun(TrainingRun):
    """Finetuning: a property head on the encoder, scored by OGB's ``Evaluator`` each epoch.

    Args:
        cfg (Config): the run's config.
        ctx (DistContext): this process's place in a (possibly single-process) DDP run.
    """

    kind = "property"

    def build(self) -> tuple[nn.Module, DataLoader]:
        """Check ``model.init_from`` first, then load the data and build the predictor."""
        cfg = self.cfg
        init_from = cfg.model.init_from and not self.resuming
        encoder_state = load_encoder_state(cfg.model.init_from, cfg.model) if init_from else None
        self.data: PropertyData = load_property_data(cfg, self.ctx)
        self.task = self.data.task
        model = build_predictor(cfg, self.task.num_tasks)
        if encoder_state is not None:
            encoder_state = with_new_parameters(encoder_state, model)
            load_weights(model.encoder, encoder_state, f"model.init_from={cfg.model.init_from}")
        # the [MASK] embeddings get no gradient outside pretraining: frozen, DDP need not
        # search every step for parameters without one (find_unused_parameters)
        for param in model.encoder.frontend.mask_parameters():
            param.requires_grad_(False)
        return model, self.data.train

    def data_fingerprint(self) -> dict[str, Any]:
        """Return the sha256 of the processed files and split, and the split sizes."""
        return self.data.fingerprint

    def batch_loss(self, batch: Any) -> Tensor:
        """Task loss of one batch (NaN-masked BCE, or MSE on standardised targets)."""
        batch = batch.to(self.ctx.device, non_blocking=True)
        return self.task.loss(self.trained(batch), batch.y)

    def evaluate(self, epoch: int) -> Evaluation:
        """Score valid and test with OGB's ``Evaluator``; valid selects the best epoch."""
        valid, test = (self._score(split) for split in ("valid", "test"))
        task = self.task
        return Evaluation(
            monitored=valid,
            row={"metric": task.metric, "valid": valid, "test": test},
            line=f"valid {task.metric} {valid:.4f}  test {test:.4f}",
            scores={"valid": valid, "test": test},
        )

    def _score(self, split: str) -> float:
        """Predict this rank's share of a split, gather every rank's and score the whole.

        Raises:
            TrainingDiverged: a prediction is not finite (OGB's metrics would fail on it).
        """
        share = predict(self.model, getattr(self.data, split), self.task, self.ctx.device)
        shares = gather_from_ranks(share, self.ctx)
        preds, labels = (np.concatenate(parts) for parts in zip(*shares, strict=True))
        if not np.isfinite(preds).all():
            raise self.diverged(f"its predictions on the {split} split are not finite")
        return self.task.score(preds, labels)

    def is_better(self, value: float, best: float | None) -> bool:
        """Higher or lower per the task's metric; a NaN score only fills an empty best."""
        if np.isnan(value):
            return best is None
        if best is None or np.isnan(best):
            return True
        return value > best if self.task.higher_is_better else value < best

    def meta(self, **extra: Any) -> dict[str, Any]:
        """Config, task (names, type, target scaling), featurizer and feature statistics.

        Enough to predict: the statistics standardize a new molecule's features as training did.
        """
        featurizer = featurizer_of(self.cfg.model.graph)
        scaler = self.data.mol_features
        if scaler is not None:
            extra["mol_features"] = scaler.to_dict()
        return super().meta(task=self.task.to_dict(), featurizer=featurizer, **extra)

    def results(self, best: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Return the best-valid epoch's valid and test metric with the run's bookkeeping."""
        return {
            "dataset": self.cfg.data.name, "metric": self.task.metric,
            "valid": best["valid"], "test": best["test"], **super().results(best, rows),
        }  # fmt: skip


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
