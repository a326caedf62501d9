"""Scoring images with a trained checkpoint: class probabilities, or [CLS] embeddings.

A ``classify`` checkpoint gives both; an ``mae`` checkpoint gives embeddings. The checkpoint
keeps the training pixels' mean and standard deviation, so images are scaled as in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from graphsep.config import Config, config_from_dict
from graphsep.core.precision import autocast
from graphsep.frontends.image.collate import ImageCollator
from graphsep.frontends.image.frontend import image_encoder
from graphsep.images.errors import ImageDataError
from graphsep.predict.encoder_only import EncoderOnly
from graphsep.predict.routes import frontend_of, wrong_source
from graphsep.tasks.classify.model import build_classifier
from graphsep.training.checkpoint import CheckpointError, load_checkpoint, load_weights
from graphsep.training.runtime import resolve_device

IMAGE_KINDS = ("classify", "mae")
"""The checkpoint kinds of image models."""


@dataclass
class ImagePredictor:
    """An image model ready to score ``(N, H, W, C)`` uint8 images.

    Args:
        model (nn.Module): the classifier, or (``mae``) the encoder under ``encoder``.
        collate (ImageCollator): scales and normalizes as in training.
        cfg (Config): the checkpoint's config (its ``model.image`` checks the images).
        can_classify (bool): whether the model has a class head.
        device (torch.device): where it runs.
        batch_size (int): images per forward pass.
        precision (str): fp32, or bf16 / fp16 autocast (outputs stay float32).
    """

    model: nn.Module
    collate: ImageCollator
    cfg: Config
    can_classify: bool
    device: torch.device
    batch_size: int = 256
    precision: str = "fp32"

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str = "auto", batch_size: int = 256,
        precision: str = "fp32",
    ) -> ImagePredictor:  # fmt: skip
        """Load a ``classify`` or ``mae`` checkpoint folder.

        Raises:
            CheckpointError: not an image checkpoint (e.g. a graph model's), or a malformed
                one; the file is named.
        """
        ckpt = load_checkpoint(path)
        meta_file = ckpt.path / "meta.json"
        kind = ckpt.meta.get("kind", "unknown")
        if kind not in IMAGE_KINDS or frontend_of(ckpt.meta) != "image":
            raise CheckpointError(wrong_source(
                ckpt.meta, str(meta_file), "--images needs an image model (classify or mae)"
            ))  # fmt: skip
        try:
            saved = ckpt.meta["config"]
            cfg = config_from_dict({"model": saved["model"], "task": saved["task"]},
                                   str(meta_file), run=False)  # fmt: skip
            pixels = ckpt.meta["pixels"]
            collate = ImageCollator(float(pixels["mean"]), float(pixels["std"]))
            model = (
                build_classifier(cfg, int(ckpt.meta["num_classes"])) if kind == "classify"
                else EncoderOnly(image_encoder(cfg.model.core, cfg.model.image))
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{meta_file}: missing or malformed entry {err}") from err
        state = ckpt.state_dict
        if kind == "mae":  # the decoder is for pretraining only
            state = {k: v for k, v in state.items() if k.startswith("encoder.")}
        load_weights(model, state, ckpt.path)
        device_ = resolve_device(device)
        model.to(device_).eval()
        return cls(model, collate, cfg, kind == "classify", device_, batch_size, precision)

    def _check(self, images: np.ndarray, where: str) -> None:
        image = self.cfg.model.image
        wanted = (image.image_size, image.image_size, image.channels)
        if images.shape[1:] != wanted:
            raise ImageDataError(
                f"{where}: {images.shape[2]}x{images.shape[1]} images with {images.shape[3]} "
                f"channel(s); the checkpoint's model reads {wanted[1]}x{wanted[0]} with "
                f"{wanted[2]}"
            )

    @torch.inference_mode()
    def _outputs(self, images: np.ndarray, embed: bool) -> np.ndarray:
        parts = []
        for start in range(0, len(images), self.batch_size):
            rows = torch.from_numpy(images[start : start + self.batch_size])
            batch = self.collate([(image, 0) for image in rows]).to(self.device)
            with autocast(self.precision, self.device):
                out = self.model.encoder(batch).cls if embed else self.model(batch).softmax(-1)
            parts.append(out.float().cpu().numpy())
        return np.concatenate(parts)

    def predict(self, images: np.ndarray, names: list[str], where: str) -> pd.DataFrame:
        """Return one row per image: ``name``, ``predicted`` class and ``p_<class>`` columns.

        Raises:
            ImageDataError: images of another size or channel count than the model's.
            CheckpointError: an ``mae`` checkpoint, which has no class head.
        """
        if not self.can_classify:
            raise CheckpointError("an 'mae' checkpoint has no class head: use graphsep embed")
        self._check(images, where)
        probabilities = self._outputs(images, embed=False)
        columns = [f"p_{k}" for k in range(probabilities.shape[1])]
        frame = pd.DataFrame(probabilities, columns=columns)
        frame.insert(0, "predicted", probabilities.argmax(1))
        frame.insert(0, "name", names)
        return frame

    def embed(self, images: np.ndarray, where: str) -> np.ndarray:
        """Return the [CLS] embedding ``(N, D)`` float32 of each image."""
        self._check(images, where)
        return self._outputs(images, embed=True)
