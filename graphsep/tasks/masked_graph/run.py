"""The pretraining loop: masked atom and bond attribute reconstruction on a SMILES corpus.

Each epoch trains on the corpus minus its held-out part, then scores the held-out part with
masks that are the same at every evaluation, so held-out losses compare across epochs. Writes
``<out_dir>/metrics.jsonl``, ``<out_dir>/best/`` (lowest held-out loss; the encoder under
``encoder.``, ready for ``model.init_from``) and ``<out_dir>/results.json``.

Runs on the shared engine (:mod:`graphsep.training.engine`), so it resumes exactly and runs
under ``torchrun``: the batch order depends only on ``(seed, epoch)`` and each batch's masks
only on ``(seed, epoch, global batch index)``, so a run restarted at a batch, or sharded over
ranks by ``SizeBucketBatchSampler``, draws the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from graphsep.config import Config, ModelConfig
from graphsep.errors import GraphsepError
from graphsep.frontends.graph.checks import featurizer_of, ogb_feature_problems
from graphsep.frontends.graph.frontend import graph_encoder
from graphsep.molecules.corpus import PretrainCorpus, load_corpus, split_held_out
from graphsep.tasks.masked_graph.heads import (
    AccuracyMeter,
    MaskedAttributeModel,
    atom_feature_weights,
    reconstruction_loss,
)
from graphsep.tasks.masked_graph.masking import MaskSampler
from graphsep.tasks.property.data import bucket_loader
from graphsep.training.distributed import (
    DistContext,
    barrier,
    gather_from_ranks,
    init_distributed,
    per_rank_batch_size,
    shutdown,
)
from graphsep.training.engine import Evaluation, TrainingRun, lower_is_better
from graphsep.training.init import init_encoder_from

HELD_OUT_EPOCH = 0
"""Held-out masks are drawn as epoch 0 (training epochs count from 1): fixed across epochs."""


@dataclass
class PretrainData:
    """The corpus and its two loaders.

    Args:
        corpus (PretrainCorpus): every molecule of the cache.
        train (DataLoader): shuffled batches of the training part (``data.*`` sets their
            bucketing and chunks, as in finetuning).
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
        GraphsepError: non-categorical or non-OGB features.
    """
    problems = ogb_feature_problems(cfg.model.graph)
    if problems:
        raise GraphsepError(
            f"task.name=masked_graph reconstructs OGB's features: {'; '.join(problems)}"
        )


def build_pretrain_model(model_cfg: ModelConfig) -> MaskedAttributeModel:
    """Build the encoder of ``model_cfg`` with reconstruction heads for OGB's features."""
    encoder = graph_encoder(model_cfg.core, model_cfg.graph)
    return MaskedAttributeModel(encoder, model_cfg.graph.node_dims, model_cfg.graph.edge_dims)


def _subset_loader(
    corpus: PretrainCorpus,
    index: Tensor,
    batch_size: int,
    shuffle: bool,
    cfg: Config,
    ctx: DistContext | None = None,
    chunks: int = 1,
) -> DataLoader:
    subset = Subset(corpus, index.numpy())  # 8 bytes per molecule, not a Python list
    # training shards are evened out by repetition; held-out ones must not count a graph twice
    sizes = corpus.sizes[index]
    masking = cfg.task.masked_graph
    masks = MaskSampler(masking.atom_mask_rate, masking.bond_mask_rate, cfg.seed)
    # masks are drawn at collation, from (seed, epoch, position) alone; shortest-path ties
    # broken by the true bond features would hint at the masked ones, so they go by atom index
    loader = bucket_loader(
        subset, sizes, batch_size, shuffle, cfg, ctx, chunks, even_shards=shuffle,
        canonical_paths=False, draw=masks,
    )  # fmt: skip
    if not shuffle:
        loader.batch_sampler.set_epoch(HELD_OUT_EPOCH)  # the same masks at every evaluation
    return loader


def load_pretrain_data(cfg: Config, ctx: DistContext | None = None) -> PretrainData:
    """Featurize (or reuse the cache of) the corpus; split off the held-out part; loaders.

    Under DDP the main rank featurizes the corpus first; each rank then trains on its shard of
    every epoch's batches and scores its share of the held-out batches.
    """
    ctx = ctx or DistContext(0, 1, torch.device("cpu"))
    if ctx.is_main:  # featurize and cache once, before other ranks read
        corpus = load_corpus(cfg.data.corpus, progress=cfg.progress)
    barrier(ctx)
    if not ctx.is_main:
        corpus = load_corpus(cfg.data.corpus, progress=False)
    train_index, held_index = split_held_out(
        len(corpus), cfg.data.corpus.held_out_fraction, cfg.data.corpus.held_out_max
    )
    train_bs = per_rank_batch_size(cfg.train.batch_size, ctx)
    return PretrainData(
        corpus=corpus,
        train=_subset_loader(corpus, train_index, train_bs, True, cfg, ctx, cfg.data.batch_chunks),
        held_out=_subset_loader(corpus, held_index, cfg.train.eval_batch_size, False, cfg, ctx),
    )


