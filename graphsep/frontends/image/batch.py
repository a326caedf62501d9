"""The typed batch of the image front end."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from graphsep.core.device import DeviceBatch


@dataclass
class ImageBatch(DeviceBatch):
    """``B`` images of one size, as floats, and what a task adds to them.

    Args:
        pixels (Tensor): ``(B, C, H, W)`` float, scaled to ``[0, 1]`` and normalized by the
            collate.
        y (Tensor | None): ``(B,)`` long class indices, or None without labels.
        visible (Tensor | None): ``(B, K)`` long indices of the patches the encoder sees (MAE);
            None: every patch.
        restore (Tensor | None): ``(B, N)`` long, the place of each patch in the order
            ``visible`` then masked (MAE's ``ids_restore``), to put the decoder's tokens back.
    """

    pixels: Tensor
    y: Tensor | None = None
    visible: Tensor | None = None
    restore: Tensor | None = None

    @property
    def num_images(self) -> int:
        """Number of images ``B``."""
        return self.pixels.size(0)
