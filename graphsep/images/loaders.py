"""The image data of a run: its three splits as loaders, seeded, shardable, resumable."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from graphsep.config import Config
from graphsep.frontends.image.collate import ImageCollator
from graphsep.images.dataset import ImageDataset
from graphsep.images.errors import ImageDataError
from graphsep.images.sources import ImageSplit, load_split
from graphsep.splits import stratified_split
from graphsep.training.distributed import DistContext, per_rank_batch_size
from graphsep.training.sampler import SizeBucketBatchSampler, keyed_loading

SPLITS = ("train", "valid", "test")


@dataclass
class ImageData:
    """Loaders of the three splits, and what the model must know of them.

    Args:
        train (DataLoader): shuffled, augmented batches.
        valid (DataLoader): batches in order (this rank's share).
        test (DataLoader): batches in order (this rank's share).
        num_classes (int): classes (the largest training label plus one).
        fingerprint (dict[str, Any]): a sha256 of the images, labels and split, split sizes.
        pixels (dict[str, float]): ``mean`` and ``std`` of the training pixels in ``[0, 1]``,
            which the collate normalizes by; a checkpoint keeps them for prediction.
    """

    train: DataLoader
    valid: DataLoader
    test: DataLoader
    num_classes: int
    fingerprint: dict[str, Any]
    pixels: dict[str, float]

    def meta(self) -> dict[str, Any]:
        """Return what a checkpoint keeps to score new images: classes, pixel scaling."""
        return {"num_classes": self.num_classes, "pixels": self.pixels}

    def files(self) -> dict[str, str]:
        """Return the files a checkpoint keeps beside the weights: none for images."""
        return {}


def _check_fits(split: ImageSplit, cfg: Config, where: str) -> None:
    """Stop if the images are not the size and channels ``model.image`` builds for."""
    image = cfg.model.image
    _, height, width, channels = split.images.shape
    if (height, width, channels) != (image.image_size, image.image_size, image.channels):
        raise ImageDataError(
            f"{where}: {height}x{width} images with {channels} channel(s); the model reads "
            f"{image.image_size}x{image.image_size} with {image.channels} "
            "(model.image.image_size, model.image.channels)"
        )


def _fingerprint(train: ImageSplit, test: ImageSplit, held: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in (train.images, train.labels, test.images, test.labels, held):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _loader(
    dataset: ImageDataset, batch_size: int, shuffle: bool, collate: ImageCollator,
    cfg: Config, ctx: DistContext, draw: Callable[[Any, int, int], Any] | None = None,
) -> DataLoader:  # fmt: skip
    # every image has one size: random batches when shuffled, in order otherwise
    sampler = SizeBucketBatchSampler(
        torch.ones(len(dataset), dtype=torch.long), batch_size, shuffle=shuffle, seed=cfg.seed,
        bucket_size_multiplier=1, even_shards=shuffle, num_replicas=ctx.world_size,
        rank=ctx.rank,
    )  # fmt: skip
    dataset, collate = keyed_loading(dataset, collate, draw)
    return DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.data.num_workers,
        pin_memory=ctx.device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),
    )  # fmt: skip


def load_image_data(
    cfg: Config,
    ctx: DistContext | None = None,
    draw: Callable[[Any, int, int], Any] | None = None,
) -> ImageData:
    """Read the splits of ``data.images``, carve the validation split, build the loaders.

    ``draw`` (a task's masks, keyed by epoch and batch position) is applied at collation to the
    train and valid batches (:class:`~graphsep.training.sampler.KeyedCollator`).

    Raises:
        ImageDataError: an unreadable or ill-shaped file, images of another size than the
            model's, or test labels outside the training classes; the file is named.
    """
    ctx = ctx or DistContext(0, 1, torch.device("cpu"))
    spec = cfg.data.images
    train = load_split(spec.train, spec.train_labels)
    test = load_split(spec.test, spec.test_labels)
    _check_fits(train, cfg, spec.train)
    _check_fits(test, cfg, spec.test)
    num_classes = int(train.labels.max()) + 1
    if test.labels.max() >= num_classes:
        raise ImageDataError(
            f"{spec.test}: label {int(test.labels.max())} is outside the training classes "
            f"0 to {num_classes - 1}"
        )
    kept, held = stratified_split(train.labels, spec.valid_fraction, cfg.seed)
    if not len(kept) or not len(held):
        raise ImageDataError(
            f"{spec.train}: data.images.valid_fraction={spec.valid_fraction} of each class of "
            f"{len(train.labels)} training images leaves {len(kept)} to train and {len(held)} "
            "to validate; give more images or another fraction"
        )
    sets = {"train": ImageDataset(train, kept), "valid": ImageDataset(train, held),
            "test": ImageDataset(test)}  # fmt: skip
    mean, std = sets["train"].pixel_stats()
    if std == 0:
        raise ImageDataError(f"{spec.train}: every training pixel is {mean:g}; nothing to learn")
    augmented = ImageCollator(mean, std, spec.crop_padding, spec.flip)
    plain = ImageCollator(mean, std)
    train_bs = per_rank_batch_size(cfg.train.batch_size, ctx)
    eval_bs = cfg.train.eval_batch_size
    return ImageData(
        train=_loader(sets["train"], train_bs, True, augmented, cfg, ctx, draw),
        valid=_loader(sets["valid"], eval_bs, False, plain, cfg, ctx, draw),
        test=_loader(sets["test"], eval_bs, False, plain, cfg, ctx),
        num_classes=num_classes,
        fingerprint={
            "sha256": _fingerprint(train, test, held),
            "split_sizes": {name: len(sets[name]) for name in SPLITS},
        },
        pixels={"mean": mean, "std": std},
    )
