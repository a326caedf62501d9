"""An image split as a torch ``Dataset``."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from graphsep.images.sources import ImageSplit


class ImageDataset(Dataset):
    """``(uint8 image (H, W, C), label)`` pairs of an :class:`ImageSplit`, or of some of its rows.

    Args:
        split (ImageSplit): the images and labels.
        index (np.ndarray, optional): the rows to keep; None: all. (default: None)
    """

    def __init__(self, split: ImageSplit, index: np.ndarray | None = None) -> None:
        rows = np.arange(len(split.labels)) if index is None else index
        self.images = torch.from_numpy(split.images[rows])  # (N, H, W, C) uint8
        self.labels = torch.from_numpy(split.labels[rows])  # (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.images[i], int(self.labels[i])

    def pixel_stats(self) -> tuple[float, float]:
        """Mean and standard deviation of the pixels scaled to ``[0, 1]`` (for normalizing)."""
        pixels = self.images.double() / 255
        return float(pixels.mean()), float(pixels.std())
