"""The text data of a run: a labelled table, its fixed split, its tokenizer, three loaders."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch.utils.data import DataLoader, Dataset

from graphsep.config import Config
from graphsep.config.schema import TextDataConfig
from graphsep.files import cached_text
from graphsep.frontends.text.collate import TextCollator
from graphsep.molecules.table import DataError
from graphsep.splits import stratified_split
from graphsep.text.table import LabelledTexts, read_labelled_texts
from graphsep.text.tokenizer import cached_tokenizer, tokenizer_from_json
from graphsep.training.checkpoint import CheckpointError
from graphsep.training.distributed import DistContext, per_rank_batch_size
from graphsep.training.sampler import SizeBucketBatchSampler, keyed_loading

SPLITS = ("train", "valid", "test")
TOKENIZER_FILE = "tokenizer.json"
"""The tokenizer's file inside every checkpoint of a text model."""


def checkpoint_tokenizer(folder: str | Path) -> Tokenizer:
    """Return the tokenizer kept in a text model's checkpoint ``folder``.

    Raises:
        CheckpointError: ``tokenizer.json`` is missing; TokenizerError: it is not readable.
    """
    path = Path(folder) / TOKENIZER_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; a text model's checkpoint keeps its tokenizer")
    return tokenizer_from_json(path.read_text(), str(path))


class TokenizedTexts(Dataset):
    """``(token ids, class index)`` pairs of some rows of a table.

    Args:
        ids (list[list[int]]): every row's token ids.
        labels (np.ndarray): every row's class index.
        rows (np.ndarray): the rows this dataset holds.
    """

    def __init__(self, ids: list[list[int]], labels: np.ndarray, rows: np.ndarray) -> None:
        self.ids = [ids[i] for i in rows]
        self.labels = labels[rows].tolist()
        self.sizes = torch.tensor([len(t) for t in self.ids])

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.ids[i], self.labels[i]


@dataclass
class TextData:
    """Loaders of the three splits, the tokenizer, and what the model must know of them.

    Args:
        train (DataLoader): shuffled batches, padded as length-sorted chunks.
        valid (DataLoader): length-sorted batches (this rank's share).
        test (DataLoader): length-sorted batches (this rank's share).
        tokenizer (Tokenizer): trained on the training split, truncating to
            ``model.text.max_length``.
        classes (list[str]): the label of each class index.
        fingerprint (dict[str, Any]): a sha256 of the texts, labels and split; split sizes.
    """

    train: DataLoader
    valid: DataLoader
    test: DataLoader
    tokenizer: Tokenizer
    classes: list[str]
    fingerprint: dict[str, Any]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def meta(self) -> dict[str, Any]:
        """Return what a checkpoint keeps to score new texts: the label of each class."""
        return {"num_classes": self.num_classes, "classes": self.classes}

    def files(self) -> dict[str, str]:
        """Return the files a checkpoint keeps beside the weights: the tokenizer."""
        return {TOKENIZER_FILE: self.tokenizer.to_str()}


