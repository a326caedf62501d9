"""The text front end: token plus learned position embeddings; [CLS] is the tokenizer's first."""

from __future__ import annotations

import torch
from torch import nn

from graphsep.core.config import CoreConfig
from graphsep.core.contract import CoreInput
from graphsep.core.encoder import TransformerEncoder
from graphsep.core.model import Encoder
from graphsep.frontends.text.batch import TextBatch
from graphsep.frontends.text.config import TextConfig
from graphsep.text.tokenizer import PAD_ID


class TextFrontEnd(nn.Module):
    """A :class:`TextBatch` to the core's input: one :class:`CoreInput` per chunk, no bias.

    The tokenizer puts [CLS] at position 0 of every text, so [CLS] is an ordinary token
    embedding here; padding is masked by the core (a boolean key mask, no bias).

    Args:
        cfg (TextConfig): vocabulary size and maximum length.
        dim (int): model width ``D``.
    """

    def __init__(self, cfg: TextConfig, dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokens = nn.Embedding(cfg.vocab_size, dim, padding_idx=PAD_ID)
        self.positions = nn.Embedding(cfg.max_length, dim)
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)
        with torch.no_grad():
            self.tokens.weight[PAD_ID].zero_()

    def forward(self, batch: TextBatch) -> list[CoreInput]:
        """Return the core's input for every chunk of ``batch``, in order."""
        inputs = []
        for chunk in batch.chunks:
            length = chunk.ids.size(1)
            tokens = self.tokens(chunk.ids) + self.positions.weight[:length]
            inputs.append(CoreInput(tokens * chunk.mask[..., None], chunk.mask))
        return inputs

    def no_weight_decay(self) -> set[str]:
        """Return the embedding tables: lookup tables are not decayed."""
        return {"tokens.weight", "positions.weight"}


def text_encoder(core: CoreConfig, text: TextConfig) -> Encoder:
    """Build the text front end and the core that ``model.core`` and ``model.text`` describe."""
    return Encoder(TextFrontEnd(text, core.dim), TransformerEncoder.from_config(core))
