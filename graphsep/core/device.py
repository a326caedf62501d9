"""Moving a typed batch (a dataclass of tensors, or of a list of chunks) to a device."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, TypeVar

import torch
from torch import Tensor

Batch = TypeVar("Batch")


def moved(batch: Batch, device: torch.device | str, non_blocking: bool = False) -> Batch:
    """Return a copy of ``batch`` with its tensors, and the chunks of its lists, on ``device``.

    Other fields (None, numbers) are kept as they are.

    Args:
        batch (Batch): a dataclass instance, e.g. a front end's batch or chunk.
        device (torch.device | str): where to.
        non_blocking (bool, optional): as ``Tensor.to``. (default: False)
    """
    changes: dict[str, Any] = {}
    for field in fields(batch):
        value = getattr(batch, field.name)
        if isinstance(value, Tensor):
            changes[field.name] = value.to(device, non_blocking=non_blocking)
        elif isinstance(value, list):
            changes[field.name] = [item.to(device, non_blocking) for item in value]
    return replace(batch, **changes)
