"""Tables of predictions: read a SMILES table in chunks, score it, write every row in order.

:func:`predict_table` (:func:`read_chunks` then :func:`write_predictions`) streams a table of
any length through a :class:`~graphsep.predict.predictor.Predictor` in bounded memory, writing a
temporary file renamed into place (``-`` reads stdin, writes stdout); ``graphsep predict``
(:mod:`graphsep.cli.predict`) is built on it. :func:`read_chunks`, :func:`check_output` and
:func:`check_not_input` also serve ``graphsep embed`` (:mod:`graphsep.predict.embeddings`).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from graphsep.files import publish, temporary_sibling, write_failure
from graphsep.molecules.table import DataError, require_columns, table_chunks
from graphsep.molecules.table import separator as _separator
from graphsep.predict.predictor import DEFAULT_CHUNK_SIZE, Predictor
from graphsep.predict.summary import Summary, table_rows

_FLOAT_FORMAT = "%.6g"  # predictions are float32: six significant digits are all they hold


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
            summary.count(out.iloc[:, -2].tolist(), out.iloc[:, -1].tolist(), where)
            write(out)
    return summary


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


def write_table(frame: pd.DataFrame, destination: str) -> None:
    """Write one whole table to a csv/tsv file (replaced only when complete) or ``-``, stdout."""
    with _output(destination) as write:
        write(frame)


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
    check_not_input(source, destination)
    frames = read_chunks(source, smiles_column, chunk_size)
    name = "stdin" if source == "-" else source
    return write_predictions(predictor, frames, destination, smiles_column, table_rows(name))


def check_not_input(source: str, destination: str) -> None:
    """Refuse an output that is the input file (``-`` is never a file).

    Args:
        source (str): the input table, or ``-``.
        destination (str): the output, or ``-``.

    Raises:
        DataError: ``destination`` names the file ``source`` names.
    """
    if "-" in (source, destination):
        return
    try:
        same = os.path.samefile(source, destination)
    except OSError:  # one of them does not exist
        return
    if same:
        raise DataError(f"the output {destination} is the input file: choose another output")
