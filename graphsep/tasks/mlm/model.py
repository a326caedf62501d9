"""The MLM model: the text encoder with a head that predicts the selected tokens' ids."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphsep.core.model import Encoder
from graphsep.frontends.text.batch import TextBatch
from graphsep.tasks.mlm.masking import IGNORED


@dataclass
class TokenPredictions:
    """Logits and true ids of every selected token of a batch.

    Args:
        logits (Tensor): ``(M, V)``.
        targets (Tensor): ``(M,)`` long.
    """

    logits: Tensor
    targets: Tensor

    def loss(self) -> Tensor:
        """Cross-entropy over the selected tokens; zero (with gradients) when none was."""
        if self.targets.numel() == 0:
            return self.logits.sum() * 0.0
        return F.cross_entropy(self.logits, self.targets)

    def correct(self) -> int:
        """How many selected tokens were predicted right."""
        return int((self.logits.argmax(-1) == self.targets).sum())


class MlmModel(nn.Module):
    """A text :class:`~graphsep.core.model.Encoder` with BERT's prediction head on its tokens.

    The encoder sits under ``encoder.`` so that ``model.init_from`` starts classification
    from it.

    Args:
        encoder (Encoder): the text front end and the core.
        vocab_size (int): the tokenizer's vocabulary.
    """

    def __init__(self, encoder: Encoder, vocab_size: int) -> None:
        super().__init__()
        self.encoder = encoder
        dim = encoder.dim
        self.head = nn.Sequential(
            nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim), nn.Linear(dim, vocab_size)
        )

    def forward(self, batch: TextBatch) -> TokenPredictions:
        """Predict the selected tokens of ``batch`` (its chunks' ``targets`` set)."""
        tokens = self.encoder(batch).tokens  # one (B_i, T_i, D) per chunk
        chosen = [c.targets != IGNORED for c in batch.chunks]
        vectors = torch.cat([t[sel] for t, sel in zip(tokens, chosen, strict=True)])
        targets = torch.cat([c.targets[sel] for c, sel in zip(batch.chunks, chosen, strict=True)])
        return TokenPredictions(self.head(vectors).float(), targets)  # float32 logits

    def no_weight_decay(self) -> set[str]:
        """Return the encoder's no-decay names and the head's biases and norm."""
        names = {f"encoder.{n}" for n in self.encoder.no_weight_decay()}
        return names | {n for n, p in self.head.named_parameters(prefix="head") if p.ndim < 2}
