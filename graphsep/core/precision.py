"""Mixed precision: the autocast context that ``train.precision`` (or ``--precision``) names.

``fp32`` runs as written; ``bf16`` and ``fp16`` run matrix products and attention in that
type under ``torch.autocast`` (on CPU too: bf16 is what a CPU accelerates), while the core
keeps in float32 what low precision would spoil: SepNorm's [CLS] statistics
(:class:`~graphsep.core.batchnorm.GlobalBatchNorm1d` computes with autocast off) and every
head's output, so that losses and metrics are float32 whatever the precision. fp16 training
also needs a gradient scaler (:func:`grad_scaler`); bf16 has float32's range and needs none.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
"""The values of ``train.precision`` and the dtype each computes in."""


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """Return the context that runs code in ``precision`` on ``device`` (nothing for fp32).

    Raises:
        ValueError: a precision not in :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=PRECISIONS[precision])


def grad_scaler(precision: str, device: torch.device | str) -> torch.amp.GradScaler:
    """Return the loss scaler of a training run: active for fp16 only, a pass-through else."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=precision == "fp16")
