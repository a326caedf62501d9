"""Size-bucketed batches: molecules of similar size together, so that batches pad little.

A random batch pads to its largest molecule, a size-bucketed one to about its typical size
(``docs/results.md``): the dense transformer's step time follows the padded size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

EVAL_PADDED_TOKENS = 64
"""Evaluation and prediction batches hold ``batch_size`` graphs padded to up to 64 tokens
([CLS] + 63 atoms) and fewer larger ones: padded pairs stay under ``batch_size * 64**2``, where a
split padded whole to its largest molecule (hundreds of atoms in SIDER) takes gigabytes."""


class KeyedBatch(list):
    """A batch's dataset indices (or samples), with the epoch and the batch's place in it.

    ``position`` is the batch's index in the one-process order of the epoch: batch ``k`` of
    rank ``r`` of ``n`` is ``k * n + r``. What a task draws per batch (masks) is seeded by
    ``(epoch, position)``, so that it is drawn the same in a DataLoader worker or the training
    process, resumed mid-epoch or sharded over ranks. A plain list to everything else.
    """

    def __init__(self, items: Iterable, epoch: int, position: int) -> None:
        super().__init__(items)
        self.epoch = epoch
        self.position = position


class KeyedSamples(Dataset):
    """A dataset whose batches of samples keep their :class:`KeyedBatch` key into collate.

    A DataLoader hands ``__getitems__`` the batch sampler's batch and ``collate_fn`` what it
    returns, in a worker process or not.

    Args:
        dataset (Dataset): the samples.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> object:
        return self.dataset[index]

    def __getitems__(self, batch: KeyedBatch) -> KeyedBatch:
        """Return the samples of ``batch`` under its key."""
        return KeyedBatch([self.dataset[i] for i in batch], batch.epoch, batch.position)


@dataclass
class KeyedCollator:
    """``collate_fn`` that collates, then applies a per-batch draw keyed by epoch and position.

    Self-supervised tasks draw their masks here (graph atoms and bonds, image patches, text
    tokens), in the DataLoader's worker processes when ``data.num_workers`` > 0, from the key
    that :class:`KeyedSamples` carries from the batch sampler. A plain dataclass: it pickles.

    Args:
        collate (Callable[[list], Any]): samples to a batch (a front end's collator).
        draw (Callable[[Any, int, int], Any]): ``(batch, epoch, position)`` to the batch with
            what was drawn, e.g. :class:`~graphsep.tasks.masked_graph.masking.MaskSampler`.
    """

    collate: Callable[[list], Any]
    draw: Callable[[Any, int, int], Any]

    def __call__(self, samples: KeyedBatch) -> Any:
        """Collate ``samples`` (a keyed batch) and draw for its key."""
        return self.draw(self.collate(samples), samples.epoch, samples.position)


def keyed_loading(
    dataset: Dataset, collate: Callable[[list], Any], draw: Callable[[Any, int, int], Any] | None
) -> tuple[Dataset, Callable[[list], Any]]:
    """Return the dataset and ``collate_fn`` of a loader, drawing per batch if ``draw`` is set."""
    if draw is None:
        return dataset, collate
    return KeyedSamples(dataset), KeyedCollator(collate, draw)


@runtime_checkable
class EpochBatchSampler(Protocol):
    """What the engine needs of a training loader's batch sampler, whatever the domain.

    Each epoch's batches follow from the seed and the epoch alone, so that a run resumed at
    ``start_batch`` (or sharded over ranks) sees the batches it would have seen.
    """

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select ``epoch``'s batches, skipping the first ``start_batch`` of them."""
        ...

    def __iter__(self) -> Iterator[Iterable[int]]:
        """Yield the indices of each remaining batch of the epoch."""
        ...

    def __len__(self) -> int:
        """Return the number of batches in a whole epoch (on this rank)."""
        ...


