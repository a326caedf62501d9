"""Score molecules with a trained checkpoint: SMILES in, one row per molecule out, nothing lost.

:class:`Predictor` turns SMILES into task predictions (a probability per classification task, a
value in the original units per regression task) or [CLS] embeddings. A molecule that cannot be
scored gets an error message in its own row and never stops the others. Molecules are featurized
with OGB's features (:mod:`graphsep.data.featurize`) in a process pool for large inputs, sorted
by size and batched like training, so that batches pad little; the output keeps the input order.

:func:`predict_table` (:func:`read_chunks` then :func:`write_predictions`) streams a table of
any length through a predictor in bounded memory, writing a temporary file renamed into place;
``graphsep predict`` (:mod:`graphsep.cli`) is built on it.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import torch
from ogb.utils.features import allowable_features
from torch import Tensor
from torch_geometric.data import Data

from graphsep.config import config_from_dict
from graphsep.data.batch import GraphBatch
from graphsep.data.collate import collate_graphs
from graphsep.data.encodings import structural_encodings
from graphsep.data.featurize import SmilesError, mol_to_graph, parse_smiles
from graphsep.data.sampler import EVAL_PADDED_TOKENS, SizeBucketBatchSampler
from graphsep.data.table import DataError, file_row, require_columns, table_chunks
from graphsep.data.table import separator as _separator
from graphsep.nn.model import PropertyPredictor
from graphsep.training.checkpoint import CheckpointError, load_checkpoint
from graphsep.training.models import build_predictor, ogb_feature_problems
from graphsep.training.runtime import resolve_device
from graphsep.training.task import TaskSpec

DEFAULT_MAX_ATOMS = 256
"""Largest molecule scored. Checkpoints record no atom limit (the model has none: distances past
``model.max_distance`` share one bucket), so this bounds memory instead: a batch holds
``(B, H, 1 + N, 1 + N)`` attention biases. The largest molecule of ogbg-molhiv has 183 atoms."""

DEFAULT_BATCH_SIZE = 64

DEFAULT_CHUNK_SIZE = 10_000
"""Rows read, featurized and sorted by size at a time: memory stays bounded for any input."""

ERROR_COLUMN = "error"
MAX_SHOWN_FAILURES = 5  # failing rows a table's summary names
_MIN_POOL_SIZE = 2000  # below this many molecules a process pool costs more than it saves
_POOL_CHUNK = 256  # SMILES per task sent to a pool worker
_MISC_ELEMENT = len(allowable_features["possible_atomic_num_list"]) - 1  # OGB's "misc" index
_FLOAT_FORMAT = "%.6g"  # predictions are float32: six significant digits are all they hold


def featurize_row(smiles: object, max_atoms: int) -> dict[str, Any] | str:
    """OGB graph of one SMILES cell, or the reason it cannot be scored.

    Errors: an empty or missing cell; a SMILES RDKit cannot parse (RDKit's reason); a molecule
    with more than ``max_atoms`` atoms, or none; an atom whose element OGB's featurizer maps to its
    "misc" index, i.e. a wildcard or attachment point (``*``, ``[*:1]``), which no molecule in
    OGB's data holds. Every element 1-118 is in the vocabulary. Other features outside OGB's
    lists (a charge beyond +-5, a degree above 10) also map to "misc" but describe a real
    molecule, so they are scored as OGB would have featurized them.

    Args:
        smiles (object): the cell: a SMILES string, or None/NaN for a missing one.
        max_atoms (int): largest molecule accepted.

    Returns:
        dict[str, Any] | str: ``ogb.utils.smiles2graph``'s dict, or the error message.
    """
    text = smiles.strip() if isinstance(smiles, str) else ""
    if not text:
        return "empty SMILES"
    try:
        mol, _ = parse_smiles(text)
    except SmilesError as err:
        return str(err)
    graph = mol_to_graph(mol)
    if graph.num_nodes > max_atoms:
        return f"{graph.num_nodes} atoms, more than max_atoms={max_atoms}"
    if graph.num_nodes == 0:
        return "no atoms"
    misc = np.flatnonzero(graph.node_feat[:, 0] == _MISC_ELEMENT)
    if misc.size:
        atom = mol.GetAtomWithIdx(int(misc[0]))
        return (
            f"atom {atom.GetIdx()} ({atom.GetSymbol()}) is not an element of the featurizer's "
            "vocabulary (wildcard or attachment point)"
        )
    return graph.to_ogb_dict()


def _featurize_rows(smiles: Sequence[object], max_atoms: int) -> list[dict[str, Any] | str]:
    return [featurize_row(s, max_atoms) for s in smiles]


def _chunked(smiles: Sequence[object]) -> list[Sequence[object]]:
    """Cut a list in chunks, so that scoring one overlaps featurizing the next."""
    return [smiles[i : i + DEFAULT_CHUNK_SIZE] for i in range(0, len(smiles), DEFAULT_CHUNK_SIZE)]


def _column(frame: pd.DataFrame, name: str) -> list[object]:
    return frame[name].tolist()


def _to_data(graph: dict[str, Any]) -> Data:
    return Data(
        x=torch.from_numpy(graph["node_feat"]),
        edge_index=torch.from_numpy(graph["edge_index"]),
        edge_attr=torch.from_numpy(graph["edge_feat"]),
        num_nodes=graph["num_nodes"],
    )


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
    """A trained property model that scores SMILES, row by row errors included.

    Args:
        model (PropertyPredictor): the model; put in eval mode here.
        task (TaskSpec): task names, type and target scaling of the checkpoint.
        max_hops (int): the model's ``max_hops``, for collation.
        max_atoms (int, optional): largest molecule scored. (default: ``DEFAULT_MAX_ATOMS``)
        batch_size (int, optional): molecules per forward pass, fewer for large molecules
            (``EVAL_PADDED_TOKENS``: 64 molecules up to 63 atoms, 7 of 183). (default: ``64``)
        processes (int | None, optional): worker processes that featurize the next chunk
            while the model scores this one (chunks of 2,000 molecules or more); None takes
            half the cores, 0 featurizes in this process. The model runs on the remaining cores:
            torch's threads are capped at that while scoring (oversubscribed OpenMP threads
            made scoring 18x slower on a shared 2-core machine). (default: None)
        device (str | torch.device, optional): where the model runs. (default: ``"cpu"``)
    """

    def __init__(
        self,
        model: PropertyPredictor,
        task: TaskSpec,
        max_hops: int,
        max_atoms: int = DEFAULT_MAX_ATOMS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        processes: int | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if batch_size < 1 or max_atoms < 1:
            raise ValueError(f"batch_size ({batch_size}) and max_atoms ({max_atoms}) must be >= 1")
        cores = os.cpu_count() or 1
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.task = task
        self.max_hops = max_hops
        self.max_atoms = max_atoms
        self.batch_size = batch_size
        self.processes = max(1, cores // 2) if processes is None else processes
        self.model_threads = max(1, cores - self.processes)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str = "auto",
        max_atoms: int = DEFAULT_MAX_ATOMS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        processes: int | None = None,
    ) -> Predictor:
        """Load a finetuned checkpoint folder (``<out_dir>/best``) for scoring.

        Args:
            path (str | Path): the checkpoint folder.
            device (str, optional): ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
                (default: ``"auto"``)
            max_atoms (int, optional): see :class:`Predictor`. (default: ``256``)
            batch_size (int, optional): see :class:`Predictor`. (default: ``64``)
            processes (int | None, optional): see :class:`Predictor`. (default: None)

        Returns:
            Predictor: ready to score.

        Raises:
            CheckpointError: a missing, truncated, foreign or incompatible checkpoint, or one
                that is not a finetuned property model; the message names the file.
        """
        ckpt = load_checkpoint(path)
        meta_file = ckpt.path / "meta.json"
        if ckpt.meta.get("kind") != "property":
            raise CheckpointError(
                f"{meta_file}: a {ckpt.meta.get('kind', 'unknown')!r} checkpoint; scoring needs a "
                "finetuned property model (kind 'property', as train.py writes to <out_dir>/best)"
            )
        try:
            # only the architecture matters here: other sections may hold other versions' keys
            cfg = config_from_dict({"model": ckpt.meta["config"]["model"]}, str(meta_file))
            task = TaskSpec(**ckpt.meta["task"])
        except (KeyError, TypeError) as err:
            raise CheckpointError(f"{meta_file}: missing or malformed entry {err}") from err
        problems = ogb_feature_problems(cfg.model)
        if problems:
            raise CheckpointError(
                f"{meta_file}: {'; '.join(problems)}: the model reads features that are "
                "not OGB's featurization of SMILES; scoring SMILES needs a model trained on "
                "OGB-featurized molecules (an ogbg-mol* config)"
            )
        model = build_predictor(cfg.model, task.num_tasks)
        try:
            model.load_state_dict(ckpt.state_dict)
        except RuntimeError as err:
            raise CheckpointError(
                f"{ckpt.path}: the weights do not fit the model its meta.json describes: "
                f"{str(err).splitlines()[0]}"
            ) from err
        device_ = resolve_device(device)
        return cls(model, task, cfg.model.max_hops, max_atoms, batch_size, processes, device_)

    def predict(self, smiles: Sequence[str]) -> pd.DataFrame:
        """Predict every task for each SMILES.

        Args:
            smiles (Sequence[str]): SMILES strings; blanks and None are reported, not scored.

        Returns:
            pd.DataFrame: one row per SMILES in input order; one float32 column per task name
            (a probability for classification, a value in the original units for regression;
            NaN where the row failed) and ``error`` (empty string when scored, else the reason,
            e.g. ``cannot parse SMILES 'C1CC': unclosed ring for input: 'C1CC'``).
        """
        width = self.task.num_tasks
        runs = self._run(_chunked(smiles), list, self._predict_batch, width)
        parts = [(values, errors) for _, values, errors in runs]
        values = np.concatenate([v for v, _ in parts] or [np.empty((0, width), np.float32)])
        return self._frame(values, [error for _, errors in parts for error in errors])

    def predict_frames(
        self, frames: Iterable[pd.DataFrame], smiles_column: str = "smiles"
    ) -> Iterator[pd.DataFrame]:
        """Score a table chunk by chunk, featurizing the next chunk while this one is scored.

        Args:
            frames (Iterable[pd.DataFrame]): the table's chunks, e.g. from :func:`read_chunks`.
            smiles_column (str, optional): the column holding the SMILES. (default: ``"smiles"``)

        Yields:
            pd.DataFrame: each chunk, every column kept, followed by :meth:`predict`'s columns;
            one whose name the chunk already uses gets the suffix ``_pred``.
        """
        smiles_of = functools.partial(_column, name=smiles_column)
        for frame, values, errors in self._run(
            frames, smiles_of, self._predict_batch, self.task.num_tasks
        ):
            scored = self._frame(values, errors, taken=set(frame.columns))
            yield pd.concat([frame.reset_index(drop=True), scored], axis=1)

    def embed(self, smiles: Sequence[str]) -> np.ndarray:
        """Return the [CLS] embedding of each SMILES, for clustering, similarity or other models.

        Args:
            smiles (Sequence[str]): SMILES strings.

        Returns:
            np.ndarray: ``(len(smiles), D)`` float32, in input order. A row that cannot be scored
            (:meth:`predict`'s ``error`` says why) is all NaN.
        """
        dim = self.model.encoder.dim
        runs = self._run(_chunked(smiles), list, self.model.embed, dim)
        return np.concatenate([values for _, values, _ in runs] or [np.empty((0, dim), np.float32)])

    def _predict_batch(self, batch: GraphBatch) -> Tensor:
        return self.task.predictions(self.model(batch))

    def _frame(
        self, values: np.ndarray, errors: list[str], taken: Collection[str] = ()
    ) -> pd.DataFrame:
        """Task columns and ``error``, each name suffixed with ``_pred`` while ``taken``."""
        names = []
        for name in [*self.task.names, ERROR_COLUMN]:
            while name in taken or name in names:
                name += "_pred"
            names.append(name)
        frame = pd.DataFrame(values, columns=names[:-1])
        frame[names[-1]] = errors
        return frame

    def _run(
        self,
        chunks: Iterable[Any],
        smiles_of: Callable[[Any], list[object]],
        score: Callable[[GraphBatch], Tensor],
        width: int,
    ) -> Iterator[tuple[Any, np.ndarray, list[str]]]:
        """Per chunk: the chunk, its ``(n, width)`` float32 scores (NaN where failed), errors."""
        with _FeaturizePool(self.processes, self.max_atoms) as pool:
            for chunk, graphs in pool.featurize(chunks, smiles_of):
                errors = [g if isinstance(g, str) else "" for g in graphs]
                good = [i for i, g in enumerate(graphs) if not isinstance(g, str)]
                values = np.full((len(graphs), width), np.nan, dtype=np.float32)
                if good:
                    with _torch_threads(self.model_threads):
                        values[good] = self._score([_to_data(graphs[i]) for i in good], score)
                yield chunk, values, errors

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
            parts.append(score(batch).float().cpu())
            order += ids
        out = torch.empty(len(graphs), parts[0].size(1))
        out[torch.tensor(order)] = torch.cat(parts)
        return out.numpy()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(tasks={self.task.names}, type={self.task.task_type!r}, "
            f"max_atoms={self.max_atoms}, batch_size={self.batch_size}, "
            f"processes={self.processes}, device={str(self.device)!r})"
        )


class _FeaturizePool:
    """Featurize chunks of SMILES one chunk ahead, in a process pool when the chunk is large."""

    def __init__(self, processes: int, max_atoms: int) -> None:
        self.processes = processes
        self.max_atoms = max_atoms
        self.pool: Pool | None = None

    def __enter__(self) -> _FeaturizePool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def featurize(
        self, chunks: Iterable[Any], smiles_of: Callable[[Any], list[object]]
    ) -> Iterator[tuple[Any, list[dict[str, Any] | str]]]:
        """Yield each chunk with its graphs or errors, the next chunk already submitted."""
        pending = None
        for chunk in chunks:
            submitted = (chunk, self._submit(smiles_of(chunk)))
            if pending is not None:
                yield pending[0], _collect(pending[1])
            pending = submitted
        if pending is not None:
            yield pending[0], _collect(pending[1])

    def _submit(self, smiles: list[object]) -> AsyncResult | list[dict[str, Any] | str]:
        if self.processes < 1 or len(smiles) < _MIN_POOL_SIZE:
            return _featurize_rows(smiles, self.max_atoms)
        if self.pool is None:
            self.pool = multiprocessing.Pool(self.processes)
        parts = [smiles[i : i + _POOL_CHUNK] for i in range(0, len(smiles), _POOL_CHUNK)]
        return self.pool.starmap_async(_featurize_rows, [(p, self.max_atoms) for p in parts])


def _collect(pending: AsyncResult | list[dict[str, Any] | str]) -> list[dict[str, Any] | str]:
    if isinstance(pending, AsyncResult):
        return [graph for part in pending.get() for graph in part]
    return pending


@dataclass
class Summary:
    """Counts of one table's predictions, and the first failures to show the user.

    Args:
        predicted (int): rows scored.
        failed (int): rows with an error.
        first_failures (list[str]): up to ``MAX_SHOWN_FAILURES`` ``row N of FILE: reason``.
    """

    predicted: int = 0
    failed: int = 0
    first_failures: list[str] = field(default_factory=list)


def read_chunks(
    source: str, smiles_column: str = "smiles", chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[pd.DataFrame]:
    """Stream a csv/tsv table (``-`` reads stdin) in chunks, every cell kept as its text.

    The table is read and checked by :func:`graphsep.data.table.table_chunks`, as
    ``graphsep data build`` reads it. The file is only read, never modified.

    Args:
        source (str): the table's path, or ``-`` for stdin.
        smiles_column (str, optional): the column that must hold the SMILES.
            (default: ``"smiles"``)
        chunk_size (int, optional): rows per chunk. (default: ``10000``)

    Yields:
        pd.DataFrame: chunks of string columns, in file order.

    Raises:
        DataError: what :func:`~graphsep.data.table.table_chunks` refuses, or no
            ``smiles_column`` (the message lists the columns present).
    """
    name = "stdin" if source == "-" else source
    for chunk in table_chunks(source, chunk_size):
        require_columns(chunk.columns, [smiles_column], "SMILES", name)
        yield chunk


def _reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err).strip().splitlines()[0]


def write_predictions(
    predictor: Predictor,
    frames: Iterable[pd.DataFrame],
    destination: str,
    smiles_column: str = "smiles",
    source_name: str = "input",
) -> Summary:
    """Score a table chunk by chunk and write every row with its predictions, in order.

    Each output row is its input row (all columns, as text) followed by the task columns and
    ``error`` (see :meth:`Predictor.predict_frames`). A file is written to a temporary file in its
    folder and renamed once complete, so a crash never leaves a partial table under the
    destination's name; ``-`` writes to stdout as it goes.

    Args:
        predictor (Predictor): the model.
        frames (Iterable[pd.DataFrame]): the table's chunks, e.g. from :func:`read_chunks`.
        destination (str): output csv/tsv path (compressed by extension), or ``-``.
        smiles_column (str, optional): the SMILES column. (default: ``"smiles"``)
        source_name (str, optional): the input's name in failure lines. (default: ``"input"``)

    Returns:
        Summary: rows predicted and failed, and the first failures.

    Raises:
        DataError: the destination cannot be written, or the input cannot be read (the
            destination is then left as it was).
    """
    summary = Summary()
    error_column = None
    with _output(destination) as write:
        for out in predictor.predict_frames(frames, smiles_column):
            error_column = error_column or out.columns[-1]  # "error", or "error_pred" on a clash
            _count(summary, out[error_column], source_name)
            write(out)
    return summary


def _count(summary: Summary, errors: pd.Series, source_name: str) -> None:
    offset = summary.predicted + summary.failed
    failed = np.flatnonzero(errors.to_numpy() != "")
    for i in failed[: MAX_SHOWN_FAILURES - len(summary.first_failures)]:
        row = file_row(offset + int(i))
        summary.first_failures.append(f"row {row:,} of {source_name}: {errors.iloc[i]}")
    summary.failed += len(failed)
    summary.predicted += len(errors) - len(failed)


class _TableWriter:
    """Append chunks to one csv/tsv target, the header with the first chunk."""

    def __init__(self, target: Path | IO[str], name: str) -> None:
        self.target = target
        self.sep = _separator(name)
        self.first = True

    def __call__(self, frame: pd.DataFrame) -> None:
        frame.to_csv(
            self.target, mode="w" if self.first else "a", header=self.first, index=False,
            sep=self.sep, float_format=_FLOAT_FORMAT,
        )  # fmt: skip
        self.first = False


@contextlib.contextmanager
def _output(destination: str) -> Iterator[_TableWriter]:
    """Yield a chunk writer: to stdout, or to a temporary file renamed into place on success."""
    if destination == "-":
        yield _TableWriter(sys.stdout, destination)
        return
    path = Path(destination)
    if path.is_dir():
        raise DataError(f"cannot write {destination}: it is a folder; name a file in it")
    try:
        # the suffix keeps the destination's extension, which sets the compression
        fd, tmp_name = tempfile.mkstemp(prefix=".", suffix=f".{path.name}", dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise DataError(f"cannot write {destination}: {_reason(err)}") from None
    tmp = Path(tmp_name)
    try:
        yield _TableWriter(tmp, destination)
        os.replace(tmp, path)
    except OSError as err:
        raise DataError(f"cannot write {destination}: {_reason(err)}") from None
    finally:
        tmp.unlink(missing_ok=True)


def predict_table(
    predictor: Predictor,
    source: str,
    destination: str,
    smiles_column: str = "smiles",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Summary:
    """Score a csv/tsv table into another, streaming it in chunks (``-``: stdin, stdout).

    Args:
        predictor (Predictor): the model.
        source (str): input table, or ``-``; never modified.
        destination (str): output table, or ``-``; see :func:`write_predictions`.
        smiles_column (str, optional): the SMILES column. (default: ``"smiles"``)
        chunk_size (int, optional): rows per chunk; memory grows with it, not with the
            table. (default: ``10000``)

    Returns:
        Summary: rows predicted and failed, and the first failures.

    Raises:
        DataError: see :func:`read_chunks` and :func:`write_predictions`; also when the
            destination is the source file.
    """
    if "-" not in (source, destination) and _same_file(source, destination):
        raise DataError(f"the output {destination} is the input file: choose another output")
    frames = read_chunks(source, smiles_column, chunk_size)
    name = "stdin" if source == "-" else source
    return write_predictions(predictor, frames, destination, smiles_column, name)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
