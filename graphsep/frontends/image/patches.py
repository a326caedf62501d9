"""Cutting images into square patches and putting them back, without copies beyond one reshape.

A ``(B, C, H, W)`` image with patch size ``p`` becomes ``(B, N, p * p * C)`` with
``N = (H / p) * (W / p)`` patches in row-major order, each patch's pixels row-major with the
channels last, as MAE's ``patchify`` orders them.
"""

from __future__ import annotations

from torch import Tensor


def check_patch_size(height: int, width: int, patch_size: int) -> None:
    """Stop unless ``patch_size`` divides both sides of the image.

    Raises:
        ValueError: naming the sizes.
    """
    if patch_size < 1 or height % patch_size or width % patch_size:
        raise ValueError(
            f"patch size {patch_size} does not divide the {height}x{width} image; choose a "
            f"divisor of both sides"
        )


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Map ``(B, C, H, W)`` to ``(B, N, p * p * C)``."""
    B, C, H, W = images.shape
    check_patch_size(H, W, patch_size)
    p, h, w = patch_size, H // patch_size, W // patch_size
    x = images.reshape(B, C, h, p, w, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(B, h * w, p * p * C)


def unpatchify(patches: Tensor, patch_size: int, height: int, width: int) -> Tensor:
    """Map ``(B, N, p * p * C)`` back to ``(B, C, H, W)``: the inverse of :func:`patchify`."""
    B, N, D = patches.shape
    p, h, w = patch_size, height // patch_size, width // patch_size
    C = D // (p * p)
    x = patches.reshape(B, h, w, p, p, C)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(B, C, height, width)
