"""The settings of classification (``task.classify.*``)."""

from __future__ import annotations

from dataclasses import dataclass

PROBE_NORMS = ("batchnorm", "none")
"""The values of ``task.classify.probe_norm``."""


@dataclass
class ClassifyConfig:
    """A linear head on [CLS]: the whole encoder trained (finetuning) or frozen (linear probe)."""

    probe: bool = False  # true: freeze the encoder (eval mode, its statistics too), train the head
    # batchnorm: BatchNorm1d(affine=False) before the linear head, as MAE's probe; none: no norm.
    # SepNorm's own [CLS] BatchNorm overlaps with it, so compare the norms under both
    probe_norm: str = "batchnorm"
    head_dropout: float = 0.0  # dropout on [CLS] before the head
