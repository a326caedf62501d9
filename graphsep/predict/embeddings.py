"""[CLS] embeddings of a SMILES table, written to a ``.npy`` array or a ``.parquet`` table.

:func:`embed_table` (:func:`~graphsep.predict.tables.read_chunks` then :func:`write_embeddings`)
runs a table through :meth:`Predictor.embed_frames
<graphsep.predict.predictor.Predictor.embed_frames>`; ``graphsep embed`` (:mod:`graphsep.cli.embed`)
is built on it. Every input row gets one output row, in order; a row that cannot be embedded is all
NaN and its reason is kept:

- ``.npy``: a ``(rows, D)`` float32 array. The reasons go beside it, to ``<stem>.errors.csv``
  (columns ``index``: the array's row, ``row``: the input row as failure lines name it, ``error``),
  written only when some row failed; a listing left by an earlier run is removed otherwise.
  The array is held in memory until written.
- ``.parquet``: the input's columns (as text), one float32 column per dimension ``cls_0`` ...
  ``cls_{D-1}`` (plain columns, which pandas, polars and SQL engines read as numbers), then
  ``error`` and ``warning`` as :meth:`Predictor.predict <graphsep.predict.predictor.Predictor.
  predict>` gives them. A new column whose name the input uses gets the suffix ``_pred``. Written
  chunk by chunk, in bounded memory.

Either file is written to a temporary file in its folder and renamed into place when complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graphsep.files import publish, temporary_sibling, write_atomically, write_failure
from graphsep.molecules.table import DataError
from graphsep.predict.predictor import DEFAULT_CHUNK_SIZE, Predictor
from graphsep.predict.scored import Scored, append_scores, score_columns
from graphsep.predict.summary import Summary, table_rows
from graphsep.predict.tables import check_not_input, check_output, read_chunks

EMBEDDING_SUFFIXES = (".npy", ".parquet")
"""The endings an embedding output may have; the ending picks the format."""

EMBEDDING_PREFIX = "cls_"
"""Name of a ``.parquet`` output's embedding columns: ``cls_0``, ``cls_1``, ..."""


def embedding_columns(dim: int) -> list[str]:
    """Names of the ``dim`` embedding columns of a ``.parquet`` output.

    Args:
        dim (int): width ``D`` of the embedding.

    Returns:
        list[str]: ``cls_0`` ... ``cls_{D-1}``.
    """
    return [f"{EMBEDDING_PREFIX}{i}" for i in range(dim)]


def errors_file(destination: str | Path) -> Path:
    """Where a ``.npy`` output's failed rows are listed: ``emb.npy`` -> ``emb.errors.csv``.

    Args:
        destination (str | Path): the ``.npy`` file.

    Returns:
        Path: the listing beside it.
    """
    return Path(destination).with_suffix(".errors.csv")


def check_embedding_output(destination: str) -> None:
    """Refuse, before any work, an output that is not a ``.npy`` or ``.parquet`` file.

    Args:
        destination (str): the output path.

    Raises:
        DataError: another ending (stdout included), or a folder.
    """
    if Path(destination).suffix.lower() not in EMBEDDING_SUFFIXES:
        raise DataError(
            f"cannot write {destination}: embeddings are written to a file ending in "
            f"{' or '.join(EMBEDDING_SUFFIXES)}"
        )
    check_output(destination)


def write_embeddings(
    predictor: Predictor,
    frames: Iterable[pd.DataFrame],
    destination: str,
    smiles_column: str = "smiles",
    where: Callable[[int], str] | None = None,
) -> Summary:
    """Embed a table chunk by chunk and write one row per input row, in order.

    Args:
        predictor (Predictor): the model.
        frames (Iterable[pd.DataFrame]): the table's chunks, e.g. from
            :func:`~graphsep.predict.tables.read_chunks`.
        destination (str): a ``.npy`` or ``.parquet`` path; see the module's description.
        smiles_column (str, optional): the SMILES column. (default: ``"smiles"``)
        where (Callable[[int], str] | None, optional): names the data row at a 0-based index
            in failure lines; None: ``table_rows("input")``, ``row N of input``. (default: None)

    Returns:
        Summary: rows embedded (``predicted``), failed and warned about, and the first failures.

    Raises:
        DataError: the destination is refused by :func:`check_embedding_output` or cannot be
            written, or the input cannot be read (the destination is then left as it was).
        GraphsepError: a featurization worker process died (the destination is left as it was).
    """
    check_embedding_output(destination)
    summary, where = Summary(), where or table_rows("input")
    scored = _counted(predictor.embed_frames(frames, smiles_column), summary, where)
    if Path(destination).suffix.lower() == ".parquet":
        _write_parquet(scored, destination, embedding_columns(predictor.dim))
    else:
        _write_npy(scored, destination, predictor.dim, where)
    return summary


