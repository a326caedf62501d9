"""Read a SMILES table (csv, csv.gz, tsv): checked once here, for building and for predicting.

:func:`table_chunks` is the one reader of tables: it streams text cells and refuses what pandas
would silently misread (a row longer than the header, duplicate column names, bytes that are
not UTF-8). :func:`read_table` reads a whole table into SMILES strings and a float label matrix.
Every error names the file, and where it applies the row (as a line number of the file, the
header being line 1) and the column, so a chemist can find the cell in a spreadsheet.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.io.parsers import TextFileReader

from graphsep.errors import GraphsepError


class DataError(GraphsepError, ValueError):
    """Bad input on the data path: a file, a column, a row, a recipe or a dataset folder."""


CHUNK_ROWS = 10_000
"""Rows per chunk :func:`table_chunks` reads by default."""

MISSING_LABELS = frozenset({"", "NA", "N/A", "n/a", "#N/A", "NaN", "nan", "null", "NULL", "None"})
"""Label cells read as a missing label (pandas' usual markers), besides blank ones."""

# surrogateescape decodes each byte that is not UTF-8 to one of these, to be found by row
_NOT_UTF8 = "[\udc80-\udcff]"
_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def file_row(index: int) -> int:
    """Line number in the file of the data row at 0-based ``index`` (the header is line 1).

    Args:
        index (int): 0-based position of the row among the data rows.

    Returns:
        int: the 1-based line number a text editor or spreadsheet shows.
    """
    return index + 2


@dataclass
class SmilesTable:
    """SMILES strings and labels read from one table.

    Args:
        path (Path): the file they were read from.
        smiles (list[str]): one SMILES per data row; a blank cell is the empty string.
        labels (np.ndarray): ``(num_rows, num_tasks)`` float64, NaN = missing label.
        label_columns (list[str]): the column of each task, in order.
    """

    path: Path
    smiles: list[str]
    labels: np.ndarray
    label_columns: list[str]

    def __len__(self) -> int:
        return len(self.smiles)


def separator(name: str) -> str:
    """Column separator of a table by its name: a tab for ``.tsv``, compressed or not, else a comma.

    Args:
        name (str): the file name (or ``stdin``).

    Returns:
        str: a tab or a comma.
    """
    stem = re.sub(r"\.(gz|bz2|xz|zip|zst)$", "", name.lower())  # the compression's suffix
    return "\t" if stem.endswith(".tsv") else ","


def table_chunks(source: str | Path, chunk_size: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Stream a csv/tsv table (``-`` reads stdin) in chunks, every cell kept as its text.

    Compression follows the extension (``.gz``, ``.zip``, ...); ``.tsv``/``.tsv.gz`` are read
    tab-separated. The header is read as a row, so that a row with more fields than the header
    (``CCO,1,`` under ``smiles,label``) is an error rather than pandas' silent reading of the
    first column as the index; a blank column name becomes ``Unnamed: N`` as in pandas. The file
    is only read, never modified.

    Args:
        source (str | Path): the table's path, or ``-`` for stdin.
        chunk_size (int): rows per chunk. (default: ``10000``)

    Yields:
        pd.DataFrame: chunks of string columns (a blank cell is ``""``, a missing trailing field
        NaN), indexed by 0-based data row, in file order.

    Raises:
        DataError: a missing, unreadable or empty file, a file without data rows, duplicate
            column names, a row with more fields than the header, or bytes that are not UTF-8.
    """
    name = "stdin" if str(source) == "-" else str(source)
    if name != "stdin" and not Path(source).is_file():
        raise DataError(f"no such table: {name}")
    columns, rows = None, 0
    try:
        with _text_chunks(source, name, chunk_size) as reader:
            for chunk in reader:
                if columns is None:
                    columns = _header(chunk.iloc[0].tolist(), name)
                    chunk = chunk.iloc[1:]
                chunk.columns = columns
                chunk.index = pd.RangeIndex(rows, rows + len(chunk))
                _check_utf8(chunk, name)
                rows += len(chunk)
                if len(chunk):
                    yield chunk
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} is empty: expected a header line and data rows") from None
    except pd.errors.ParserError as err:
        raise DataError(_parser_problem(err, name)) from None
    except (UnicodeDecodeError, OSError, EOFError) as err:
        reason = getattr(err, "strerror", None) or str(err).strip().splitlines()[0]
        raise DataError(f"cannot read {name}: {reason}") from None
    if not rows:
        raise DataError(f"{name} has a header but no data rows")


def _text_chunks(source: str | Path, name: str, chunk_size: int) -> TextFileReader:
    """Pandas' chunked reader with the header as the first row, bytes not UTF-8 kept."""
    # stdin as bytes, so that a byte that is not UTF-8 reaches _check_utf8 with its row
    handle = getattr(sys.stdin, "buffer", sys.stdin) if name == "stdin" else source
    return pd.read_csv(
        handle,
        sep=separator(name),
        header=None,  # the C parser then refuses a row longer than the first (the header)
        index_col=False,
        dtype=object,  # str cells; pandas' arrow strings cannot hold surrogateescape's bytes
        keep_default_na=False,  # cells are kept as they came in; labels parse their own
        encoding="utf-8",
        encoding_errors="surrogateescape",
        chunksize=chunk_size,
    )


def _header(cells: list[object], name: str) -> list[str]:
    """Column names from the header row: blank ones named as pandas does, duplicates refused."""
    columns = [str(c) if str(c).strip() else f"Unnamed: {i}" for i, c in enumerate(cells)]
    bad = [c for c in columns if re.search(_NOT_UTF8, c)]
    if bad:
        raise DataError(f"the header of {name}: {_not_utf8(bad[0])}")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise DataError(
            f"{name}: duplicate column name {', '.join(map(repr, duplicates))} in the header; "
            "give each column its own name"
        )
    return columns


def _check_utf8(chunk: pd.DataFrame, name: str) -> None:
    """Refuse the first cell holding a byte that is not UTF-8, naming its row and column."""
    # one search over the joined cells; a cell at a time only to place a hit
    if not re.search(_NOT_UTF8, "\n".join(chunk.fillna("").to_numpy().ravel().tolist())):
        return
    bad = np.column_stack(
        [chunk[c].str.contains(_NOT_UTF8, regex=True, na=False) for c in chunk.columns]
    )
    row, column = np.argwhere(bad)[0]
    raise DataError(
        f"row {file_row(int(chunk.index[row]))} of {name}, column '{chunk.columns[column]}': "
        f"{_not_utf8(chunk.iloc[row, column])}"
    )


def _not_utf8(text: str) -> str:
    byte = ord(re.search(_NOT_UTF8, text).group()) - 0xDC00
    return f"byte 0x{byte:02x} is not UTF-8; save the table as UTF-8"


def _parser_problem(err: pd.errors.ParserError, name: str) -> str:
    """One line from pandas' parser error: a row longer than the header names its line."""
    found = _FIELD_COUNT.search(str(err))
    if found is None:
        return f"cannot read {name}: {str(err).strip().splitlines()[0]}"
    expected, line, saw = found.groups()
    return (
        f"row {line} of {name}: {saw} fields where the header has {expected} "
        "(a separator at the end of the line?)"
    )


def require_columns(present: Iterable[str], wanted: Sequence[str], kind: str, name: str) -> None:
    """Refuse a table without one of the ``wanted`` columns, listing the columns it has.

    Args:
        present (Iterable[str]): the table's columns.
        wanted (Sequence[str]): the columns needed.
        kind (str): what they hold, for the message (``"SMILES"``, ``"label"``).
        name (str): the table's name.

    Raises:
        DataError: a wanted column is absent.
    """
    present = list(present)
    missing = [c for c in wanted if c not in present]
    if missing:
        raise DataError(
            f"{name}: no {kind} column {', '.join(map(repr, missing))}; "
            f"columns present: {', '.join(map(repr, present))}"
        )


def read_table(
    path: str | Path,
    smiles_column: str = "smiles",
    label_columns: Sequence[str] | None = None,
) -> SmilesTable:
    """Read SMILES and numeric labels from a csv, csv.gz, tsv or tsv.gz file.

    Args:
        path (str | Path): the table, read by :func:`table_chunks`.
        smiles_column (str): column holding the SMILES. (default: ``"smiles"``)
        label_columns (Sequence[str] | None): label columns in task order; None takes every
            column except the SMILES column, in table order. (default: None)

    Returns:
        SmilesTable: the SMILES and a float label matrix with NaN for missing labels (blank
        cells or ``MISSING_LABELS``).

    Raises:
        DataError: any problem :func:`table_chunks` refuses, a missing column (the message
            lists the columns present), or a label that is not a finite number.
    """
    path = Path(path)
    frame = pd.concat(list(table_chunks(path)))
    require_columns(frame.columns, [smiles_column], "SMILES", str(path))
    if label_columns is None:
        label_columns = [c for c in frame.columns if c != smiles_column]
    require_columns(frame.columns, label_columns, "label", str(path))
    if not label_columns:
        raise DataError(f"{path}: no label column besides the SMILES column '{smiles_column}'")
    labels = _labels(path, frame, list(label_columns))
    smiles = frame[smiles_column].fillna("").str.strip().tolist()
    return SmilesTable(path, smiles, labels, list(label_columns))


def _labels(path: Path, frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Label columns as float64; missing labels are NaN, any other non-number an error."""
    raw = frame[columns].to_numpy()  # (rows, tasks) text, NaN for a missing trailing field
    flat = pd.Series(raw.ravel())
    missing = (flat.isna() | flat.isin(MISSING_LABELS)).to_numpy().reshape(raw.shape)
    values = np.full(raw.shape, np.nan)
    try:  # float() of each cell, looped in C: faster than pd.to_numeric
        values[~missing] = raw[~missing].astype(np.float64)
    except ValueError:
        row, task = np.argwhere(~missing & ~np.vectorize(_is_float, otypes=[bool])(raw))[0]
        raise DataError(
            f"row {file_row(int(row))} of {path}, column '{columns[task]}': "
            f"label {raw[row, task]!r} is not a number"
        ) from None
    infinite = np.isinf(values)
    if infinite.any():
        task = int(np.argwhere(infinite)[0, 1])
        rows = np.flatnonzero(infinite[:, task])
        shown = ", ".join(str(file_row(int(i))) for i in rows[:5])
        more = f" and {rows.size - 5} more" if rows.size > 5 else ""
        raise DataError(
            f"rows {shown}{more} of {path}, column '{columns[task]}': label "
            f"{raw[rows[0], task]!r} is not a finite number"
        )
    return values


def _is_float(text: object) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
