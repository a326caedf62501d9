"""Read a SMILES table (csv, csv.gz, tsv) into SMILES strings and a float label matrix.

Every error names the file, and where it applies the row (as a line number of the file, the
header being line 1) and the column, so a chemist can find the cell in a spreadsheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from graphsep.errors import GraphsepError


class DataError(GraphsepError, ValueError):
    """Bad input on the data path: a file, a column, a row, a recipe or a dataset folder."""


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


def read_table(
    path: str | Path,
    smiles_column: str = "smiles",
    label_columns: Sequence[str] | None = None,
) -> SmilesTable:
    """Read SMILES and numeric labels from a csv, csv.gz, tsv or tsv.gz file.

    Args:
        path (str | Path): the table; the separator is a tab for ``.tsv``/``.tsv.gz``, else a
            comma; compression is inferred from the extension.
        smiles_column (str): column holding the SMILES. (default: ``"smiles"``)
        label_columns (Sequence[str] | None): label columns in task order; None takes every
            column except the SMILES column, in table order. (default: None)

    Returns:
        SmilesTable: the SMILES and a float label matrix with NaN for blank cells.

    Raises:
        DataError: missing file, unreadable or empty table, missing column (the message lists
            the columns present) or a label that is not a number.
    """
    path = Path(path)
    frame = _read_frame(path)
    if smiles_column not in frame.columns:
        raise DataError(_missing_column(path, "SMILES", [smiles_column], frame.columns))
    if label_columns is None:
        label_columns = [c for c in frame.columns if c != smiles_column]
    missing = [c for c in label_columns if c not in frame.columns]
    if missing:
        raise DataError(_missing_column(path, "label", missing, frame.columns))
    if not label_columns:
        raise DataError(f"{path}: no label column besides the SMILES column '{smiles_column}'")
    labels = np.stack([_numeric(path, frame, c) for c in label_columns], axis=1)
    smiles = frame[smiles_column].fillna("").str.strip().tolist()
    return SmilesTable(path, smiles, labels, list(label_columns))


def _read_frame(path: Path) -> pd.DataFrame:
    """All cells as strings (blank = NaN), so that label parsing can name the bad cell."""
    if not path.is_file():
        raise DataError(f"no such table: {path}")
    sep = "\t" if path.name.endswith((".tsv", ".tsv.gz")) else ","
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        raise DataError(f"cannot read {path}: {err}") from None
    if frame.empty:
        raise DataError(f"{path} has a header but no data rows")
    return frame


def _missing_column(path: Path, kind: str, wanted: list[str], present: pd.Index) -> str:
    names = ", ".join(repr(c) for c in wanted)
    return f"{path}: no {kind} column {names}; columns present: {', '.join(present)}"


def _numeric(path: Path, frame: pd.DataFrame, column: str) -> np.ndarray:
    """One label column as float64; blanks are NaN, anything else unparseable is an error."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"row {file_row(index)} of {path}, column '{column}': "
            f"label {raw.iloc[index]!r} is not a number"
        )
    return values.to_numpy(dtype=np.float64)
