"""Moving a typed batch (a dataclass of tensors, or of a list of chunks) to a device.

Every front end's batch and chunk derives from :class:`DeviceBatch`, which gives it the two
methods torch calls on a batch: ``to`` (the runs, with ``non_blocking=True`` so that a copy
from pinned memory overlaps the GPU's work) and ``pin_memory`` (``DataLoader(pin_memory=True)``
on CUDA, in its pinning thread).
"""

from __future__ import annotations

from collections.abc import Callable
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
    return _mapped(batch, lambda t: t.to(device, non_blocking=non_blocking))


def pinned(batch: Batch) -> Batch:
    """Return a copy of ``batch`` with every tensor in page-locked (pinned) memory."""
    return _mapped(batch, Tensor.pin_memory)


def _mapped(batch: Batch, change: Callable[[Tensor], Tensor]) -> Batch:
    """Apply ``change`` to every tensor of ``batch``, and of the dataclasses its lists hold."""
    changes: dict[str, Any] = {}
    for field in fields(batch):
        value = getattr(batch, field.name)
        if isinstance(value, Tensor):
            changes[field.name] = change(value)
        elif isinstance(value, list):
            changes[field.name] = [_mapped(item, change) for item in value]
    return replace(batch, **changes)


Same = TypeVar("Same", bound="DeviceBatch")


class DeviceBatch:
    """What a front end's batch (or chunk) dataclass inherits: ``to`` and ``pin_memory``."""

    def to(self: Same, device: torch.device | str, non_blocking: bool = False) -> Same:
        """Return a copy with every tensor (and every chunk's) moved to ``device``."""
        return moved(self, device, non_blocking)

    def pin_memory(self: Same) -> Same:
        """Return a copy with every tensor (and every chunk's) in pinned memory."""
        return pinned(self)
