"""What a dataset build makes: OGB's table of datasets, its folder names, and the build's spec.

A spec merges a dataset's recipe (:mod:`graphsep.molecules.recipes`), if it has one, with the
caller's arguments, which win; a name without a recipe is a user's table and needs a task type.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import ogb.graphproppred
import pandas as pd

from graphsep.molecules.recipes import SPLIT_RULES, TASK_TYPES, find_recipe
from graphsep.molecules.table import DataError

_DEFAULT_METRIC = {"classification": "rocauc", "regression": "rmse"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@functools.cache
def ogb_master() -> pd.DataFrame:
    """OGB's table of graph-property datasets (``ogb/graphproppred/master.csv``), one column each.

    Returns:
        pd.DataFrame: meta information indexed by key (``"num tasks"``, ``"split"``, ...),
        read the way ogb reads it.
    """
    path = Path(ogb.graphproppred.__file__).parent / "master.csv"
    return pd.read_csv(path, index_col=0, keep_default_na=False)


def dataset_dir_name(name: str) -> str:
    """Folder name ogb uses for a dataset name: ``ogbg-molhiv`` -> ``ogbg_molhiv``.

    Args:
        name (str): dataset name.

    Returns:
        str: the folder name under the root.
    """
    return "_".join(name.split("-"))


@dataclass
class BuildSpec:
    """Everything a build needs, resolved from a recipe and the caller's arguments.

    Args:
        name (str): dataset name.
        source (Path): the table file.
        smiles_column (str): SMILES column.
        label_columns (list[str] | None): label columns, None = all but the SMILES column.
        task_type (str): ``"classification"`` or ``"regression"``.
        metric (str): OGB metric name.
        split (str): ``"scaffold"`` or ``"random"``.
        drop_rows (list[int]): 0-based data rows left out, as OGB did. (default: ``[]``)
        split_sizes (list[int] | None): OGB's published sizes to compare with. (default: None)
    """

    name: str
    source: Path
    smiles_column: str
    label_columns: list[str] | None
    task_type: str
    metric: str
    split: str
    drop_rows: list[int] = field(default_factory=list)
    split_sizes: list[int] | None = None


def resolve_spec(
    name: str,
    source: str | Path,
    smiles_column: str | None = None,
    label_columns: list[str] | None = None,
    task_type: str | None = None,
    split: str = "scaffold",
) -> BuildSpec:
    """Merge a dataset's recipe (if it has one) with explicit arguments, which win.

    Args:
        name (str): OGB name (with a recipe) or any other name (a user's table).
        source (str | Path): the table, or for a recipe a folder holding its source file.
        smiles_column (str | None): SMILES column; default from the recipe, else ``"smiles"``.
        label_columns (list[str] | None): label columns; default from the recipe, else all
            columns but the SMILES column.
        task_type (str | None): required without a recipe.
        split (str): ``"scaffold"`` or ``"random"``. (default: ``"scaffold"``)

    Returns:
        BuildSpec: the resolved build.

    Raises:
        DataError: download-only recipe, bad name, missing or invalid task type or split.
    """
    if split not in SPLIT_RULES:
        raise DataError(f"split '{split}' is not one of {SPLIT_RULES}")
    recipe = find_recipe(name)
    source = Path(source)
    if recipe is None:
        return _custom_spec(name, source, smiles_column, label_columns, task_type, split)
    if recipe.source is None:
        raise DataError(f"{name} is download-only (no source table): load it with internet")
    return BuildSpec(
        name=name,
        source=source / recipe.source if source.is_dir() else source,
        smiles_column=smiles_column or recipe.smiles_column,
        label_columns=label_columns or recipe.label_columns,
        task_type=_checked_task_type(task_type or recipe.task_type),
        metric=recipe.metric,
        split=split,
        drop_rows=list(recipe.drop_rows),
        split_sizes=recipe.split_sizes if split == recipe.split else None,
    )


def _custom_spec(
    name: str,
    source: Path,
    smiles_column: str | None,
    label_columns: list[str] | None,
    task_type: str | None,
    split: str,
) -> BuildSpec:
    if not _NAME.fullmatch(name):
        raise DataError(f"dataset name '{name}' must be letters, digits, '_', '-' or '.'")
    if name in ogb_master().columns:
        raise DataError(f"{name} is an OGB dataset graphsep has no recipe for")
    if task_type is None:
        raise DataError(f"'{name}' has no recipe: give its task type ({' or '.join(TASK_TYPES)})")
    task_type = _checked_task_type(task_type)
    return BuildSpec(
        name=name,
        source=source,
        smiles_column=smiles_column or "smiles",
        label_columns=label_columns,
        task_type=task_type,
        metric=_DEFAULT_METRIC[task_type],
        split=split,
    )


def _checked_task_type(task_type: str) -> str:
    if task_type not in TASK_TYPES:
        raise DataError(f"task type '{task_type}' is not one of {TASK_TYPES}")
    return task_type