def embed_table(
    predictor: Predictor,
    source: str,
    destination: str,
    smiles_column: str = "smiles",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Summary:
    """Embed a csv/tsv table (``-``: stdin) into a ``.npy`` or ``.parquet`` file.

    Args:
        predictor (Predictor): the model.
        source (str): input table, or ``-``; never modified.
        destination (str): see :func:`write_embeddings`.
        smiles_column (str, optional): the SMILES column. (default: ``"smiles"``)
        chunk_size (int, optional): rows read at a time. (default: ``10000``)

    Returns:
        Summary: rows embedded and failed, and the first failures.

    Raises:
        DataError: see :func:`~graphsep.predict.tables.read_chunks` and
            :func:`write_embeddings`; also when the destination, or the listing of a ``.npy``
            destination's failed rows, is the source file.
    """
    check_not_input(source, destination)
    if Path(destination).suffix.lower() == ".npy":
        check_not_input(source, str(errors_file(destination)))
    frames = read_chunks(source, smiles_column, chunk_size)
    name = "stdin" if source == "-" else source
    return write_embeddings(predictor, frames, destination, smiles_column, table_rows(name))


def _counted(
    scored: Iterable[Scored], summary: Summary, where: Callable[[int], str]
) -> Iterator[Scored]:
    """Pass each chunk's outcome on, counted in ``summary`` first."""
    for chunk in scored:
        summary.count(chunk.errors, chunk.warnings, where)
        yield chunk


def _write_npy(
    scored: Iterable[Scored], destination: str, dim: int, where: Callable[[int], str]
) -> None:
    """Save the ``(rows, dim)`` array, then list its failed rows beside it (if any)."""
    parts, failures, rows = [], [], 0
    for chunk in scored:
        failures += [(rows + i, error) for i, error in enumerate(chunk.errors) if error]
        parts.append(chunk.values)
        rows += len(chunk.values)
    array = np.concatenate(parts or [np.empty((0, dim), np.float32)])
    write_atomically(destination, lambda tmp: _save_array(tmp, array))
    listing = errors_file(destination)
    if not failures:
        try:  # an earlier run's, which no longer describes the array
            listing.unlink(missing_ok=True)
        except OSError as err:
            raise write_failure(listing, err) from err
        return
    failed = pd.DataFrame(failures, columns=["index", "error"])
    failed.insert(1, "row", [where(index) for index in failed["index"]])
    write_atomically(listing, lambda tmp: failed.to_csv(tmp, index=False))


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as out:  # np.save given a name adds ".npy" to one that lacks it
        np.save(out, array, allow_pickle=False)


def _write_parquet(scored: Iterable[Scored], destination: str, names: list[str]) -> None:
    """Write each chunk with its embedding columns, ``error`` and ``warning`` as it comes."""
    with temporary_sibling(destination) as tmp:
        writer = None
        try:
            for chunk in scored:
                frame = append_scores(chunk, names)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, _schema(frame, len(chunk.chunk.columns)))
                table = pa.Table.from_pandas(frame, schema=writer.schema, preserve_index=False)
                writer.write_table(table)
            if writer is None:  # no rows: a valid file of the output columns alone
                empty = score_columns(np.empty((0, len(names)), np.float32), names, [], [])
                writer = pq.ParquetWriter(tmp, _schema(empty, 0))
        finally:
            if writer is not None:
                writer.close()
        publish(tmp, destination)


def _schema(frame: pd.DataFrame, inputs: int) -> pa.Schema:
    """Type the input's ``inputs`` columns, ``error`` and ``warning`` as text, the rest float32."""
    text = {*frame.columns[:inputs], *frame.columns[-2:]}
    return pa.schema(
        [(name, pa.string() if name in text else pa.float32()) for name in frame.columns]
    )


def save_embeddings(vectors: np.ndarray, names: list[str], destination: str) -> None:
    """Write whole embeddings ``(N, D)`` at once (images): ``.npy``, or ``.parquet`` with names.

    A ``.parquet`` file holds a ``name`` column, then ``cls_0`` ... ``cls_{D-1}``.
    """
    if Path(destination).suffix.lower() == ".npy":
        write_atomically(destination, lambda tmp: _save_array(tmp, vectors))
        return
    frame = pd.DataFrame(vectors, columns=embedding_columns(vectors.shape[1]))
    frame.insert(0, "name", names)
    write_atomically(destination, lambda tmp: frame.to_parquet(tmp, index=False))