def split_rows(
    labels: np.ndarray, valid_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Stratified train, valid and test rows, from ``seed`` alone (not the run's seed)."""
    rest, test = stratified_split(labels, test_fraction, seed)
    kept, valid = stratified_split(labels[rest], valid_fraction / (1 - test_fraction), seed + 1)
    return {"train": rest[kept], "valid": rest[valid], "test": test}


def table_digest(table: LabelledTexts) -> hashlib._Hash:
    """Return a running sha256 of a table's texts and labels."""
    digest = hashlib.sha256()
    for text in table.texts:
        digest.update(text.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(table.labels.tobytes())
    return digest


def saved_split(table: LabelledTexts, spec: TextDataConfig) -> dict[str, np.ndarray]:
    """Return the table's train, valid and test rows, drawn once and kept in ``spec.cache_dir``.

    The file ``split-<hash>.json`` is named by the table's content and the split's settings;
    every later run on the table reads its rows, whatever the run's seed or numpy version.
    """
    settings = [spec.valid_fraction, spec.test_fraction, spec.split_seed]
    digest = table_digest(table)
    digest.update(json.dumps(settings).encode())
    path = Path(spec.cache_dir) / f"split-{digest.hexdigest()[:16]}.json"
    text = cached_text(path, lambda: json.dumps({
        name: rows.tolist() for name, rows in split_rows(table.labels, *settings).items()
    }))  # fmt: skip
    return {name: np.asarray(rows, dtype=np.int64) for name, rows in json.loads(text).items()}


def _loader(
    dataset: TokenizedTexts, batch_size: int, shuffle: bool, chunks: int, cfg: Config,
    ctx: DistContext, draw: Callable[[Any, int, int], Any] | None = None,
) -> DataLoader:  # fmt: skip
    sampler = SizeBucketBatchSampler(
        dataset.sizes, batch_size, shuffle=shuffle, seed=cfg.seed,
        bucket_size_multiplier=cfg.data.bucket_size_multiplier, even_shards=shuffle,
        num_replicas=ctx.world_size, rank=ctx.rank,
    )  # fmt: skip
    dataset, collate = keyed_loading(dataset, TextCollator(chunks), draw)
    return DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate,
        num_workers=cfg.data.num_workers,
        pin_memory=ctx.device.type == "cuda", generator=torch.Generator().manual_seed(cfg.seed),
    )  # fmt: skip


def load_text_data(
    cfg: Config,
    ctx: DistContext | None = None,
    tokenizer: Tokenizer | None = None,
    draw: Callable[[Any, int, int], Any] | None = None,
) -> TextData:
    """Read ``data.text``'s table, split it, train or reuse its tokenizer, build the loaders.

    ``draw`` (a task's masks, keyed by epoch and batch position) is applied at collation to the
    train and valid batches (:class:`~graphsep.training.sampler.KeyedCollator`).

    The tokenizer learns from the training split only, so no valid or test text shapes it;
    a given ``tokenizer`` (a pretrained encoder's, whose ids the weights were trained on)
    replaces it.

    Raises:
        DataError: what :func:`~graphsep.text.table.read_labelled_texts` refuses.
    """
    ctx = ctx or DistContext(0, 1, torch.device("cpu"))
    spec = cfg.data.text
    table = read_labelled_texts(spec.path, spec.text_column, spec.label_column)
    rows = saved_split(table, spec)
    empty = [name for name in SPLITS if not len(rows[name])]
    if empty:
        raise DataError(
            f"{spec.path}: {len(table.labels)} rows leave the {' and '.join(empty)} "
            f"split{'s' * (len(empty) > 1)} empty "
            f"(data.text.valid_fraction={spec.valid_fraction}, "
            f"data.text.test_fraction={spec.test_fraction} of each class); give a larger table"
        )
    if tokenizer is None:
        tokenizer, _ = cached_tokenizer(
            [table.texts[i] for i in rows["train"]], cfg.model.text.vocab_size, spec.cache_dir
        )
    tokenizer.enable_truncation(cfg.model.text.max_length)
    ids = [encoding.ids for encoding in tokenizer.encode_batch(table.texts)]
    sets = {name: TokenizedTexts(ids, table.labels, rows[name]) for name in SPLITS}
    digest = table_digest(table)
    digest.update(tokenizer.to_str().encode())
    for name in SPLITS:
        digest.update(rows[name].tobytes())
    eval_bs = cfg.train.eval_batch_size
    return TextData(
        train=_loader(
            sets["train"],
            per_rank_batch_size(cfg.train.batch_size, ctx),
            True,
            cfg.data.batch_chunks,
            cfg,
            ctx,
            draw,
        ),
        valid=_loader(sets["valid"], eval_bs, False, 1, cfg, ctx, draw),
        test=_loader(sets["test"], eval_bs, False, 1, cfg, ctx),
        tokenizer=tokenizer,
        classes=table.classes,
        fingerprint={
            "sha256": digest.hexdigest(),
            "split_sizes": {name: len(sets[name]) for name in SPLITS},
            "empty_texts_skipped": table.empty,
        },
    )
