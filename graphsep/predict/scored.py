"""One chunk's outcome of scoring, and the columns it becomes in an output table.

A scored row holds float32 values (task predictions or a [CLS] embedding; NaN where the row
failed), its error (empty when scored) and its warning (empty when none). In a table they follow
the input's columns, ``error`` and ``warning`` last.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

ERROR_COLUMN = "error"
WARNING_COLUMN = "warning"


class Scored(NamedTuple):
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


def score_columns(
    values: np.ndarray,
    names: Sequence[str],
    errors: list[str],
    warnings: list[str],
    taken: Collection[str] = (),
) -> pd.DataFrame:
    """Frame ``values`` as columns ``names``, then ``error`` and ``warning``.

    Args:
        values (np.ndarray): ``(n, len(names))`` float32 scores, NaN where a row failed.
        names (Sequence[str]): a name per column of ``values`` (task names, ``cls_0``, ...).
        errors (list[str]): per row its error, empty when scored.
        warnings (list[str]): per row its warning, empty when none.
        taken (Collection[str], optional): names in use already (the input's columns): a new
            column of such a name gets the suffix ``_pred``, repeated until it is free.
            (default: ``()``)

    Returns:
        pd.DataFrame: ``n`` rows, ``len(names) + 2`` columns.
    """
    free = []
    for name in [*names, ERROR_COLUMN, WARNING_COLUMN]:
        while name in taken or name in free:
            name += "_pred"
        free.append(name)
    frame = pd.DataFrame(values, columns=free[:-2])
    frame[free[-2]] = errors
    frame[free[-1]] = warnings
    return frame


def append_scores(scored: Scored, names: Sequence[str]) -> pd.DataFrame:
    """Join a table's chunk, every column kept, and its :func:`score_columns`.

    Args:
        scored (Scored): the outcome of a chunk (a frame) of a table.
        names (Sequence[str]): a name per column of ``scored.values``.

    Returns:
        pd.DataFrame: the chunk's columns, then the new ones (``error`` and ``warning`` last).
    """
    frame = scored.chunk
    new = score_columns(scored.values, names, scored.errors, scored.warnings, set(frame.columns))
    return pd.concat([frame.reset_index(drop=True), new], axis=1)
