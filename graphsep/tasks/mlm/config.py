"""The settings of masked-language-model pretraining (``task.mlm.*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MlmConfig:
    """Which tokens are selected, and what each selected token becomes (BERT's 80/10/10)."""

    select_rate: float = 0.15  # share of each text's ordinary tokens selected for prediction
    mask_share: float = 0.8  # of the selected: replaced by [MASK]
    random_share: float = 0.1  # of the selected: replaced by a random ordinary token; rest kept
