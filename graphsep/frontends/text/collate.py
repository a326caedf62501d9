"""Token ids of a batch of texts to a :class:`TextBatch` of length-sorted, separately padded chunks.

As on the graph path, a random batch sorted by length and cut into chunks pads about as little
as a length-bucketed one, while the core normalizes the [CLS] tokens of every chunk together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from graphsep.frontends.text.batch import TextBatch, TextChunk
from graphsep.text.tokenizer import PAD_ID


def pad_chunk(texts: Sequence[Sequence[int]]) -> TextChunk:
    """Pad token id lists to the longest with ``[PAD]``; the mask marks the real tokens."""
    length = max(len(ids) for ids in texts)
    ids = torch.full((len(texts), length), PAD_ID, dtype=torch.long)
    for row, tokens in enumerate(texts):
        ids[row, : len(tokens)] = torch.as_tensor(tokens, dtype=torch.long)
    mask = torch.arange(length) < torch.tensor([len(t) for t in texts])[:, None]
    return TextChunk(ids, mask)


@dataclass
class TextCollator:
    """``collate_fn`` for a ``DataLoader`` of ``(token ids, label)`` pairs.

    Args:
        chunks (int): chunks per batch; with one the texts keep their order, with more they are
            sorted by length first. (default: 1)
    """

    chunks: int = 1

    def __call__(self, items: Sequence[tuple[Sequence[int], int]]) -> TextBatch:
        """Collate ``items`` into one batch."""
        order = list(range(len(items)))
        if self.chunks > 1:
            order.sort(key=lambda i: len(items[i][0]))
        parts = torch.tensor(order).tensor_split(min(self.chunks, len(items)))
        chunks = [pad_chunk([items[i][0] for i in part.tolist()]) for part in parts]
        labels = torch.tensor([items[i][1] for part in parts for i in part.tolist()])
        return TextBatch(chunks, y=labels)
