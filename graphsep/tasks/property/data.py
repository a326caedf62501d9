"""The finetuning data of a run: OGB dataset, cached encodings, split loaders, task."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from ogb.graphproppred import PygGraphPropPredDataset
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from graphsep.config import Config
from graphsep.frontends.graph.batch import GraphBatch
from graphsep.frontends.graph.checks import feature_problems
from graphsep.frontends.graph.collate import GraphCollator
from graphsep.frontends.graph.encoded_dataset import EncodedDataset
from graphsep.molecules.descriptors import FeatureScaler
from graphsep.molecules.feature_cache import load_dataset_features
from graphsep.molecules.ogb_layout import load_ogb_dataset, load_split
from graphsep.molecules.table import DataError
from graphsep.molecules.zinc import ZINC_SUBSET, load_zinc
from graphsep.tasks.property.spec import TaskSpec
from graphsep.training.checkpoint import Checkpoint, CheckpointError
from graphsep.training.distributed import DistContext, barrier, per_rank_batch_size
from graphsep.training.sampler import EVAL_PADDED_TOKENS, SizeBucketBatchSampler, keyed_loading

SPLITS = ("train", "valid", "test")
BUNDLED = {"ogbg-molbbbp": Path(__file__).resolve().parents[2] / "resources" / "bbbp.csv.gz"}
"""Tables shipped inside the package, selected with ``data.source=bundled``."""


@dataclass
class PropertyData:
    """Loaders of the three splits and the task they define.

    Args:
        train (DataLoader): shuffled, size-bucketed batches.
        valid (DataLoader): size-sorted batches (this rank's share of them).
        test (DataLoader): size-sorted batches (this rank's share of them).
        task (TaskSpec): task names, type, metric and target scaling.
        fingerprint (dict[str, Any]): what identifies the data (:func:`dataset_fingerprint`).
        mol_features (FeatureScaler | None): the train statistics of the whole-molecule
            features (``task.property.mol_features``), or None without any.
    """

    train: DataLoader
    valid: DataLoader
    test: DataLoader
    task: TaskSpec
    fingerprint: dict[str, Any]
    mol_features: FeatureScaler | None = None


def resolve_source(name: str, source: str | None) -> str | None:
    """Return the table to build ``name`` from: ``bundled`` names the package's own copy."""
    if source != "bundled":
        return source
    if name not in BUNDLED:
        raise DataError(
            f"data.source=bundled: only {sorted(BUNDLED)} ship inside the package, not {name}"
        )
    return str(BUNDLED[name])


def task_names(dataset: PygGraphPropPredDataset) -> list[str]:
    """Read the task names from the header of OGB's ``mapping/mol.csv.gz`` (ours or OGB's)."""
    mapping = Path(dataset.root) / "mapping" / "mol.csv.gz"
    if mapping.is_file():
        columns = pd.read_csv(mapping, nrows=0).columns
        names = [c for c in columns if c not in {"smiles", "mol_id"}]
        if len(names) == dataset.num_tasks:
            return names
    return [f"task_{i}" for i in range(dataset.num_tasks)]


def dataset_fingerprint(files: Sequence[str | Path], split: dict[str, Tensor]) -> dict[str, Any]:
    """Identify a dataset: a sha256 of its processed files and split indices, the split sizes.

    A resumed run compares it with its checkpoint's, so that a dataset folder rebuilt from
    another table, or split otherwise, is not trained on silently.

    Args:
        files (Sequence[str | Path]): the processed files the graphs and labels are read from.
        split (dict[str, Tensor]): ``train``, ``valid``, ``test`` index tensors.

    Returns:
        dict[str, Any]: ``sha256`` (hex) and ``split_sizes`` (graphs per split).
    """
    digest = hashlib.sha256()
    for file in files:  # the digest of each file's digest, read in blocks (molhiv's: 170 MB)
        inner = hashlib.sha256()
        with open(file, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                inner.update(block)
        digest.update(inner.digest())
    for name in SPLITS:
        digest.update(split[name].to(torch.int64).numpy().tobytes())
    return {"sha256": digest.hexdigest(), "split_sizes": {n: len(split[n]) for n in SPLITS}}


def check_features(cfg: Config, node_feat: Tensor, edge_feat: Tensor) -> None:
    """Stop before training if ``cfg.model`` cannot read the dataset's features.

    Raises:
        DataError: naming the dataset and each ``model.graph.*_dims`` that does not fit it.
    """
    problems = feature_problems(cfg.model.graph, node_feat, edge_feat)
    if problems:
        raise DataError(
            f"{cfg.data.name} under {cfg.data.root}: its features do not fit the model: "
            + "; ".join(problems)
        )


def _task_type(ogb_task_type: str) -> str:
    return "regression" if ogb_task_type == "regression" else "classification"


def bucket_loader(
    dataset: Dataset,
    sizes: Tensor,
    batch_size: int,
    shuffle: bool,
    cfg: Config,
    ctx: DistContext | None = None,
    chunks: int = 1,
    even_shards: bool = True,
    canonical_paths: bool = True,
    draw: Callable[[GraphBatch, int, int], GraphBatch] | None = None,
) -> DataLoader:
    """Return a loader of size-bucketed batches of ``dataset``, collated for the encoder.

    Args:
        dataset (Dataset): graphs (``GraphCollator`` input).
        sizes (Tensor): ``(len(dataset),)`` atoms per graph.
        batch_size (int): graphs per batch (per rank).
        shuffle (bool): a new seeded order each epoch (training) or one size-sorted order
            whose batches hold fewer of the large graphs (``EVAL_PADDED_TOKENS``).
        cfg (Config): ``seed``, ``data.bucket_size_multiplier``, ``data.num_workers`` and
            ``model.graph.max_hops`` are read.
        ctx (DistContext, optional): shard the batches over its ranks.
        chunks (int, optional): collate each batch as this many size-sorted chunks
            (:func:`~graphsep.frontends.graph.collate.collate_graphs`). (default: ``1``)
        even_shards (bool, optional): as many batches on every rank, by repetition (training);
            False shards without repeats (evaluation). (default: ``True``)
        canonical_paths (bool, optional): see
            :class:`~graphsep.frontends.graph.collate.GraphCollator`. (default: ``True``)
        draw (Callable[[GraphBatch, int, int], GraphBatch] | None, optional): what collation
            then draws for each batch from its epoch and position (masked pretraining's masks),
            in the loader's worker processes if any
            (:class:`~graphsep.training.sampler.KeyedCollator`). (default: None)
    """
    shards = {"num_replicas": ctx.world_size, "rank": ctx.rank} if ctx else {}
    sampler = SizeBucketBatchSampler(
        sizes,
        batch_size,
        shuffle=shuffle,
        seed=cfg.seed,
        bucket_size_multiplier=cfg.data.bucket_size_multiplier,
        even_shards=even_shards,
        max_padded_pairs=None if shuffle else batch_size * EVAL_PADDED_TOKENS**2,
        **shards,
    )
    collate = GraphCollator(cfg.model.graph.max_hops, chunks, canonical_paths)
    dataset, collate = keyed_loading(dataset, collate, draw)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=cfg.data.num_workers,
        pin_memory=ctx is not None and ctx.device.type == "cuda",
        # its own generator: creating an iterator would otherwise draw from the global RNG,
        # shifting the dropout stream of a run resumed mid-epoch
        generator=torch.Generator().manual_seed(cfg.seed),
    )


Splits = tuple[dict[str, EncodedDataset], TaskSpec, dict[str, Any], FeatureScaler | None]


def _zinc_splits(cfg: Config) -> Splits:
    if cfg.task.property.mol_features:
        raise DataError(
            f"task.property.mol_features: {cfg.data.name} holds graphs without SMILES; "
            "whole-molecule features need a molecule dataset (ogbg-mol* or one built from a table)"
        )
    splits = load_zinc(cfg.data.name, cfg.data.root)
    parts = splits.values()
    check_features(cfg, torch.cat([d.x for d in parts]), torch.cat([d.edge_attr for d in parts]))
    encoded = {
        name: EncodedDataset(
            dataset,
            cache_path=Path(dataset.processed_dir) / f"graphormer_encodings_{name}.pt",
            progress=cfg.progress,
        )
        for name, dataset in splits.items()
    }
    task = TaskSpec(["penalized_logP"], "regression", "mae", cfg.data.name)
    task.fit_scaling(splits["train"].y.view(-1, 1))
    files = splits["train"].processed_paths  # PyG's ZINC names all three splits' files
    fingerprint = dataset_fingerprint(files, {n: torch.arange(len(d)) for n, d in splits.items()})
    return encoded, task, fingerprint, None


def _with_mol_features(
    cfg: Config, dataset: PygGraphPropPredDataset, encoded: EncodedDataset, train: Tensor,
    scaler: FeatureScaler | None,
) -> tuple[EncodedDataset, FeatureScaler | None]:  # fmt: skip
    """Attach the standardized ``task.property.mol_features``.

    With ``scaler``'s statistics if given, else with those of ``train`` alone.
    """
    names = cfg.task.property.mol_features
    if not names:
        return encoded, None
    raw = load_dataset_features(dataset.root, dataset.processed_dir, names, cfg.progress)
    if scaler is None:
        scaler = FeatureScaler.fit(raw[train.numpy()], names)
    return encoded.with_mol_features(torch.from_numpy(scaler.transform(raw))), scaler


def _ogb_splits(cfg: Config, scaler: FeatureScaler | None) -> Splits:
    source = resolve_source(cfg.data.name, cfg.data.source)
    dataset = load_ogb_dataset(cfg.data.name, cfg.data.root, source=source)
    check_features(cfg, dataset.x, dataset.edge_attr)
    encoded = EncodedDataset(dataset, progress=cfg.progress)
    split = load_split(dataset)
    task = TaskSpec(
        names=task_names(dataset),
        task_type=_task_type(dataset.task_type),
        metric=dataset.eval_metric,
        dataset=cfg.data.name,
    )
    task.fit_scaling(dataset.y[split["train"]].float())
    fingerprint = dataset_fingerprint(dataset.processed_paths, split)
    encoded, scaler = _with_mol_features(cfg, dataset, encoded, split["train"], scaler)
    return {name: encoded.index_select(split[name]) for name in SPLITS}, task, fingerprint, scaler


def checkpoint_features(ckpt: Checkpoint, cfg: Config) -> FeatureScaler | None:
    """Return the whole-molecule features a property checkpoint reads, with their statistics.

    Raises:
        CheckpointError: the config names features but the checkpoint lacks their statistics.
    """
    if not cfg.task.property.mol_features:
        return None
    if "mol_features" not in ckpt.meta:
        raise CheckpointError(f"{ckpt.path}: the feature statistics are missing")
    return FeatureScaler.from_dict(ckpt.meta["mol_features"])


def load_property_data(
    cfg: Config, ctx: DistContext | None = None, mol_features: FeatureScaler | None = None
) -> PropertyData:
    """Load (building it first if needed) the dataset of ``cfg.data`` and its split loaders.

    Under DDP (``ctx`` with several ranks) the main rank builds and caches the dataset first;
    each rank then trains on its own shard of every epoch's batches, ``train.batch_size``
    divided by the number of ranks each. Each rank evaluates its share of the valid and test
    batches, every graph on one rank.

    Args:
        cfg (Config): the run's config.
        ctx (DistContext | None, optional): the process group. (default: one process on CPU)
        mol_features (FeatureScaler | None, optional): statistics to standardize
            ``task.property.mol_features`` with, e.g. a checkpoint's when its model reads other
            data; by default they are fitted on this dataset's train split. (default: None)
    """
    ctx = ctx or DistContext(0, 1, torch.device("cpu"))

    def splits() -> Splits:
        if cfg.data.name in ZINC_SUBSET:
            return _zinc_splits(cfg)
        return _ogb_splits(cfg, mol_features)

    if ctx.is_main:  # build and cache once, before other ranks read
        subsets, task, fingerprint, scaler = splits()
    barrier(ctx)
    if not ctx.is_main:
        subsets, task, fingerprint, scaler = splits()
    train, valid, test = (subsets[name] for name in SPLITS)
    train_bs = per_rank_batch_size(cfg.train.batch_size, ctx)
    ebs = cfg.train.eval_batch_size
    return PropertyData(
        train=bucket_loader(
            train,
            train.sizes,
            train_bs,
            shuffle=True,
            cfg=cfg,
            ctx=ctx,
            chunks=cfg.data.batch_chunks,
        ),  # fmt: skip
        valid=bucket_loader(valid, valid.sizes, ebs, False, cfg, ctx, even_shards=False),
        test=bucket_loader(test, test.sizes, ebs, False, cfg, ctx, even_shards=False),
        task=task,
        fingerprint=fingerprint,
        mol_features=scaler,
    )
