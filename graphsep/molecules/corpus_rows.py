"""Read a SMILES corpus: one or many files, streamed row by row with each row's file and line.

A corpus file is csv or tsv with a SMILES column, or ``.smi`` (first field of each line), each
optionally gzipped. Files are checked (readable, not empty, with the SMILES column) before any
row is featurized; a file that turns out unreadable part way stops the read, naming it.
"""

from __future__ import annotations

import glob
import gzip
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from graphsep.molecules.table import DataError, file_row, separator

_READ_CHUNK = 50_000


@dataclass(frozen=True)
class CorpusRow:
    """One SMILES of the corpus and where it came from.

    Args:
        file (int): index of its file in the corpus's file list.
        line (int): its line number in that file (the header being line 1 of a csv/tsv).
        smiles (str): the SMILES, stripped.
    """

    file: int
    line: int
    smiles: str


def _format(path: Path) -> str:
    """``csv``, ``tsv`` or ``smi`` from the file name, ``.gz`` allowed."""
    name = path.name.lower().removesuffix(".gz")
    for kind in ("csv", "tsv", "smi"):
        if name.endswith(f".{kind}"):
            return kind
    raise DataError(
        f"data.corpus.files: {path}: unknown format; expected .csv, .tsv or .smi, optionally .gz"
    )


def resolve_corpus_files(patterns: Sequence[str]) -> list[Path]:
    """Expand the corpus entries (files or glob patterns) into existing files, in order.

    Args:
        patterns (Sequence[str]): ``data.corpus.files``: paths or glob patterns.

    Returns:
        list[Path]: the files, each pattern's matches sorted by name.

    Raises:
        DataError: an entry names no file, or a glob matches none.
    """
    files: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise DataError(f"data.corpus.files: no file matches {pattern!r}")
            files += [Path(m) for m in matches]
        elif Path(pattern).is_file():
            files.append(Path(pattern))
        else:
            raise DataError(f"data.corpus.files: no such file: {pattern}")
    return files


def check_corpus_file(path: Path, smiles_column: str) -> None:
    """Read the head of one corpus file: readable, not empty, with the SMILES column.

    Args:
        path (Path): a corpus file.
        smiles_column (str): the SMILES column of a csv/tsv (``data.corpus.smiles_column``).

    Raises:
        DataError: unknown format, empty or unreadable file, or a missing column (the message
            lists the columns present).
    """
    kind = _format(path)
    try:
        if kind == "smi":
            with _open_text(path) as f:
                empty = not f.readline()
        else:
            columns = pd.read_csv(path, sep=separator(path.name), nrows=0).columns
            empty = False
    except pd.errors.EmptyDataError:
        empty = True
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(f"data.corpus.files: cannot read {path}: {err}") from None
    if empty:
        raise DataError(f"data.corpus.files: {path} is empty")
    if kind != "smi" and smiles_column not in columns:
        raise DataError(
            f"data.corpus.files: {path}: no SMILES column {smiles_column!r} "
            f"(data.corpus.smiles_column); columns present: {', '.join(map(str, columns))}"
        )


def _open_text(path: Path) -> Any:
    return gzip.open(path, "rt") if path.name.endswith(".gz") else open(path)  # noqa: SIM115


def _file_rows(index: int, path: Path, smiles_column: str) -> Iterator[CorpusRow]:
    """Stream the SMILES of one file; a file unreadable part way raises, naming it."""
    try:
        yield from _read_rows(index, path, smiles_column)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(f"data.corpus.files: cannot read {path} to the end: {err}") from err


def _read_rows(index: int, path: Path, smiles_column: str) -> Iterator[CorpusRow]:
    """Stream the SMILES of one file; blank lines of a .smi file are skipped."""
    kind = _format(path)
    if kind == "smi":
        with _open_text(path) as f:
            for line, text in enumerate(f, start=1):
                if text.strip():
                    yield CorpusRow(index, line, text.split(maxsplit=1)[0])
        return
    chunks = pd.read_csv(
        path, sep=separator(path.name), usecols=[smiles_column], dtype=str,
        keep_default_na=False, chunksize=_READ_CHUNK,
    )  # fmt: skip
    start = 0
    for chunk in chunks:
        for offset, smiles in enumerate(chunk[smiles_column].str.strip()):
            yield CorpusRow(index, file_row(start + offset), smiles)
        start += len(chunk)


def iter_corpus(
    files: Sequence[Path], smiles_column: str, max_rows: int = 0
) -> Iterator[CorpusRow]:
    """Stream every SMILES of the corpus, file after file, the first ``max_rows`` if > 0.

    Args:
        files (Sequence[Path]): the corpus files, checked by :func:`check_corpus_file`.
        smiles_column (str): the SMILES column of a csv/tsv.
        max_rows (int): rows read at most; 0: all. (default: 0)

    Yields:
        CorpusRow: each SMILES with its file and line.

    Raises:
        DataError: a file that turns out unreadable part way (e.g. a truncated gzip).
    """
    rows = itertools.chain.from_iterable(
        _file_rows(i, path, smiles_column) for i, path in enumerate(files)
    )
    if max_rows:
        rows = itertools.islice(rows, max_rows)
    yield from rows
