"""Score molecules with a trained checkpoint: SMILES in, one row per molecule out, nothing lost.

:class:`Predictor` turns SMILES into task predictions (a probability per classification task, a
value in the original units per regression task) or [CLS] embeddings. A molecule that cannot be
scored gets an error message in its own row and never stops the others: the rules and reasons are
those of :func:`graphsep.molecules.featurize.featurize`, with two of prediction's own. A molecule
RDKit will not sanitize is refused with RDKit's reason, unless ``allow_unsanitized``, which scores
it leniently with a warning; a non-finite model output is an error, never an empty score. Molecules
are featurized in worker processes for large inputs, sorted by size and batched like training, so
that batches pad little; the output keeps the input order.

:func:`predict_table` (:func:`read_chunks` then :func:`write_predictions`) streams a table of
any length through a predictor in bounded memory, writing a temporary file renamed into place;
``graphsep predict`` (:mod:`graphsep.cli.main`) is built on it.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import gzip
import io
import itertools
import lzma
import os
import sys
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphsep.config import config_from_dict
from graphsep.core.heads import ClsPredictor
from graphsep.files import publish, temporary_sibling, write_failure
from graphsep.frontends.graph.batch import GraphBatch
from graphsep.frontends.graph.checks import ogb_feature_problems
from graphsep.frontends.graph.collate import collate_graphs
from graphsep.frontends.graph.encodings import structural_encodings
from graphsep.molecules.featurize import (
    MIN_POOL_SIZE,
    MolGraph,
    SmilesError,
    featurize_chunks,
    unsanitized_message,
)
from graphsep.molecules.table import DataError, file_row, require_columns, table_chunks
from graphsep.molecules.table import separator as _separator
from graphsep.tasks.property.model import build_predictor
from graphsep.tasks.property.spec import TaskSpec
from graphsep.training.checkpoint import CheckpointError, load_checkpoint, load_weights
from graphsep.training.runtime import resolve_device
from graphsep.training.sampler import EVAL_PADDED_TOKENS, SizeBucketBatchSampler

DEFAULT_MAX_ATOMS = 256
"""Largest molecule scored. Checkpoints record no atom limit (the model has none: distances past
``model.graph.max_distance`` share one bucket), so this bounds memory instead: a batch holds
``(B, H, 1 + N, 1 + N)`` attention biases. The largest molecule of ogbg-molhiv has 183 atoms."""

DEFAULT_BATCH_SIZE = 64

DEFAULT_CHUNK_SIZE = 10_000
"""Rows read, featurized and sorted by size at a time: memory stays bounded for any input."""

ERROR_COLUMN = "error"
WARNING_COLUMN = "warning"
NON_FINITE = "the model produced a non-finite value"
MAX_SHOWN_FAILURES = 5  # failing rows a table's summary names
_FLOAT_FORMAT = "%.6g"  # predictions are float32: six significant digits are all they hold


def _chunked(smiles: Sequence[object]) -> list[Sequence[object]]:
    """Cut a list in chunks, so that scoring one overlaps featurizing the next."""
    return [smiles[i : i + DEFAULT_CHUNK_SIZE] for i in range(0, len(smiles), DEFAULT_CHUNK_SIZE)]


def _column(frame: pd.DataFrame, name: str) -> list[object]:
    return frame[name].tolist()


def _to_data(graph: MolGraph) -> Data:
    ogb = graph.to_ogb_dict()
    return Data(
        x=torch.from_numpy(ogb["node_feat"]),
        edge_index=torch.from_numpy(ogb["edge_index"]),
        edge_attr=torch.from_numpy(ogb["edge_feat"]),
        num_nodes=ogb["num_nodes"],
    )


class _Scored(NamedTuple):
    """One chunk's outcome.

    Args:
        chunk (Any): the chunk as given (a list of SMILES, or a table's frame).
        values (np.ndarray): ``(n, width)`` float32 scores, NaN where the row failed.
        errors (list[str]): per row its error, empty when scored.
        warnings (list[str]): per row its warning, empty when none.
    """

    chunk: Any
    values: np.ndarray
    errors: list[str]
    warnings: list[str]


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

    Args:
        model (ClsPredictor): the model; put in eval mode here.
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
        allow_unsanitized (bool, optional): score a molecule RDKit will not sanitize (featurized
            leniently, as for OGB's datasets) with a warning, instead of refusing it with RDKit's
            reason. (default: False)
    """

    def __init__(
        self,
        model: ClsPredictor,
        task: TaskSpec,
        max_hops: int,
        max_atoms: int = DEFAULT_MAX_ATOMS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        processes: int | None = None,
        device: str | torch.device = "cpu",
        allow_unsanitized: bool = False,
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
        self.allow_unsanitized = allow_unsanitized

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str = "auto",
        max_atoms: int = DEFAULT_MAX_ATOMS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        processes: int | None = None,
        allow_unsanitized: bool = False,
    ) -> Predictor:
        """Load a finetuned checkpoint folder (``<out_dir>/best``) for scoring.

        Args:
            path (str | Path): the checkpoint folder.
            device (str, optional): ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
                (default: ``"auto"``)
            max_atoms (int, optional): see :class:`Predictor`. (default: ``256``)
            batch_size (int, optional): see :class:`Predictor`. (default: ``64``)
            processes (int | None, optional): see :class:`Predictor`. (default: None)
            allow_unsanitized (bool, optional): see :class:`Predictor`. (default: False)

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
            # only the model and its head matter here: other sections may hold other versions' keys
            saved = ckpt.meta["config"]
            cfg = config_from_dict(
                {"model": saved["model"], "task": saved.get("task", {})}, str(meta_file),
                run=False,
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
        device_ = resolve_device(device)
        return cls(
            model, task, cfg.model.graph.max_hops, max_atoms, batch_size, processes, device_,
            allow_unsanitized,
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
        width = self.task.num_tasks
        runs = list(self._run(_chunked(smiles), list, self._predict_batch, width))
        values = np.concatenate([r.values for r in runs] or [np.empty((0, width), np.float32)])
        errors = [error for r in runs for error in r.errors]
        return self._frame(values, errors, [warning for r in runs for warning in r.warnings])

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
        for frame, values, errors, warnings in self._run(
            frames, smiles_of, self._predict_batch, self.task.num_tasks
        ):
            scored = self._frame(values, errors, warnings, taken=set(frame.columns))
            yield pd.concat([frame.reset_index(drop=True), scored], axis=1)

    def embed(self, smiles: Sequence[str]) -> np.ndarray:
        """Return the [CLS] embedding of each SMILES, for clustering, similarity or other models.

        Args:
            smiles (Sequence[str]): SMILES strings.

        Returns:
            np.ndarray: ``(len(smiles), D)`` float32, in input order. A row that cannot be scored
            (:meth:`predict`'s ``error`` says why; a molecule RDKit will not sanitize unless
            ``allow_unsanitized``) is all NaN.
        """
        dim = self.model.encoder.dim
        runs = self._run(_chunked(smiles), list, self.model.embed, dim)
        return np.concatenate([r.values for r in runs] or [np.empty((0, dim), np.float32)])

    def _predict_batch(self, batch: GraphBatch) -> Tensor:
        return self.task.predictions(self.model(batch))

    def _frame(
        self,
        values: np.ndarray,
        errors: list[str],
        warnings: list[str],
        taken: Collection[str] = (),
    ) -> pd.DataFrame:
        """Task columns, ``error`` and ``warning``, each suffixed with ``_pred`` while ``taken``."""
        names = []
        for name in [*self.task.names, ERROR_COLUMN, WARNING_COLUMN]:
            while name in taken or name in names:
                name += "_pred"
            names.append(name)
        frame = pd.DataFrame(values, columns=names[:-2])
        frame[names[-2]] = errors
        frame[names[-1]] = warnings
        return frame

    def _run(
        self,
        chunks: Iterable[Any],
        smiles_of: Callable[[Any], list[object]],
        score: Callable[[GraphBatch], Tensor],
        width: int,
    ) -> Iterator[_Scored]:
        """Featurize and score chunk by chunk: ``width`` float32 values per row, NaN if failed."""
        for chunk, graphs in self._featurize(chunks, smiles_of):
            errors = [str(g) if isinstance(g, SmilesError) else "" for g in graphs]
            warnings = [
                unsanitized_message(g.unsanitized) if isinstance(g, MolGraph) and g.unsanitized
                else "" for g in graphs
            ]  # fmt: skip
            good = [i for i, g in enumerate(graphs) if isinstance(g, MolGraph)]
            values = np.full((len(graphs), width), np.nan, dtype=np.float32)
            if good:
                with _torch_threads(self.model_threads):
                    values[good] = self._score([_to_data(graphs[i]) for i in good], score)
            for i in np.flatnonzero(~np.isfinite(values[good]).all(axis=1)):
                # an empty score always comes with its reason: NaN or inf is no prediction
                values[good[i]] = np.nan
                errors[good[i]] = NON_FINITE
            yield _Scored(chunk, values, errors, warnings)

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
            parts.append(score(batch).float().cpu())
            order += ids
        out = torch.empty(len(graphs), parts[0].size(1))
        out[torch.tensor(order)] = torch.cat(parts)
        return out.numpy()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(tasks={self.task.names}, type={self.task.task_type!r}, "
            f"max_atoms={self.max_atoms}, batch_size={self.batch_size}, "
            f"processes={self.processes}, device={str(self.device)!r}, "
            f"allow_unsanitized={self.allow_unsanitized})"
        )


@dataclass
class Summary:
    """Counts of one table's predictions, and the first failures to show the user.

    Args:
        predicted (int): rows scored.
        failed (int): rows with an error.
        warned (int): rows scored with a warning (molecules RDKit will not sanitize, scored
            under ``allow_unsanitized``).
        first_failures (list[str]): up to ``MAX_SHOWN_FAILURES`` ``row N of FILE: reason``
            (``--smiles #N: reason`` for SMILES given as arguments).
    """

    predicted: int = 0
    failed: int = 0
    warned: int = 0
    first_failures: list[str] = field(default_factory=list)


def table_rows(name: str) -> Callable[[int], str]:
    """Name a table's data rows in failure lines, by the line a text editor shows.

    Args:
        name (str): the table's name, e.g. its path.

    Returns:
        Callable[[int], str]: 0-based data row to ``row N of NAME`` (the header is line 1).
    """
    return lambda index: f"row {file_row(index):,} of {name}"


def read_chunks(
    source: str, smiles_column: str = "smiles", chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[pd.DataFrame]:
    """Stream a csv/tsv table (``-`` reads stdin) in chunks, every cell kept as its text.

    The table is read and checked by :func:`graphsep.molecules.table.table_chunks`, as
    ``graphsep data build`` reads it. The file is only read, never modified.

    Args:
        source (str): the table's path, or ``-`` for stdin.
        smiles_column (str, optional): the column that must hold the SMILES.
            (default: ``"smiles"``)
        chunk_size (int, optional): rows per chunk. (default: ``10000``)

    Yields:
        pd.DataFrame: chunks of string columns, in file order.

    Raises:
        DataError: what :func:`~graphsep.molecules.table.table_chunks` refuses, or no
            ``smiles_column`` (the message lists the columns present).
    """
    name = "stdin" if source == "-" else source
    for chunk in table_chunks(source, chunk_size):
        require_columns(chunk.columns, [smiles_column], "SMILES", name)
        yield chunk


def write_predictions(
    predictor: Predictor,
    frames: Iterable[pd.DataFrame],
    destination: str,
    smiles_column: str = "smiles",
    where: Callable[[int], str] | None = None,
) -> Summary:
    """Score a table chunk by chunk and write every row with its predictions, in order.

    Each output row is its input row (all columns, as text) followed by the task columns,
    ``error`` and ``warning`` (see :meth:`Predictor.predict_frames`). A file is written to a
    temporary file in its folder and renamed once complete, so a crash never leaves a partial
    table under the destination's name; ``-`` writes to stdout as it goes.

    Args:
        predictor (Predictor): the model.
        frames (Iterable[pd.DataFrame]): the table's chunks, e.g. from :func:`read_chunks`.
        destination (str): output csv/tsv path (compressed by extension), or ``-``.
        smiles_column (str, optional): the SMILES column. (default: ``"smiles"``)
        where (Callable[[int], str] | None, optional): names the data row at a 0-based index
            in failure lines; None: ``table_rows("input")``, ``row N of input``. (default: None)

    Returns:
        Summary: rows predicted, failed and warned about, and the first failures.

    Raises:
        DataError: the destination cannot be written, or the input cannot be read (the
            destination is then left as it was).
        GraphsepError: a featurization worker process died (the destination is left as it was).
    """
    summary, where = Summary(), where or table_rows("input")
    with _output(destination) as write:
        for out in predictor.predict_frames(frames, smiles_column):
            # the last two columns: "error" and "warning", or with "_pred" on a name clash
            _count(summary, out.iloc[:, -2].to_numpy(), out.iloc[:, -1].to_numpy(), where)
            write(out)
    return summary


def _count(
    summary: Summary, errors: np.ndarray, warnings: np.ndarray, where: Callable[[int], str]
) -> None:
    offset = summary.predicted + summary.failed
    failed = np.flatnonzero(errors != "")
    for i in failed[: MAX_SHOWN_FAILURES - len(summary.first_failures)]:
        summary.first_failures.append(f"{where(offset + int(i))}: {errors[i]}")
    summary.failed += len(failed)
    summary.predicted += len(errors) - len(failed)
    summary.warned += int(np.count_nonzero((warnings != "") & (errors == "")))


SUPPORTED_COMPRESSION = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".zip": None}
"""Output suffixes written as one compressed stream (``.zip``: one member, the table)."""

# archives and zstd, which no stream of chunks makes readable; matched on the whole name as
# pandas reads it (.tar.gz is a tar, not a gzip)
_UNSTREAMABLE = (".tar", ".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zst")


def check_output(destination: str) -> None:
    """Refuse, before any work, an output that cannot be written as one readable table.

    Raises:
        DataError: a folder, or a compressed suffix other than ``SUPPORTED_COMPRESSION``'s.
    """
    if destination == "-":
        return
    path = Path(destination)
    if path.is_dir():
        raise DataError(f"cannot write {destination}: it is a folder; name a file in it")
    ending = next((e for e in _UNSTREAMABLE if path.name.lower().endswith(e)), None)
    if ending:
        raise DataError(
            f"cannot write {destination}: compression {ending!r} is not supported; "
            f"use one of {', '.join(SUPPORTED_COMPRESSION)} or none"
        )


@contextlib.contextmanager
def _open_text(path: Path, name: str) -> Iterator[IO[str]]:
    """Open ``path`` for writing text, compressed as one stream by ``name``'s suffix."""
    suffix = Path(name).suffix.lower()
    if suffix == ".zip":  # one member, named as the table inside, streamed
        member = Path(name).stem
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open(member, "w") as raw, io.TextIOWrapper(raw, "utf-8") as text:
                yield text
        return
    opener = SUPPORTED_COMPRESSION.get(suffix) or open
    with opener(path, "wt", encoding="utf-8") as text:
        yield text


class _TableWriter:
    """Write chunks to one csv/tsv text stream, the header with the first chunk."""

    def __init__(self, target: IO[str], name: str) -> None:
        self.target = target
        self.sep = _separator(name)
        self.first = True

    def __call__(self, frame: pd.DataFrame) -> None:
        frame.to_csv(
            self.target, header=self.first, index=False, sep=self.sep,
            float_format=_FLOAT_FORMAT,
        )  # fmt: skip
        self.first = False


@contextlib.contextmanager
def _output(destination: str) -> Iterator[_TableWriter]:
    """Yield a chunk writer: to stdout, or to a temporary file renamed into place on success.

    The file gets the permissions of a plainly created one (the umask's), and a failed write
    (no space left, ...) leaves the destination as it was (:mod:`graphsep.files`).
    """
    check_output(destination)
    if destination == "-":
        try:
            yield _TableWriter(sys.stdout, destination)
            sys.stdout.flush()  # a full device shows here, not at exit
        except BrokenPipeError:
            raise
        except OSError as err:
            raise write_failure("stdout", err) from err
        return
    with temporary_sibling(destination) as tmp:
        with _open_text(tmp, destination) as text:
            yield _TableWriter(text, destination)
        publish(tmp, destination)


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
    return write_predictions(predictor, frames, destination, smiles_column, table_rows(name))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
