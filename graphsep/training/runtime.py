"""Run-time set-up: seeds, device choice, the output folder."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from graphsep.config import check_device
from graphsep.errors import GraphsepError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(name: str) -> torch.device:
    """Return the device for ``name``: ``auto`` is CUDA when present, else CPU.

    Raises:
        GraphsepError: a name outside ``config.DEVICES``, or a CUDA device this machine lacks.
    """
    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GraphsepError(f"device={name}: CUDA is not available on this machine")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise GraphsepError(
            f"device={name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
            f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )
    return device


def prepare_out_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` and check it is writable, before any long work starts."""
    out_dir = Path(path)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir):
            pass
    except OSError as err:
        raise GraphsepError(f"out_dir={path} is not writable: {err.strerror or err}") from err
    return out_dir