@torch.no_grad()
def evaluate(
    model: MaskedAttributeModel,
    loader: DataLoader,
    device: torch.device,
    atom_weights: Tensor,
    ctx: DistContext | None = None,
) -> HeldOutScores:
    """Score reconstruction on ``loader``'s batches, masked as collated (held-out: fixed), eval.

    Under DDP (``ctx``) each rank scores its share of the batches (``loader`` sharded without
    repeats) and every rank returns the scores of the whole.
    """
    ctx = ctx or DistContext(0, 1, device)
    model.eval()
    meter = AccuracyMeter(model.atom_head.vocab_sizes, model.bond_head.vocab_sizes)
    losses = []
    for batch in loader:
        rec = model(batch.to(device, non_blocking=True))
        loss, parts = reconstruction_loss(rec, atom_weights)
        losses.append(torch.cat([loss.detach().view(1), parts]).cpu())
        meter.update(rec)
    shares = gather_from_ranks((losses, meter), ctx)
    losses = [row for rank_losses, _ in shares for row in rank_losses]
    meter = AccuracyMeter.merged([rank_meter for _, rank_meter in shares])
    loss, atom, bond = torch.stack(losses).mean(0).tolist()
    return HeldOutScores(loss, atom, bond, meter.accuracy(), meter.majority())


def _log_line(scores: HeldOutScores) -> str:
    acc, majority = scores.accuracy, scores.majority
    shown = ("atom_type", "bond_type")
    return (
        f"held-out {scores.loss:.4f} (atoms {scores.atom_loss:.4f}, bonds {scores.bond_loss:.4f})"
        + "".join(f"  {f} acc {acc[f]:.3f} (majority {majority[f]:.3f})" for f in shown)
    )


class PretrainRun(TrainingRun):
    """Pretraining by masked atom and bond attribute reconstruction on a SMILES corpus.

    Args:
        cfg (Config): the run's config (``task.name=masked_graph``).
        ctx (DistContext): this process's place in a (possibly single-process) DDP run.
    """

    kind = "pretrain"
    # a batch without a masked bond leaves the bond head without a gradient
    find_unused_parameters = True

    def build(self) -> tuple[nn.Module, DataLoader]:
        """Check the settings and ``model.init_from``, then featurize the corpus."""
        cfg = self.cfg
        check_pretrain_config(cfg)
        model = build_pretrain_model(cfg.model)
        if cfg.model.init_from and not self.resuming:  # checked before the corpus is featurized
            init_encoder_from(model, cfg.model.init_from, cfg.model)
        self.data = load_pretrain_data(cfg, self.ctx)
        corpus = self.data.corpus
        if self.ctx.is_main:
            tqdm.write(
                f"corpus: {corpus.manifest['rows']:,} rows, {len(corpus):,} molecules, "
                f"{corpus.manifest['invalid']:,} skipped (listed in {corpus.report}); "
                f"cache {corpus.bytes_per_molecule():.0f} B/molecule in {corpus.folder}"
            )
        weights = atom_feature_weights(cfg.task.masked_graph.atom_type_weight)
        self.atom_weights = weights.to(self.ctx.device)
        return model, self.data.train

    def data_fingerprint(self) -> dict[str, Any]:
        """Return the corpus cache (named by a hash of its files' paths, sizes, times), split."""
        return {
            "corpus_cache": self.data.corpus.folder.name,
            "split_sizes": {"train": len(self.data.train.dataset),
                            "held_out": len(self.data.held_out.dataset)},
        }  # fmt: skip

    def batch_loss(self, batch: Any) -> Tensor:
        """Reconstruction loss of one batch under the masks collation drew for it."""
        batch = batch.to(self.ctx.device, non_blocking=True)
        loss, _ = reconstruction_loss(self.trained(batch), self.atom_weights)
        return loss

    def evaluate(self, epoch: int) -> Evaluation:
        """Reconstruction on the held-out part with fixed masks; its loss selects the best."""
        scores = evaluate(
            self.model,
            self.data.held_out,
            self.ctx.device,
            self.atom_weights,
            self.ctx,
        )
        row = {
            "heldout_loss": scores.loss, "heldout_atom_loss": scores.atom_loss,
            "heldout_bond_loss": scores.bond_loss, "accuracy": scores.accuracy,
            "majority": scores.majority,
        }  # fmt: skip
        return Evaluation(
            monitored=scores.loss,
            row=row,
            line=_log_line(scores),
            scores={"heldout_loss": scores.loss, "accuracy": scores.accuracy},
        )

    def is_better(self, value: float, best: float | None) -> bool:
        """Lower held-out loss is better; a NaN loss never is, and a NaN best always loses."""
        return lower_is_better(value, best)

    def meta(self, **extra: Any) -> dict[str, Any]:
        """Config, featurizer and the corpus the encoder was pretrained on."""
        manifest = self.data.corpus.manifest
        corpus = {k: manifest[k] for k in ("files", "rows", "molecules", "invalid")}
        return super().meta(featurizer=featurizer_of(self.cfg.model.graph), corpus=corpus, **extra)

    def results(self, best: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Return the best epoch's held-out loss and accuracies, and the corpus sizes."""
        return {
            "task": "masked_graph", "metric": "heldout_loss", "valid": best["heldout_loss"],
            "accuracy": best["accuracy"], "majority": best["majority"],
            "molecules": len(self.data.corpus), "train_molecules": len(self.data.train.dataset),
            "heldout_molecules": len(self.data.held_out.dataset),
            "invalid": self.data.corpus.manifest["invalid"], **super().results(best, rows),
        }  # fmt: skip


def pretrain(cfg: Config) -> dict[str, Any]:
    """Pretrain the encoder by masked attribute reconstruction; return ``results.json``'s content.

    The results carry ``metric: heldout_loss`` with the best epoch's held-out loss under
    ``valid`` (the held-out part plays the validation set). Under ``torchrun`` every rank calls
    this; only rank 0 writes files and returns results.

    Raises:
        GraphsepError: bad settings, corpus or ``model.init_from``, before training starts.
    """
    ctx = init_distributed(cfg.device)
    try:
        return PretrainRun(cfg, ctx).fit()
    finally:
        shutdown(ctx)
