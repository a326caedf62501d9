"""The pretraining loop: masked atom and bond attribute reconstruction on a SMILES corpus.

Each epoch trains on the corpus minus its held-out part, then scores the held-out part with
masks that are the same at every evaluation, so held-out losses compare across epochs. Writes
``<out_dir>/metrics.jsonl``, ``<out_dir>/best/`` (lowest held-out loss; the encoder under
``encoder.``, ready for ``model.init_from``) and ``<out_dir>/results.json``.

Built for resuming and data-parallel training: the batch order depends only on
``(seed, epoch)`` and each batch's masks only on ``(seed, epoch, batch index)``, so a run
restarted at a batch, or sharded over ranks by ``SizeBucketBatchSampler``, draws the same ones.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

import torch
from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from graphsep.config import Config, ModelConfig, config_to_dict
from graphsep.data.collate import GraphCollator
from graphsep.data.sampler import SizeBucketBatchSampler
from graphsep.errors import GraphsepError
from graphsep.nn.model import GraphTransformer
from graphsep.pretrain.corpus import PretrainCorpus, load_corpus, split_held_out
from graphsep.pretrain.heads import (
    AccuracyMeter,
    MaskedAttributeModel,
    atom_feature_weights,
    reconstruction_loss,
)
from graphsep.pretrain.masking import MaskSampler
from graphsep.training.checkpoint import save_checkpoint
from graphsep.training.models import init_encoder_from
from graphsep.training.optim import build_optimizer, warmup_cosine
from graphsep.training.runtime import prepare_out_dir, resolve_device, seed_everything

HELD_OUT_EPOCH = 0
"""Held-out masks are drawn as epoch 0 (training epochs count from 1): fixed across epochs."""


@dataclass
class PretrainData:
    """The corpus and its two loaders.

    Args:
        corpus (PretrainCorpus): every molecule of the cache.
        train (DataLoader): shuffled, size-bucketed batches of the training part.
        held_out (DataLoader): size-sorted batches of the held-out part.
    """

    corpus: PretrainCorpus
    train: DataLoader
    held_out: DataLoader


@dataclass
class HeldOutScores:
    """Reconstruction on the held-out part.

    Args:
        loss (float): mean total loss over batches.
        atom_loss (float): mean weighted atom loss.
        bond_loss (float): mean bond loss.
        accuracy (dict[str, float]): per feature, the fraction predicted right.
        majority (dict[str, float]): per feature, the accuracy of the most frequent class.
    """

    loss: float
    atom_loss: float
    bond_loss: float
    accuracy: dict[str, float]
    majority: dict[str, float]


def check_pretrain_config(cfg: Config) -> None:
    """Stop, before any work, on settings that pretraining cannot honour.

    Raises:
        GraphsepError: non-categorical or non-OGB features, ``resume=auto``, or a multi-process
            launch (both come with the distributed issue).
    """
    model = cfg.model
    if model.node_kind != "categorical" or model.edge_kind != "categorical":
        raise GraphsepError(
            "mode=pretrain reconstructs categorical OGB features: model.node_kind and "
            f"model.edge_kind must be 'categorical', got {model.node_kind!r}, {model.edge_kind!r}"
        )
    ogb = {"node_dims": get_atom_feature_dims(), "edge_dims": get_bond_feature_dims()}
    for key, dims in ogb.items():
        if list(getattr(model, key)) != dims:
            raise GraphsepError(
                f"mode=pretrain featurizes with OGB: model.{key} must be {dims}, "
                f"got {list(getattr(model, key))}"
            )
    if cfg.resume != "no":
        raise GraphsepError("resume=auto is not available with mode=pretrain yet; use resume=no")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise GraphsepError("mode=pretrain runs in one process for now, not under torchrun")


def build_pretrain_model(model_cfg: ModelConfig) -> MaskedAttributeModel:
    """Build the encoder of ``model_cfg`` with reconstruction heads for OGB's features."""
    encoder = GraphTransformer(**model_cfg.architecture())
    return MaskedAttributeModel(encoder, model_cfg.node_dims, model_cfg.edge_dims)


