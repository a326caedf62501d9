"""Read one split of images and labels from an IDX pair, NumPy arrays or a folder per class.

Every source gives the same thing: ``uint8`` images ``(N, H, W, C)`` and ``int64`` labels
``(N,)`` in ``[0, num_classes)``, so that Fashion-MNIST and a user's own photos go through the
same configs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from graphsep.images.errors import ImageDataError
from graphsep.images.idx import read_idx

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARRAY_KEYS = (("images", "labels"), ("x", "y"))
"""The names an ``.npz`` file's image and label arrays may have."""


@dataclass
class ImageSplit:
    """Images and their labels.

    Args:
        images (np.ndarray): ``(N, H, W, C)`` uint8.
        labels (np.ndarray): ``(N,)`` int64 class indices.
        classes (list[str] | None): class names (a folder source's sub-folders), or None.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str] | None = None


def load_split(images: str | Path, labels: str | Path | None = None) -> ImageSplit:
    """Read a split from ``images`` (and ``labels`` where the images file holds none).

    Args:
        images (str | Path): an IDX images file (``...-ubyte`` or ``.idx``, optionally ``.gz``),
            a ``.npy`` array ``(N, H, W)``, ``(N, H, W, C)``; an ``.npz`` holding ``images`` and
            ``labels`` (or ``x`` and ``y``); or a folder with one sub-folder of PNG/JPEG images
            per class (the sorted sub-folder names are the classes).
        labels (str | Path, optional): the IDX or ``.npy`` labels of an IDX or ``.npy`` source.

    Raises:
        ImageDataError: naming the path and the problem.
    """
    path = Path(images)
    if path.is_dir():
        return _folder(path)
    if path.suffix == ".npz":
        return _checked(*_npz(path), path)
    if labels is None:
        raise ImageDataError(f"{path}: an IDX or .npy image file needs its labels file too")
    return _checked(_array(path), _array(Path(labels)).astype(np.int64), path)


def load_images(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Read images to score, without labels, and a name for each (file name or array row).

    Args:
        path (str | Path): an IDX images file, a ``.npy`` array, an ``.npz`` holding ``images``
            (or ``x``), or a folder of PNG/JPEG images (read in file-name order).

    Returns:
        tuple[np.ndarray, list[str]]: ``(N, H, W, C)`` uint8 images and their names.

    Raises:
        ImageDataError: naming the path and the problem.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ImageDataError(f"{path}: no PNG or JPEG images in this folder")
        images: list[np.ndarray] = []
        for file in files:
            images.append(_read_image(file, images[0] if images else None))
        return np.stack(images), [f.name for f in files]
    if path.suffix == ".npz":
        array = _npz(path, need_labels=False)[0]
    else:
        array = _array(path)
    array = _as_images(array, path)
    return array, [f"row {i}" for i in range(len(array))]


def _array(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise ImageDataError(f"{path}: no such file") from None
        except (OSError, ValueError) as err:
            raise ImageDataError(f"{path}: not a readable .npy array: {err}") from err
    return read_idx(path)


def _npz(path: Path, need_labels: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            for image_key, label_key in ARRAY_KEYS:
                if image_key in arrays and (label_key in arrays or not need_labels):
                    labels = arrays[label_key] if label_key in arrays else None
                    return arrays[image_key], labels
            found = sorted(arrays.files)
    except FileNotFoundError:
        raise ImageDataError(f"{path}: no such file") from None
    except (OSError, ValueError) as err:
        raise ImageDataError(f"{path}: not a readable .npz file: {err}") from err
    raise ImageDataError(
        f"{path}: expected arrays 'images' and 'labels' (or 'x', 'y'), found {found}"
    )


def _checked(images: np.ndarray, labels: np.ndarray, path: Path) -> ImageSplit:
    """Bring images to ``(N, H, W, C)`` uint8 and check them against the labels."""
    images = _as_images(images, path)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ImageDataError(
            f"{path}: {len(images)} images but labels of shape {labels.shape}; expected "
            f"({len(images)},)"
        )
    if not np.issubdtype(labels.dtype, np.integer) or (len(labels) and labels.min() < 0):
        raise ImageDataError(f"{path}: labels must be class indices >= 0")
    return ImageSplit(images, labels.astype(np.int64))


def _as_images(images: np.ndarray, path: Path) -> np.ndarray:
    """Bring images to ``(N, H, W, C)`` uint8 with 1 or 3 channels, or say why not."""
    if images.dtype != np.uint8:
        raise ImageDataError(f"{path}: images must be uint8 (0-255), got {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ImageDataError(
            f"{path}: images must be (N, H, W) or (N, H, W, C) with 1 or 3 channels, got "
            f"shape {images.shape}"
        )
    return np.ascontiguousarray(images)


def _folder(root: Path) -> ImageSplit:
    """One sub-folder per class; every image must have the first one's size and mode."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ImageDataError(f"{root}: no class folders (expected one sub-folder per class)")
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(f for f in (root / name).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ImageDataError(f"{root / name}: a class folder with no PNG or JPEG images")
        for file in files:
            images.append(_read_image(file, images[0] if images else None))
            labels.append(label)
    return ImageSplit(np.stack(images), np.array(labels, dtype=np.int64), classes)


def _read_image(file: Path, first: np.ndarray | None) -> np.ndarray:
    try:
        with Image.open(file) as image:
            mode = "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB"
            pixels = np.asarray(image.convert(mode))
    except (UnidentifiedImageError, OSError) as err:
        raise ImageDataError(f"{file}: not a readable image: {err}") from err
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    if first is not None and pixels.shape != first.shape:
        raise ImageDataError(
            f"{file}: {pixels.shape[1]}x{pixels.shape[0]} with {pixels.shape[2]} channel(s); the "
            f"first image is {first.shape[1]}x{first.shape[0]} with {first.shape[2]}: resize them "
            "to one size first"
        )
    return pixels
