"""BERT's masked-language-model corruption, seeded per batch.

Each ordinary token (never [CLS], [SEP], [PAD] or another special token) is selected with
probability ``select_rate``; of the selected, ``mask_share`` become [MASK], ``random_share`` a
random ordinary token, and the rest stay as they are (HuggingFace's
``DataCollatorForLanguageModeling`` defaults: 0.15, 0.8, 0.1). The draws come from a generator
seeded by ``(seed, epoch, batch index)``
(:func:`~graphsep.tasks.masked_graph.masking.mask_generator`), chunk by chunk, so a resumed or
``torchrun`` run corrupts the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from graphsep.frontends.text.batch import TextBatch, TextChunk
from graphsep.tasks.masked_graph.masking import mask_generator
from graphsep.tasks.mlm.config import MlmConfig
from graphsep.text.tokenizer import MASK_ID, SPECIAL_TOKENS

IGNORED = -100
"""The target of a token that is not predicted (``F.cross_entropy``'s ``ignore_index``)."""


def corrupt(
    chunk: TextChunk, cfg: MlmConfig, vocab_size: int, generator: torch.Generator
) -> TextChunk:
    """Return the chunk with its selected tokens corrupted and their original ids as targets."""
    ids = chunk.ids
    ordinary = chunk.mask & (ids >= len(SPECIAL_TOKENS))
    selected = ordinary & (torch.rand(ids.shape, generator=generator) < cfg.select_rate)
    draw = torch.rand(ids.shape, generator=generator)
    to_mask = selected & (draw < cfg.mask_share)
    to_random = selected & (draw >= cfg.mask_share) & (draw < cfg.mask_share + cfg.random_share)
    random_ids = torch.randint(len(SPECIAL_TOKENS), vocab_size, ids.shape, generator=generator)
    corrupted = torch.where(to_mask, MASK_ID, torch.where(to_random, random_ids, ids))
    targets = torch.where(selected, ids, IGNORED)
    return replace(chunk, ids=corrupted, targets=targets)


@dataclass
class TokenMaskSampler:
    """The corruption of a run: settings and seed fixed, one draw per ``(epoch, batch index)``.

    Args:
        cfg (MlmConfig): selection rate and the 80/10/10 shares.
        vocab_size (int): random replacements come from the ordinary tokens below it.
        seed (int): the run's seed.
    """

    cfg: MlmConfig
    vocab_size: int
    seed: int

    def __call__(self, batch: TextBatch, epoch: int, batch_index: int) -> TextBatch:
        """Return batch ``batch_index`` of ``epoch`` with its tokens corrupted (on the CPU)."""
        generator = mask_generator(self.seed, epoch, batch_index)
        chunks = [corrupt(c, self.cfg, self.vocab_size, generator) for c in batch.chunks]
        return replace(batch, chunks=chunks)
