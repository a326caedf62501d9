"""The settings of MAE pretraining (``task.mae.*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MaeConfig:
    """How many patches are hidden, and the light decoder that reconstructs them."""

    mask_ratio: float = 0.75  # share of each image's patches hidden from the encoder
    decoder_dim: int = 64  # decoder width; its norms follow model.core.norm too
    decoder_depth: int = 2  # decoder blocks
    decoder_heads: int = 4  # decoder attention heads; must divide decoder_dim
    norm_pix_loss: bool = True  # reconstruct each patch's pixels normalized by its own mean, std
