"""The IDX format of MNIST and Fashion-MNIST: a magic number, the dimensions, then the values.

The magic number's third byte names the element type (``0x08``: unsigned byte) and its fourth
the number of dimensions; each dimension follows as a big-endian 32-bit integer. Files may be
gzipped (``.gz``).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from graphsep.images.errors import ImageDataError

UNSIGNED_BYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (images ``(N, H, W)`` or labels ``(N,)``).

    Raises:
        ImageDataError: a missing, truncated or foreign file, or another element type; the
            message names the path.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ImageDataError(f"{path}: no such file") from None
    except (OSError, EOFError) as err:
        raise ImageDataError(f"{path}: cannot read it as an IDX file: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ImageDataError(f"{path}: not an IDX file (its first bytes are not 0x0000)")
    kind, ndim = raw[2], raw[3]
    if kind != UNSIGNED_BYTE:
        raise ImageDataError(f"{path}: IDX element type 0x{kind:02x}; graphsep reads 0x08 (uint8)")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ImageDataError(f"{path}: truncated IDX header ({ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise ImageDataError(
            f"{path}: IDX header says {shape} values ({expected} bytes), the file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
