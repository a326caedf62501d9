"""Score molecules with a trained checkpoint: SMILES in, one row per molecule out, nothing lost.

:class:`Predictor` turns SMILES into task predictions (a probability per classification task, a
value in the original units per regression task) or [CLS] embeddings. A molecule that cannot be
scored gets an error message in its own row and never stops the others: the rules and reasons are
those of :func:`graphsep.molecules.featurize.featurize`, with two of prediction's own. A molecule
RDKit will not sanitize is refused with RDKit's reason, unless ``allow_unsanitized``, which scores
it leniently with a warning; a non-finite model output is an error, never an empty score. Molecules
are featurized in worker processes for large inputs, sorted by size and batched like training, so
that batches pad little; the output keeps the input order.

Tables stream through a predictor in :mod:`graphsep.predict.tables` (predictions) and
:mod:`graphsep.predict.embeddings` ([CLS] vectors); ``graphsep predict`` and ``graphsep embed``
(:mod:`graphsep.cli`) are built on them.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphsep.config import Config, config_from_dict
from graphsep.core.heads import ClsPredictor
from graphsep.core.precision import autocast
from graphsep.frontends.graph.batch import GraphBatch
from graphsep.frontends.graph.checks import ogb_feature_problems
from graphsep.frontends.graph.collate import collate_graphs
from graphsep.frontends.graph.encodings import structural_encodings
from graphsep.molecules.descriptors import FeatureScaler
from graphsep.molecules.featurize import (
    MIN_POOL_SIZE,
    MolGraph,
    SmilesError,
    featurize_chunks,
    unsanitized_message,
)
from graphsep.predict.routes import frontend_of, wrong_source
from graphsep.predict.scored import Scored, append_scores, score_columns
from graphsep.tasks.property.data import checkpoint_features
from graphsep.tasks.property.ensemble import load_members
from graphsep.tasks.property.model import build_predictor
from graphsep.tasks.property.spec import TaskSpec
from graphsep.training.checkpoint import Checkpoint, CheckpointError, load_weights
from graphsep.training.runtime import resolve_device
from graphsep.training.sampler import EVAL_PADDED_TOKENS, SizeBucketBatchSampler

DEFAULT_MAX_ATOMS = 256
"""Largest molecule scored. Checkpoints record no atom limit (the model has none: distances past
``model.graph.max_distance`` share one bucket), so this bounds memory instead: a batch holds
``(B, H, 1 + N, 1 + N)`` attention biases. The largest molecule of ogbg-molhiv has 183 atoms."""

DEFAULT_BATCH_SIZE = 64

DEFAULT_CHUNK_SIZE = 10_000
"""Rows read, featurized and sorted by size at a time: memory stays bounded for any input."""

NON_FINITE = "the model produced a non-finite value"


def _chunked(smiles: Sequence[object]) -> list[Sequence[object]]:
    """Cut a list in chunks, so that scoring one overlaps featurizing the next."""
    return [smiles[i : i + DEFAULT_CHUNK_SIZE] for i in range(0, len(smiles), DEFAULT_CHUNK_SIZE)]


def _column(frame: pd.DataFrame, name: str) -> list[object]:
    return frame[name].tolist()


def _to_data(graph: MolGraph, features: FeatureScaler | None) -> Data:
    ogb = graph.to_ogb_dict()
    data = Data(
        x=torch.from_numpy(ogb["node_feat"]),
        edge_index=torch.from_numpy(ogb["edge_index"]),
        edge_attr=torch.from_numpy(ogb["edge_feat"]),
        num_nodes=ogb["num_nodes"],
    )
    if features is not None:
        data.mol_features = torch.from_numpy(features.transform(graph.features.values[None]))
    return data


def feature_problems(graph: MolGraph | SmilesError) -> tuple[str, str]:
    """Return the error and warning of a molecule's whole-molecule features ("" if none).

    A feature set RDKit could not compute at all is an error: the model would see a train mean
    in place of the molecule. Single descriptors that are not finite are filled with the train
    mean, as in training, with a warning naming them.
    """
    if not isinstance(graph, MolGraph) or graph.features is None:
        return "", ""
    features = graph.features
    if features.failed:
        name, reason = next(iter(features.failed.items()))
        return f"cannot compute the molecular feature set {name!r}: {reason}", ""
    filled = sorted(label.split(":", 1)[1] for label in features.not_finite)
    if filled:
        return "", f"not finite, filled with the train mean: {', '.join(filled)}"
    return "", ""


def _property_model(ckpt: Checkpoint) -> tuple[ClsPredictor, Config]:
    """Build and load a finetuned property model of OGB-featurized molecules; its config.

    Raises:
        CheckpointError: not such a model, or a malformed ``meta.json``; the file is named.
    """
    meta_file = ckpt.path / "meta.json"
    if ckpt.meta.get("kind") != "property" or frontend_of(ckpt.meta) != "graph":
        raise CheckpointError(wrong_source(
            ckpt.meta, str(meta_file), "scoring SMILES needs a finetuned property model"
        ))  # fmt: skip
    try:
        # only the model and its head matter here: other sections may hold other versions' keys
        saved = ckpt.meta["config"]
        cfg = config_from_dict(
            {"model": saved["model"], "task": saved.get("task", {})}, str(meta_file), run=False
        )
        task = TaskSpec.from_dict(ckpt.meta["task"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{meta_file}: missing or malformed entry {err}") from err
    problems = ogb_feature_problems(cfg.model.graph)
    if problems:
        raise CheckpointError(
            f"{meta_file}: {'; '.join(problems)}: the model reads features that are "
            "not OGB's featurization of SMILES; scoring SMILES needs a model trained on "
            "OGB-featurized molecules (an ogbg-mol* config)"
        )
    model = build_predictor(cfg, task.num_tasks)
    load_weights(model, ckpt.state_dict, ckpt.path)
    return model, cfg


@contextlib.contextmanager
def _torch_threads(limit: int) -> Iterator[None]:
    """Run torch on at most ``limit`` threads, restoring the caller's setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, limit))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Predictor:
    """A trained property model that scores SMILES, row by row errors and warnings included.

    An ensemble (several members) scores the mean of its members' predictions, with the spread
    (standard deviation over members) of each task in a column ``<task>_std``; its [CLS]
    embedding is the members' side by side.

    Args:
        models (Sequence[ClsPredictor]): the model, or an ensemble's members; in eval mode here.
        task (TaskSpec): task names, type and target scaling of the checkpoint.
        max_hops (int): the model's ``max_hops``, for collation.
        max_atoms (int, optional): largest molecule scored. (default: ``DEFAULT_MAX_ATOMS``)
        batch_size (int, optional): molecules per forward pass, fewer for large molecules
            (``EVAL_PADDED_TOKENS``: 64 molecules up to 63 atoms, 7 of 183). (default: ``64``)
        processes (int | None, optional): worker processes that featurize the next chunk
            while the model scores this one (chunks of 2,000 molecules or more); None takes
            half the cores, 0 featurizes in this process. The model runs on the remaining cores:
            torch's threads are capped at that while scoring (oversubscribed OpenMP threads
            slow scoring many times over on a shared machine). (default: None)
        device (str | torch.device, optional): where the model runs. (default: ``"cpu"``)
        allow_unsanitized (bool, optional): score a molecule RDKit will not sanitize (featurized
            leniently, as for OGB's datasets) with a warning, instead of refusing it with RDKit's
            reason. (default: False)
        precision (str, optional): fp32, or bf16 / fp16 autocast; scores and embeddings stay
            float32. (default: ``"fp32"``)
        features (FeatureScaler | None, optional): the checkpoint's whole-molecule features
            and their train statistics, for a model trained with ``task.property.mol_features``.
            (default: None)
    """

    def __init__(
        self,
        models: Sequence[ClsPredictor],
        task: TaskSpec,
        max_hops: int,
        max_atoms: int = DEFAULT_MAX_ATOMS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        processes: int | None = None,
        device: str | torch.device = "cpu",
        allow_unsanitized: bool = False,
        precision: str = "fp32",
        features: FeatureScaler | None = None,
    ) -> None:
        if batch_size < 1 or max_atoms < 1:
            raise ValueError(f"batch_size ({batch_size}) and max_atoms ({max_atoms}) must be >= 1")
        cores = os.cpu_count() or 1
        self.device = torch.device(device)
        self.models = [model.to(self.device).eval() for model in models]
        self.task = task
        self.max_hops = max_hops
        self.max_atoms = max_atoms
        self.batch_size = batch_size
        self.processes = max(1, cores // 2) if processes is None else processes
        self.model_threads = max(1, cores - self.processes)
        self.allow_unsanitized = allow_unsanitized
        self.precision = precision
        self.features = features

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str = "auto",
        max_atoms: int = DEFAULT_MAX_ATOMS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        processes: int | None = None,
        allow_unsanitized: bool = False,
        precision: str = "fp32",
    ) -> Predictor:
        """Load a finetuned checkpoint folder (``<out_dir>/best``), or an ensemble's folder.

        Args:
            path (str | Path): the checkpoint folder, or the ``out_dir`` of a
                ``train.ensemble`` run (its ``ensemble.json`` lists the members).
            device (str, optional): ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
                (default: ``"auto"``)
            max_atoms (int, optional): see :class:`Predictor`. (default: ``256``)
            batch_size (int, optional): see :class:`Predictor`. (default: ``64``)
            processes (int | None, optional): see :class:`Predictor`. (default: None)
            allow_unsanitized (bool, optional): see :class:`Predictor`. (default: False)
            precision (str, optional): see :class:`Predictor`. (default: ``"fp32"``)

        Returns:
            Predictor: ready to score.

        Raises:
            CheckpointError: a missing, truncated, foreign or incompatible checkpoint, one that
                is not a finetuned property model, or ensemble members that disagree; the
                message names the file.
        """
        members = load_members(path)
        models = [_property_model(ckpt) for ckpt in members]
        cfg = models[0][1]
        features = checkpoint_features(members[0], cfg)
        task = TaskSpec.from_dict(members[0].meta["task"])
        device_ = resolve_device(device)
        return cls(
            [model for model, _ in models], task, cfg.model.graph.max_hops, max_atoms,
            batch_size, processes, device_, allow_unsanitized, precision, features,
        )  # fmt: skip

    def predict(self, smiles: Sequence[str]) -> pd.DataFrame:
        """Predict every task for each SMILES.

        Args:
            smiles (Sequence[str]): SMILES strings; blanks and None are reported, not scored.

        Returns:
            pd.DataFrame: one row per SMILES in input order; one float32 column per task name
            (a probability for classification, a value in the original units for regression;
            NaN where the row failed), ``error`` (empty string when scored, else the reason,
            e.g. ``cannot parse SMILES 'C1CC': unclosed ring for input: 'C1CC'``) and
            ``warning`` (empty string unless a molecule RDKit will not sanitize was scored under
            ``allow_unsanitized``: then RDKit's reason).
        """
        width = len(self.columns)
        runs = list(self._run(_chunked(smiles), list, self._predict_batch, width))
        values = np.concatenate([r.values for r in runs] or [np.empty((0, width), np.float32)])
        errors = [error for r in runs for error in r.errors]
        warnings = [warning for r in runs for warning in r.warnings]
        return score_columns(values, self.columns, errors, warnings)

    def predict_frames(
        self, frames: Iterable[pd.DataFrame], smiles_column: str = "smiles"
    ) -> Iterator[pd.DataFrame]:
        """Score a table chunk by chunk, featurizing the next chunk while this one is scored.

        Args:
            frames (Iterable[pd.DataFrame]): the table's chunks, e.g. from
                :func:`graphsep.predict.tables.read_chunks`.
            smiles_column (str, optional): the column holding the SMILES. (default: ``"smiles"``)

        Yields:
            pd.DataFrame: each chunk, every column kept, followed by :meth:`predict`'s columns;
            one whose name the chunk already uses gets the suffix ``_pred``.
        """
        smiles_of = functools.partial(_column, name=smiles_column)
        for scored in self._run(frames, smiles_of, self._predict_batch, len(self.columns)):
            yield append_scores(scored, self.columns)

    def embed(self, smiles: Sequence[str]) -> np.ndarray:
        """Return the [CLS] embedding of each SMILES, for clustering, similarity or other models.

        Args:
            smiles (Sequence[str]): SMILES strings.

        Returns:
            np.ndarray: ``(len(smiles), D)`` float32, in input order. A row that cannot be scored
            (:meth:`predict`'s ``error`` says why; a molecule RDKit will not sanitize unless
            ``allow_unsanitized``) is all NaN.
        """
        runs = self._run(_chunked(smiles), list, self._embed_batch, self.dim)
        return np.concatenate([r.values for r in runs] or [np.empty((0, self.dim), np.float32)])

    def embed_frames(
        self, frames: Iterable[pd.DataFrame], smiles_column: str = "smiles"
    ) -> Iterator[Scored]:
        """Embed a table chunk by chunk, featurizing the next chunk while this one is embedded.

        Args:
            frames (Iterable[pd.DataFrame]): the table's chunks, e.g. from
                :func:`graphsep.predict.tables.read_chunks`.
            smiles_column (str, optional): the column holding the SMILES. (default: ``"smiles"``)

        Yields:
            Scored: each chunk with its ``(n, D)`` [CLS] vectors (the rows of :meth:`embed`; NaN
            where the row failed), errors and warnings (as :meth:`predict` gives them).
        """
        smiles_of = functools.partial(_column, name=smiles_column)
        return self._run(frames, smiles_of, self._embed_batch, self.dim)

    @property
    def dim(self) -> int:
        """Width of the [CLS] embedding: ``D``, summed over an ensemble's members."""
        return sum(model.encoder.dim for model in self.models)

    @property
    def columns(self) -> list[str]:
        """The prediction columns: the task names, then ``<task>_std`` for an ensemble."""
        spreads = [f"{name}_std" for name in self.task.names] if len(self.models) > 1 else []
        return [*self.task.names, *spreads]

    def _predict_batch(self, batch: GraphBatch) -> Tensor:
        preds = torch.stack([self.task.predictions(m(batch)) for m in self.models])  # (M, B, T)
        if len(self.models) == 1:
            return preds[0]
        return torch.cat([preds.mean(0), preds.std(0, correction=0)], dim=-1)  # (B, 2T)

    def _embed_batch(self, batch: GraphBatch) -> Tensor:
        return torch.cat([model.embed(batch) for model in self.models], dim=-1)

    def _run(
        self,
        chunks: Iterable[Any],
        smiles_of: Callable[[Any], list[object]],
        score: Callable[[GraphBatch], Tensor],
        width: int,
    ) -> Iterator[Scored]:
        """Featurize and score chunk by chunk: ``width`` float32 values per row, NaN if failed."""
        for chunk, graphs in self._featurize(chunks, smiles_of):
            errors = [str(g) if isinstance(g, SmilesError) else "" for g in graphs]
            warnings = [
                unsanitized_message(g.unsanitized) if isinstance(g, MolGraph) and g.unsanitized
                else "" for g in graphs
            ]  # fmt: skip
            for i, (error, warning) in enumerate(map(feature_problems, graphs)):
                errors[i] = errors[i] or error
                warnings[i] = "; ".join(w for w in (warnings[i], warning) if w)
            good = [i for i, g in enumerate(graphs) if isinstance(g, MolGraph) and not errors[i]]
            values = np.full((len(graphs), width), np.nan, dtype=np.float32)
            if good:
                data = [_to_data(graphs[i], self.features) for i in good]
                with _torch_threads(self.model_threads):
                    values[good] = self._score(data, score)
            for i in np.flatnonzero(~np.isfinite(values[good]).all(axis=1)):
                # an empty score always comes with its reason: NaN or inf is no prediction
                values[good[i]] = np.nan
                errors[good[i]] = NON_FINITE
            yield Scored(chunk, values, errors, warnings)

    def _featurize(
        self, chunks: Iterable[Any], smiles_of: Callable[[Any], list[object]]
    ) -> Iterator[tuple[Any, list[MolGraph | SmilesError]]]:
        """Yield each chunk with its graphs or errors, the next chunk featurized meanwhile.

        Worker processes run when the first chunk holds ``MIN_POOL_SIZE`` SMILES or more; a
        whole chunk (the first one's size) is then in flight while this one is scored.
        """
        chunks = iter(chunks)
        first = next(chunks, None)
        if first is None:
            return
        size = len(smiles_of(first))
        workers = self.processes if size >= MIN_POOL_SIZE else 0
        mine, theirs = itertools.tee(itertools.chain([first], chunks))
        graphs = featurize_chunks(
            map(smiles_of, theirs), workers, window=size, max_atoms=self.max_atoms,
            allow_unsanitized=self.allow_unsanitized,
            mol_features=tuple(self.features.names) if self.features else (),
        )  # fmt: skip
        with contextlib.closing(graphs):
            yield from zip(mine, graphs, strict=True)

    @torch.inference_mode()
    def _score(self, graphs: list[Data], score: Callable[[GraphBatch], Tensor]) -> np.ndarray:
        """Score graphs in size-sorted batches; returns ``(len(graphs), width)`` in their order."""
        for graph, encoding in zip(graphs, structural_encodings(graphs), strict=True):
            graph.degree, graph.distance, graph.next_hop = encoding
        sizes = [g.num_nodes for g in graphs]
        parts, order = [], []
        budget = self.batch_size * EVAL_PADDED_TOKENS**2  # memory near a typical batch's
        batches = SizeBucketBatchSampler(
            sizes, self.batch_size, shuffle=False, max_padded_pairs=budget
        )
        for ids in batches:
            batch = collate_graphs([graphs[i] for i in ids], self.max_hops).to(self.device)
            with autocast(self.precision, self.device):
                parts.append(score(batch).float().cpu())
            order += ids
        out = torch.empty(len(graphs), parts[0].size(1))
        out[torch.tensor(order)] = torch.cat(parts)
        return out.numpy()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(tasks={self.task.names}, type={self.task.task_type!r}, "
            f"members={len(self.models)}, "
            f"max_atoms={self.max_atoms}, batch_size={self.batch_size}, "
            f"processes={self.processes}, device={str(self.device)!r}, "
            f"allow_unsanitized={self.allow_unsanitized})"
        )
