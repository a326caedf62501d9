"""The settings of property prediction (``task.property.*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PropertyConfig:
    """The head on [CLS] that predicts a dataset's labels."""

    head_dropout: float = 0.1  # dropout inside the property head
