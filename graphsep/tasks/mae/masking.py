"""Per-image random patch masks, MAE's way: argsort of uniform noise, seeded per batch.

``ids_shuffle = argsort(noise)`` orders each image's patches at random; the first ``K`` are
visible, ``ids_restore = argsort(ids_shuffle)`` puts the encoder's and the mask tokens back in
place. The noise comes from a generator seeded by ``(seed, epoch, batch index)``
(:func:`~graphsep.tasks.masked_graph.masking.mask_generator`), so a resumed or sharded run
draws the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from graphsep.frontends.image.batch import ImageBatch
from graphsep.tasks.masked_graph.masking import mask_generator


def random_masking(
    num_images: int, num_patches: int, ratio: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Choose ``round(num_patches * (1 - ratio))`` visible patches per image, at random.

    Returns:
        tuple[Tensor, Tensor]: ``visible`` ``(B, K)`` long patch indices (in shuffled order)
        and ``restore`` ``(B, N)`` long, each patch's place in the order visible-then-masked.
    """
    keep = max(1, round(num_patches * (1 - ratio)))
    noise = torch.rand(num_images, num_patches, generator=generator)
    shuffle = torch.argsort(noise, dim=1)
    return shuffle[:, :keep], torch.argsort(shuffle, dim=1)


def masked_patches(batch: ImageBatch, num_patches: int) -> Tensor:
    """``(B, N)`` bool: True where a patch is hidden from the encoder."""
    hidden = torch.ones(batch.num_images, num_patches, dtype=torch.bool, device=batch.pixels.device)
    return hidden.scatter(1, batch.visible, False)


@dataclass
class PatchMaskSampler:
    """The masks of a run: ratio and seed fixed, one draw per ``(epoch, batch index)``.

    Args:
        ratio (float): share of each image's patches hidden.
        num_patches (int): patches per image.
        seed (int): the run's seed.
    """

    ratio: float
    num_patches: int
    seed: int

    def __call__(self, batch: ImageBatch, epoch: int, batch_index: int) -> ImageBatch:
        """Return the batch with ``visible`` and ``restore`` written (drawn on the CPU)."""
        generator = mask_generator(self.seed, epoch, batch_index)
        visible, restore = random_masking(batch.num_images, self.num_patches, self.ratio, generator)
        return replace(batch, visible=visible, restore=restore)
