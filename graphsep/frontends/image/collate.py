"""Stacking images into an :class:`ImageBatch`, with optional light augmentation.

No torchvision (it has no CPU build here): a random crop after zero padding and a horizontal
flip, both per image from torch's global generator, so a resumed run (which restores it) draws
the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from graphsep.frontends.image.batch import ImageBatch


@dataclass
class ImageCollator:
    """``collate_fn`` for a ``DataLoader`` of ``(uint8 image (H, W, C), label)`` pairs.

    A plain dataclass, so it pickles into DataLoader worker processes.

    Args:
        mean (float): subtracted from pixels scaled to ``[0, 1]`` (the training set's mean).
        std (float): and divided by (its standard deviation).
        crop_padding (int): zero padding around each image before a random crop back to its
            size; 0: no crop. (default: 0)
        flip (bool): flip each image horizontally with probability 1/2. (default: False)
    """

    mean: float
    std: float
    crop_padding: int = 0
    flip: bool = False

    def __call__(self, items: Sequence[tuple[Tensor, int]]) -> ImageBatch:
        """Stack, scale, normalize and (if set) augment the images."""
        pixels = torch.stack([image for image, _ in items]).permute(0, 3, 1, 2).float() / 255
        if self.crop_padding:
            pixels = random_crop(pixels, self.crop_padding)
        if self.flip:
            flipped = torch.rand(pixels.size(0)) < 0.5
            pixels[flipped] = pixels[flipped].flip(-1)
        labels = torch.tensor([label for _, label in items], dtype=torch.long)
        return ImageBatch((pixels - self.mean) / self.std, y=labels)


def random_crop(pixels: Tensor, padding: int) -> Tensor:
    """Pad ``(B, C, H, W)`` by ``padding`` zeros and cut each image back at a random offset."""
    B, _, H, W = pixels.shape
    padded = F.pad(pixels, (padding,) * 4)
    top, left = torch.randint(0, 2 * padding + 1, (2, B))
    rows = top[:, None] + torch.arange(H)  # (B, H)
    cols = left[:, None] + torch.arange(W)  # (B, W)
    batch = torch.arange(B)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