def _loader(
    corpus: PretrainCorpus, index: Tensor, batch_size: int, shuffle: bool, cfg: Config
) -> DataLoader:
    sampler = SizeBucketBatchSampler(corpus.sizes[index], batch_size, shuffle, seed=cfg.seed)
    return DataLoader(
        Subset(corpus, index.numpy()),  # 8 bytes per molecule, not a Python list
        batch_sampler=sampler,
        collate_fn=GraphCollator(cfg.model.max_hops),
        num_workers=cfg.data.num_workers,
    )


def load_pretrain_data(cfg: Config) -> PretrainData:
    """Featurize (or reuse the cache of) the corpus; split off the held-out part; loaders."""
    corpus = load_corpus(cfg.pretrain, progress=cfg.progress)
    train_index, held_index = split_held_out(
        len(corpus), cfg.pretrain.held_out_fraction, cfg.pretrain.held_out_max
    )
    return PretrainData(
        corpus=corpus,
        train=_loader(corpus, train_index, cfg.train.batch_size, True, cfg),
        held_out=_loader(corpus, held_index, cfg.train.eval_batch_size, False, cfg),
    )


def train_one_epoch(
    model: MaskedAttributeModel,
    loader: DataLoader,
    masks: MaskSampler,
    epoch: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
    atom_weights: Tensor,
    grad_clip: float,
    max_steps: int,
    progress: bool = True,
) -> tuple[float, int]:
    """Train one epoch (or ``max_steps`` steps); return the mean loss and the steps taken."""
    model.train()
    loader.batch_sampler.set_epoch(epoch)
    total, steps = 0.0, 0
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not progress)
    for batch_index, batch in enumerate(bar):
        if steps >= max_steps:
            break
        mask = masks(batch, epoch, batch_index).to(device)
        loss, _ = reconstruction_loss(model(batch.to(device), mask), atom_weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        total, steps = total + loss.item(), steps + 1
        bar.set_postfix(loss=f"{loss.item():.4f}")
    return total / max(steps, 1), steps


@torch.no_grad()
def evaluate(
    model: MaskedAttributeModel,
    loader: DataLoader,
    masks: MaskSampler,
    device: torch.device,
    atom_weights: Tensor,
) -> HeldOutScores:
    """Score reconstruction on ``loader`` with the fixed held-out masks, eval mode."""
    model.eval()
    meter = AccuracyMeter(model.atom_head.vocab_sizes, model.bond_head.vocab_sizes)
    losses = []
    for batch_index, batch in enumerate(loader):
        mask = masks(batch, HELD_OUT_EPOCH, batch_index).to(device)
        rec = model(batch.to(device), mask)
        loss, parts = reconstruction_loss(rec, atom_weights)
        losses.append(torch.cat([loss.detach().view(1), parts]).cpu())
        meter.update(rec)
    loss, atom, bond = torch.stack(losses).mean(0).tolist()
    return HeldOutScores(loss, atom, bond, meter.accuracy(), meter.majority())


def _log_line(epoch: int, loss: float, scores: HeldOutScores, seconds: float) -> str:
    acc, majority = scores.accuracy, scores.majority
    shown = ("atom_type", "bond_type")
    return (
        f"epoch {epoch:3d}  loss {loss:.4f}  held-out {scores.loss:.4f} "
        f"(atoms {scores.atom_loss:.4f}, bonds {scores.bond_loss:.4f})  "
        + "  ".join(f"{f} acc {acc[f]:.3f} (majority {majority[f]:.3f})" for f in shown)
        + f"  ({seconds:.1f}s)"
    )


def _checkpoint_meta(
    cfg: Config, epoch: int, scores: HeldOutScores, corpus: PretrainCorpus
) -> dict[str, Any]:
    return {
        "kind": "pretrain",
        "config": config_to_dict(cfg),
        "featurizer": "ogb.smiles2graph",
        "epoch": epoch,
        "scores": {"heldout_loss": scores.loss, "accuracy": scores.accuracy},
        "corpus": {k: corpus.manifest[k] for k in ("files", "rows", "molecules", "invalid")},
    }


def pretrain(cfg: Config) -> dict[str, Any]:
    """Pretrain the encoder by masked attribute reconstruction; return ``results.json``'s content.

    The results carry ``metric: heldout_loss`` with the best epoch's held-out loss under
    ``valid`` (the held-out part plays the validation set) and ``test`` NaN (there is none).

    Raises:
        GraphsepError: bad settings, corpus or ``model.init_from``, before training starts.
    """
    check_pretrain_config(cfg)
    out_dir = prepare_out_dir(cfg.out_dir)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    started = time.perf_counter()
    model = build_pretrain_model(cfg.model)
    if cfg.model.init_from:  # checked before the corpus is featurized
        init_encoder_from(model, cfg.model.init_from, cfg.model)
    model.to(device)
    data = load_pretrain_data(cfg)
    corpus = data.corpus
    tqdm.write(
        f"corpus: {corpus.manifest['rows']:,} rows, {len(corpus):,} molecules, "
        f"{corpus.manifest['invalid']:,} skipped (listed in {corpus.report}); "
        f"cache {corpus.bytes_per_molecule():.0f} B/molecule in {corpus.folder}"
    )

    steps_per_epoch = len(data.train)
    total_steps = steps_per_epoch * cfg.train.epochs
    if cfg.train.max_steps:
        total_steps = min(total_steps, cfg.train.max_steps)
    optimizer = build_optimizer(model, cfg.train.lr, cfg.train.weight_decay)
    warmup = min(int(cfg.train.warmup_epochs * steps_per_epoch), total_steps // 2)
    scheduler = warmup_cosine(optimizer, warmup, total_steps)
    masks = MaskSampler(cfg.pretrain.atom_mask_rate, cfg.pretrain.bond_mask_rate, cfg.seed)
    weights = atom_feature_weights(cfg.pretrain.atom_type_weight).to(device)

    metrics_path = out_dir / "metrics.jsonl"
    metrics_path.write_text("")
    best: tuple[int, HeldOutScores] | None = None
    step = 0
    for epoch in range(1, cfg.train.epochs + 1):
        start = time.perf_counter()
        loss, taken = train_one_epoch(
            model, data.train, masks, epoch, optimizer, scheduler, device, weights,
            cfg.train.grad_clip, total_steps - step, cfg.progress,
        )  # fmt: skip
        step += taken
        scores = evaluate(model, data.held_out, masks, device, weights)
        seconds = time.perf_counter() - start
        row = {
            "epoch": epoch, "step": step, "train_loss": loss, "heldout_loss": scores.loss,
            "heldout_atom_loss": scores.atom_loss, "heldout_bond_loss": scores.bond_loss,
            "accuracy": scores.accuracy, "lr": scheduler.get_last_lr()[0], "seconds": seconds,
        }  # fmt: skip
        with open(metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        tqdm.write(_log_line(epoch, loss, scores, seconds))
        if best is None or scores.loss < best[1].loss:
            best = (epoch, scores)
            meta = _checkpoint_meta(cfg, epoch, scores, corpus)
            save_checkpoint(out_dir / "best", model.state_dict(), meta)
        if step >= total_steps:
            break

    best_epoch, best_scores = best
    results = {
        "mode": "pretrain", "metric": "heldout_loss", "best_epoch": best_epoch,
        "valid": best_scores.loss, "test": float("nan"), "accuracy": best_scores.accuracy,
        "majority": best_scores.majority, "epochs_run": epoch, "steps": step,
        "molecules": len(corpus), "train_molecules": len(data.train.dataset),
        "heldout_molecules": len(data.held_out.dataset), "invalid": corpus.manifest["invalid"],
        "hours": (time.perf_counter() - started) / 3600, "norm": cfg.model.norm, "seed": cfg.seed,
    }  # fmt: skip
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    return results
