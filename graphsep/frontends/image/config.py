"""The settings of the image front end (``model.image.*``), one object passed whole."""

from __future__ import annotations

from dataclasses import dataclass

POSITION_KINDS = ("sincos", "learned")
"""The values of ``model.image.positions``."""


@dataclass
class ImageConfig:
    """Patches of the image, and how the front end tells the core where each one lies."""

    image_size: int = 28  # height and width of the (square) images
    channels: int = 1  # 1 (grayscale) or 3 (RGB)
    patch_size: int = 4  # side of a square patch; must divide image_size (28 / 4: 49 patches)
    positions: str = "sincos"  # sincos: fixed 2-D sine-cosine (MAE); learned: a trained table

    @property
    def grid(self) -> int:
        """Patches along each side."""
        return self.image_size // self.patch_size

    @property
    def patch_dim(self) -> int:
        """Values in one patch: ``patch_size**2 * channels``."""
        return self.patch_size**2 * self.channels
