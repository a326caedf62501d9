"""Classification from [CLS]: finetuning or a linear probe, scored by top-1 accuracy.

Images or texts (``model.frontend``). Runs on the shared engine
(:mod:`graphsep.training.engine`): one process or many under ``torchrun``, resumable exactly
from the ``last`` checkpoint; ``model.init_from`` starts the encoder from an MAE or MLM
checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from graphsep.config import Config
from graphsep.core.heads import ClsPredictor
from graphsep.images.loaders import ImageData, load_image_data
from graphsep.tasks.classify.model import build_classifier
from graphsep.text.loaders import TextData, checkpoint_tokenizer, load_text_data
from graphsep.training.checkpoint import load_weights
from graphsep.training.distributed import gather_from_ranks, init_distributed, shutdown
from graphsep.training.engine import Evaluation, TrainingRun
from graphsep.training.init import load_encoder_state


@torch.no_grad()
def correct_and_total(model: ClsPredictor, loader: DataLoader, device: torch.device) -> np.ndarray:
    """Count this rank's correctly classified images and all of them: ``[correct, total]``."""
    model.eval()
    counts = np.zeros(2, dtype=np.int64)
    for batch in loader:
        batch = batch.to(device, non_blocking=True)
        predicted = model(batch).argmax(dim=-1)
        counts += [int((predicted == batch.y).sum()), len(batch.y)]
    return counts


class ClassifyRun(TrainingRun):
    """Classification: a linear head on [CLS], the encoder trained or frozen.

    Args:
        cfg (Config): the run's config (``task.name=classify``).
        ctx (DistContext): this process's place in a (possibly single-process) DDP run.
    """

    kind = "classify"

    def build(self) -> tuple[nn.Module, DataLoader]:
        """Check ``model.init_from`` first, then load the data and build the classifier."""
        cfg = self.cfg
        init_from = cfg.model.init_from and not self.resuming
        encoder_state = load_encoder_state(cfg.model.init_from, cfg.model) if init_from else None
        self.data: ImageData | TextData
        if cfg.model.frontend == "text":  # a pretrained encoder reads its own tokenizer's ids
            saved = checkpoint_tokenizer(cfg.model.init_from) if cfg.model.init_from else None
            self.data = load_text_data(cfg, self.ctx, saved)
        else:
            self.data = load_image_data(cfg, self.ctx)
        model = build_classifier(cfg, self.data.num_classes)
        if encoder_state is not None:
            load_weights(model.encoder, encoder_state, f"model.init_from={cfg.model.init_from}")
        return model, self.data.train

    def data_fingerprint(self) -> dict[str, Any]:
        """Return the sha256 of the images, labels and split, and the split sizes."""
        return self.data.fingerprint

    def batch_loss(self, batch: Any) -> Tensor:
        """Cross-entropy of one batch."""
        batch = batch.to(self.ctx.device, non_blocking=True)
        return F.cross_entropy(self.trained(batch), batch.y)

    def _accuracy(self, split: str) -> float:
        counts = correct_and_total(self.model, getattr(self.data, split), self.ctx.device)
        correct, total = np.sum(gather_from_ranks(counts, self.ctx), axis=0)
        return float(correct / total)

    def evaluate(self, epoch: int) -> Evaluation:
        """Top-1 accuracy on valid and test; valid selects the best epoch."""
        valid, test = self._accuracy("valid"), self._accuracy("test")
        return Evaluation(
            monitored=valid,
            row={"metric": "accuracy", "valid": valid, "test": test},
            line=f"valid accuracy {valid:.4f}  test {test:.4f}",
            scores={"valid": valid, "test": test},
        )

    def is_better(self, value: float, best: float | None) -> bool:
        """Higher valid accuracy is better."""
        return best is None or value > best

    def meta(self, **extra: Any) -> dict[str, Any]:
        """Config, classes and the data's scaling: enough to rebuild the classifier and score."""
        return super().meta(**self.data.meta(), **extra)

    def checkpoint_files(self) -> dict[str, str]:
        """Return the tokenizer of a text model; nothing for images."""
        return self.data.files()

    def results(self, best: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Return the best-valid epoch's valid and test accuracy with the run's bookkeeping."""
        return {
            "task": "classify", "probe": self.cfg.task.classify.probe, "metric": "accuracy",
            "valid": best["valid"], "test": best["test"], **super().results(best, rows),
        }  # fmt: skip


def classify(cfg: Config) -> dict[str, Any]:
    """Train and evaluate a classifier; return ``results.json``'s content (rank 0)."""
    ctx = init_distributed(cfg.device)
    try:
        return ClassifyRun(cfg, ctx).fit()
    finally:
        shutdown(ctx)