class SizeBucketBatchSampler(Sampler[list[int]]):
    """Batches of indices of similarly sized graphs, shuffled, reproducible, shardable.

    Each epoch draws a permutation from ``seed + epoch``, cuts it into mega-buckets of
    ``batch_size * bucket_size_multiplier`` graphs, sorts each mega-bucket by size, cuts it into
    batches and shuffles the order of all batches. ``shuffle=False`` gives one deterministic
    size-sorted order (for evaluation); with ``max_padded_pairs`` its batches close early once
    graphs x (largest size + 1)^2, the padded pairs with [CLS], would pass that budget, so large
    molecules come a few at a time.

    Shards: rank ``r`` of ``num_replicas`` takes batches ``r, r + num_replicas, ...``, disjoint
    from every other rank. As ``DistributedSampler`` does, the batch list is padded by repeating
    batches from its start so that every rank gets the same number of batches; with
    ``drop_last`` the last incomplete batch and the batches beyond a multiple of
    ``num_replicas`` are dropped instead. With ``even_shards=False`` neither happens: every
    batch goes to exactly one rank and the first ranks may get one more (evaluation, where a
    repeated graph would count twice).

    Args:
        sizes (Sequence[int] | Tensor): ``(G,)`` size (atoms) of each graph.
        batch_size (int): graphs per batch.
        shuffle (bool): shuffle graphs and batches each epoch (default True).
        seed (int): seed of the per-epoch generator, shared by all ranks (default 0).
        bucket_size_multiplier (int): batches per mega-bucket (default 50).
        num_replicas (int): number of shards, e.g. the world size (default 1).
        rank (int): this shard, ``0 <= rank < num_replicas`` (default 0).
        drop_last (bool): drop the incomplete batch and the uneven tail (default False).
        even_shards (bool): give every rank as many batches, by repetition or ``drop_last``
            (default True); False shards without repeats.
        max_padded_pairs (int, optional): the most graphs x (largest size + 1)^2 of a batch, for
            the evaluation order (``shuffle=False``, no ``drop_last``); a graph alone may exceed
            it (default None: no budget).
    """

    def __init__(
        self,
        sizes: Sequence[int] | Tensor,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        bucket_size_multiplier: int = 50,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
        even_shards: bool = True,
        max_padded_pairs: int | None = None,
    ) -> None:
        if batch_size < 1 or bucket_size_multiplier < 1:
            raise ValueError(
                f"SizeBucketBatchSampler: batch_size ({batch_size}) and bucket_size_multiplier "
                f"({bucket_size_multiplier}) must be >= 1"
            )
        if max_padded_pairs is not None and (shuffle or drop_last):
            raise ValueError(
                "SizeBucketBatchSampler: max_padded_pairs is for the evaluation order "
                "(shuffle=False, drop_last=False)"
            )
        if not 0 <= rank < num_replicas:
            raise ValueError(f"SizeBucketBatchSampler: rank {rank} not in [0, {num_replicas})")
        self.sizes = torch.as_tensor(sizes, dtype=torch.long)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_size_multiplier = bucket_size_multiplier
        self.num_replicas = num_replicas
        self.rank = rank
        self.drop_last = drop_last
        self.even_shards = even_shards
        self.max_padded_pairs = max_padded_pairs
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's order; ``start_batch`` skips this rank's first batches (resume).

        Args:
            epoch (int): epoch number, mixed into the seed.
            start_batch (int): batches of this rank already consumed in this epoch (default 0).
        """
        self.epoch = epoch
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[KeyedBatch]:
        for k, batch in enumerate(self._rank_batches()[self.start_batch :], self.start_batch):
            yield KeyedBatch(batch.tolist(), self.epoch, k * self.num_replicas + self.rank)

    def __len__(self) -> int:
        """Batches this rank yields in the current epoch, after ``start_batch``."""
        return max(self._batches_per_rank() - self.start_batch, 0)

    def _rank_batches(self) -> list[Tensor]:
        """Return the batches of this rank in the current epoch, in order."""
        batches = self._epoch_batches()
        if self.even_shards:
            batches = self._evened(batches)
        return batches[self.rank :: self.num_replicas]

    def _evened(self, batches: list[Tensor]) -> list[Tensor]:
        """Cut (``drop_last``) or repeat from the start to a multiple of ``num_replicas``."""
        if self.drop_last:
            return batches[: len(batches) - len(batches) % self.num_replicas]
        padding = -len(batches) % self.num_replicas
        return batches + (batches * math.ceil(padding / max(len(batches), 1)))[:padding]

    def _batches_per_rank(self) -> int:
        """Count the batches per rank, the same in every epoch."""
        if not self.shuffle:  # one fixed order, cheap to cut
            return len(self._rank_batches())
        full, rest = divmod(self.sizes.numel(), self.batch_size)
        total = full + (rest > 0 and not self.drop_last)
        if not self.even_shards:  # ranks before the remainder get one batch more
            return len(range(self.rank, total, self.num_replicas))
        if self.drop_last:
            return total // self.num_replicas
        return math.ceil(total / self.num_replicas)

    def _epoch_batches(self) -> list[Tensor]:
        """All batches of the current epoch before sharding."""
        if not self.shuffle:
            order = torch.argsort(self.sizes, stable=True)
            return self._cut(order) if self.max_padded_pairs is None else self._cut_pairs(order)
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.sizes.numel(), generator=generator)
        bucket = self.batch_size * self.bucket_size_multiplier
        batches = []
        for start in range(0, order.numel(), bucket):
            members = order[start : start + bucket]
            batches += self._cut(members[torch.argsort(self.sizes[members], stable=True)])
        shuffled = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[i] for i in shuffled]

    def _cut(self, order: Tensor) -> list[Tensor]:
        """Cut an index order into batches; without ``drop_last`` the last may be short."""
        batches = list(order.split(self.batch_size))
        if self.drop_last and batches and batches[-1].numel() < self.batch_size:
            batches.pop()
        return batches

    def _cut_pairs(self, order: Tensor) -> list[Tensor]:
        """Cut an ascending size order into batches under the padded-pair budget."""
        batches, start = [], 0
        for end, size in enumerate(self.sizes[order].tolist()):
            count = end - start + 1  # sizes ascend: ``size`` is the batch's largest
            too_many = count > self.batch_size or count * (size + 1) ** 2 > self.max_padded_pairs
            if count > 1 and too_many:
                batches.append(order[start:end])
                start = end
        batches.append(order[start:])
        return batches

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(graphs={self.sizes.numel()}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, seed={self.seed}, "
            f"bucket_size_multiplier={self.bucket_size_multiplier}, "
            f"num_replicas={self.num_replicas}, rank={self.rank}, drop_last={self.drop_last}, "
            f"even_shards={self.even_shards}, max_padded_pairs={self.max_padded_pairs})"
        )
