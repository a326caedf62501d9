"""A pretraining checkpoint's encoder alone, to embed with (its decoder or head left behind)."""

from __future__ import annotations

from torch import nn


class EncoderOnly(nn.Module):
    """Holds an encoder under the name ``encoder``, as the pretraining checkpoint's weights do.

    Args:
        encoder (nn.Module): the encoder.
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
