"""A labelled table of texts: the text column, the label column mapped to classes.

Read with the one table reader (:func:`graphsep.molecules.table.table_chunks`): csv/tsv,
optionally compressed, a byte that is not UTF-8 named by row and column. Labels are strings
mapped to class indices in sorted order (numerically when every label is an integer, so
``0, 1, 2, 10`` stay in that order); the map is kept with every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from graphsep.molecules.table import DataError, require_columns, table_chunks


@dataclass
class LabelledTexts:
    """Texts with their class indices.

    Args:
        texts (list[str]): the non-empty texts, in file order.
        labels (np.ndarray): ``(N,)`` int64 class index of each.
        classes (list[str]): the label of each class index.
        empty (int): rows skipped because their text was empty or whitespace.
    """

    texts: list[str]
    labels: np.ndarray
    classes: list[str]
    empty: int


def class_order(labels: list[str]) -> list[str]:
    """Return the distinct labels in class order: numeric when all are integers, else sorted."""
    distinct = sorted(set(labels))
    if all(label.lstrip("-").isdigit() for label in distinct):
        return sorted(distinct, key=int)
    return distinct


def read_labelled_texts(path: str | Path, text_column: str, label_column: str) -> LabelledTexts:
    """Read ``path``'s text and label columns; empty texts are skipped and counted.

    Raises:
        DataError: what the table reader refuses, a missing column (the columns present are
            listed), a blank label (its row named), or fewer than two classes.
    """
    name = str(path)
    frame = pd.concat(list(table_chunks(path)))
    require_columns(frame.columns, [text_column], "text", name)
    require_columns(frame.columns, [label_column], "label", name)
    texts = frame[text_column].fillna("").astype(str)
    labels = frame[label_column].fillna("").astype(str).str.strip()
    blank = labels == ""
    if blank.any():
        row = int(np.flatnonzero(blank.to_numpy())[0]) + 2  # the header is line 1
        raise DataError(f"row {row} of {name}, column '{label_column}': no label")
    keep = (texts.str.strip() != "").to_numpy()
    classes = class_order(labels.tolist())
    if len(classes) < 2:
        raise DataError(f"{name}: column '{label_column}' holds one class ({classes}); need two")
    index = {label: i for i, label in enumerate(classes)}
    return LabelledTexts(
        texts=texts[keep].tolist(),
        labels=labels[keep].map(index).to_numpy(np.int64),
        classes=classes,
        empty=int((~keep).sum()),
    )
