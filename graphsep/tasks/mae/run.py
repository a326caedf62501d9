"""MAE pretraining of the image encoder: reconstruct hidden patches, score on held-out images.

Each epoch trains on the training images, then scores the validation images with masks drawn
as epoch 0, the same at every evaluation, so the losses compare across epochs. Writes
``metrics.jsonl``, ``best/`` (lowest validation loss; the encoder under ``encoder.``, ready for
``model.init_from``) and ``results.json``. Masks depend on ``(seed, epoch, batch index)`` alone,
so a resumed or ``torchrun`` run draws the same ones.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from graphsep.config import Config
from graphsep.frontends.image.frontend import image_encoder
from graphsep.images.loaders import ImageData, load_image_data
from graphsep.tasks.mae.masking import PatchMaskSampler
from graphsep.tasks.mae.model import MaeDecoder, MaeModel
from graphsep.training.distributed import gather_from_ranks, init_distributed, shutdown
from graphsep.training.engine import Evaluation, TrainingRun, lower_is_better
from graphsep.training.init import init_encoder_from

HELD_OUT_EPOCH = 0
"""Validation masks are drawn as epoch 0 (training epochs count from 1): fixed across epochs."""


def build_mae(cfg: Config) -> MaeModel:
    """Build the image encoder of ``cfg.model`` and the decoder of ``task.mae``."""
    encoder = image_encoder(cfg.model.core, cfg.model.image)
    decoder = MaeDecoder(encoder.dim, cfg.task.mae, cfg.model.core, cfg.model.image)
    return MaeModel(encoder, decoder, cfg.task.mae.norm_pix_loss)


@torch.no_grad()
def held_out_loss(model: MaeModel, loader: DataLoader, device: torch.device) -> tuple[float, int]:
    """Sum of per-image reconstruction losses over this rank's batches, and the images."""
    model.eval()
    total, images = 0.0, 0
    for batch in loader:  # masked at collation
        batch = batch.to(device, non_blocking=True)
        total += float(model(batch).loss()) * batch.num_images
        images += batch.num_images
    return total, images


class MaeRun(TrainingRun):
    """MAE pretraining: the encoder sees a quarter of the patches, the decoder the rest.

    Args:
        cfg (Config): the run's config (``task.name=mae``).
        ctx (DistContext): this process's place in a (possibly single-process) DDP run.
    """

    kind = "mae"

    def build(self) -> tuple[nn.Module, DataLoader]:
        """Build the model (from ``model.init_from`` if set), then load the images."""
        cfg = self.cfg
        model = build_mae(cfg)
        if cfg.model.init_from and not self.resuming:
            init_encoder_from(model, cfg.model.init_from, cfg.model)
        patches = cfg.model.image.grid**2
        masks = PatchMaskSampler(cfg.task.mae.mask_ratio, patches, cfg.seed)
        self.data: ImageData = load_image_data(cfg, self.ctx, draw=masks)
        self.data.valid.batch_sampler.set_epoch(HELD_OUT_EPOCH)  # the same masks every time
        return model, self.data.train

    def data_fingerprint(self) -> dict[str, Any]:
        """Return the sha256 of the images, labels and split, and the split sizes."""
        return self.data.fingerprint

    def batch_loss(self, batch: Any) -> Tensor:
        """Reconstruction loss of one batch under the masks collation drew for it."""
        batch = batch.to(self.ctx.device, non_blocking=True)  # masked at collation
        return self.trained(batch).loss()

    def evaluate(self, epoch: int) -> Evaluation:
        """Reconstruction loss on the validation images with fixed masks; lower is better."""
        ctx = self.ctx
        share = held_out_loss(self.model, self.data.valid, ctx.device)
        shares = gather_from_ranks(share, ctx)
        loss = sum(t for t, _ in shares) / sum(n for _, n in shares)
        return Evaluation(
            monitored=loss,
            row={"heldout_loss": loss},
            line=f"held-out reconstruction {loss:.4f}",
            scores={"heldout_loss": loss},
        )

    def is_better(self, value: float, best: float | None) -> bool:
        """Lower held-out loss is better; a NaN loss never is."""
        return lower_is_better(value, best)

    def meta(self, **extra: Any) -> dict[str, Any]:
        """Config and pixel scaling: enough to rebuild the encoder and embed images."""
        return super().meta(pixels=self.data.pixels, **extra)

    def results(self, best: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Return the best epoch's held-out loss with the run's bookkeeping."""
        return {
            "task": "mae", "metric": "heldout_loss", "valid": best["heldout_loss"],
            **super().results(best, rows),
        }  # fmt: skip


def mae(cfg: Config) -> dict[str, Any]:
    """Pretrain the image encoder as a masked autoencoder; return ``results.json``'s content."""
    ctx = init_distributed(cfg.device)
    try:
        return MaeRun(cfg, ctx).fit()
    finally:
        shutdown(ctx)
