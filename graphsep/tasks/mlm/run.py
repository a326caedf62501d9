"""MLM pretraining of the text encoder, scored on held-out texts by loss and token accuracy.

Each epoch trains on the training split, then scores the validation split with corruptions
drawn as epoch 0, the same every time, so the held-out loss compares across epochs and selects
``best/`` (the encoder under ``encoder.``, ready for ``model.init_from``; its tokenizer in
``tokenizer.json``). Corruptions depend on ``(seed, epoch, batch index)`` alone, so a resumed or
``torchrun`` run draws the same ones.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from graphsep.config import Config
from graphsep.frontends.text.frontend import text_encoder
from graphsep.tasks.mlm.masking import TokenMaskSampler
from graphsep.tasks.mlm.model import MlmModel
from graphsep.text.loaders import TextData, load_text_data
from graphsep.training.distributed import gather_from_ranks, init_distributed, shutdown
from graphsep.training.engine import Evaluation, TrainingRun, lower_is_better
from graphsep.training.init import init_encoder_from

HELD_OUT_EPOCH = 0
"""Validation corruptions are drawn as epoch 0 (training epochs count from 1)."""


def build_mlm(cfg: Config) -> MlmModel:
    """Build the text encoder of ``cfg.model`` with an MLM head over its vocabulary."""
    return MlmModel(text_encoder(cfg.model.core, cfg.model.text), cfg.model.text.vocab_size)


@torch.no_grad()
def held_out_counts(
    model: MlmModel, loader: DataLoader, device: torch.device
) -> tuple[float, int, int]:
    """Return this rank's summed token loss, correct predictions and selected tokens."""
    model.eval()
    loss, correct, tokens = 0.0, 0, 0
    for batch in loader:  # masked at collation
        batch = batch.to(device, non_blocking=True)
        predictions = model(batch)
        count = predictions.targets.numel()
        loss += float(predictions.loss()) * count
        correct += predictions.correct()
        tokens += count
    return loss, correct, tokens


class MlmRun(TrainingRun):
    """Masked-language-model pretraining on the training texts of ``data.text``.

    Args:
        cfg (Config): the run's config (``task.name=mlm``).
        ctx (DistContext): this process's place in a (possibly single-process) DDP run.
    """

    kind = "mlm"

    def build(self) -> tuple[nn.Module, DataLoader]:
        """Build the model (from ``model.init_from`` if set), then read and tokenize the texts."""
        cfg = self.cfg
        model = build_mlm(cfg)
        if cfg.model.init_from and not self.resuming:
            init_encoder_from(model, cfg.model.init_from, cfg.model)
        masks = TokenMaskSampler(cfg.task.mlm, cfg.model.text.vocab_size, cfg.seed)
        self.data: TextData = load_text_data(cfg, self.ctx, draw=masks)
        self.data.valid.batch_sampler.set_epoch(HELD_OUT_EPOCH)  # the same masks every time
        return model, self.data.train

    def data_fingerprint(self) -> dict[str, Any]:
        """Return the sha256 of the texts, labels, split and tokenizer, and the split sizes."""
        return self.data.fingerprint

    def batch_loss(self, batch: Any) -> Tensor:
        """Cross-entropy of the selected tokens of one batch, corrupted at collation."""
        batch = batch.to(self.ctx.device, non_blocking=True)  # masked at collation
        return self.trained(batch).loss()

    def evaluate(self, epoch: int) -> Evaluation:
        """Held-out token loss (lower is better) and accuracy, with fixed corruptions."""
        ctx = self.ctx
        share = held_out_counts(self.model, self.data.valid, ctx.device)
        shares = gather_from_ranks(share, ctx)
        loss, correct, tokens = (sum(part) for part in zip(*shares, strict=True))
        loss, accuracy = loss / max(tokens, 1), correct / max(tokens, 1)
        return Evaluation(
            monitored=loss,
            row={"heldout_loss": loss, "heldout_accuracy": accuracy},
            line=f"held-out loss {loss:.4f}  token accuracy {accuracy:.4f}",
            scores={"heldout_loss": loss, "heldout_accuracy": accuracy},
        )

    def is_better(self, value: float, best: float | None) -> bool:
        """Lower held-out loss is better; a NaN loss never is."""
        return lower_is_better(value, best)

    def meta(self, **extra: Any) -> dict[str, Any]:
        """Config and the classes of the table the tokenizer was trained on."""
        return super().meta(**self.data.meta(), **extra)

    def checkpoint_files(self) -> dict[str, str]:
        """Return the tokenizer, kept with every checkpoint."""
        return self.data.files()

    def results(self, best: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Return the best epoch's held-out loss and accuracy with the run's bookkeeping."""
        return {
            "task": "mlm", "metric": "heldout_loss", "valid": best["heldout_loss"],
            "accuracy": best["heldout_accuracy"], **super().results(best, rows),
        }  # fmt: skip


def mlm(cfg: Config) -> dict[str, Any]:
    """Pretrain the text encoder as a masked language model; return ``results.json``'s content."""
    ctx = init_distributed(cfg.device)
    try:
        return MlmRun(cfg, ctx).fit()
    finally:
        shutdown(ctx)
