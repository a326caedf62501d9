"""Build a dataset in OGB's on-disk graph-property layout from a SMILES table, offline.

The driver: resolve the spec (:mod:`graphsep.molecules.build_spec`), read and check the table,
featurize the rows (:func:`graphsep.molecules.featurize.featurize_many`, whose rules and reasons
decide which SMILES give a graph), split them, and write the folder
(:mod:`graphsep.molecules.ogb_writer`) into a hidden temporary sibling that is renamed into
place, so a killed build never leaves a folder that loads as a dataset.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from graphsep.files import publish, temporary_sibling
from graphsep.molecules.build_spec import BuildSpec, dataset_dir_name, ogb_master, resolve_spec
from graphsep.molecules.featurize import MolGraph, SmilesError, featurize_many
from graphsep.molecules.files import check_data_root
from graphsep.molecules.ogb_writer import RELEASE_FILE, write_layout, write_reports
from graphsep.molecules.split import SPLITS, min_split_rows, random_split, scaffold_split
from graphsep.molecules.table import DataError, SmilesTable, file_row, read_table

logger = logging.getLogger(__name__)


def build_dataset(
    name: str,
    source: str | Path,
    root: str | Path,
    smiles_column: str | None = None,
    label_columns: list[str] | None = None,
    task_type: str | None = None,
    split: str = "scaffold",
    seed: int = 0,
    skip_invalid: bool = False,
    processes: int | None = None,
    progress: bool = True,
) -> Path:
    """Build ``<root>/<name with _>/`` in OGB's layout from a SMILES table.

    Args:
        name (str): an OGB name with a recipe (``"ogbg-molhiv"``; the recipe gives the
            defaults) or any other name for a user's table (``"my-assay"``).
        source (str | Path): the table (csv, csv.gz, tsv), or for a recipe the folder
            holding its source file.
        root (str | Path): folder that will hold the dataset folder; created if needed.
        smiles_column (str | None): SMILES column. (default: recipe, else ``"smiles"``)
        label_columns (list[str] | None): label columns in task order. (default: recipe,
            else every column but the SMILES column)
        task_type (str | None): ``"classification"`` (labels 0/1, blank = missing) or
            ``"regression"``; required without a recipe. (default: None)
        split (str): ``"scaffold"`` (OGB's) or ``"random"``. (default: ``"scaffold"``)
        seed (int): seed of the random split. (default: 0)
        skip_invalid (bool): skip SMILES that give no graph (unparseable, not SMILES text, a
            wildcard atom, ...), listing them in ``skipped_rows.csv`` beside the dataset,
            instead of failing. Molecules RDKit will not sanitize are kept, featurized leniently
            as OGB did, and listed in ``unsanitized_rows.csv``. (default: False)
        processes (int | None): featurization processes, None = all cores. (default: None)
        progress (bool): show a progress bar. (default: True)

    Returns:
        Path: the dataset folder.

    Raises:
        DataError: bad table, recipe, name or arguments, a root folder in the way, or a SMILES
            that gives no graph (row, SMILES and reason) without ``skip_invalid``.
        GraphsepError: a featurization worker process died; nothing is written.
    """
    # where it will write is checked first, before any recipe or table is read
    folder = check_data_root(root, writing=True) / dataset_dir_name(name)
    spec = resolve_spec(name, source, smiles_column, label_columns, task_type, split)
    _check_replaceable(folder)
    table = read_table(spec.source, spec.smiles_column, spec.label_columns)
    _check_labels(spec, table)
    rows, graphs, skipped = _featurize_rows(spec, table, skip_invalid, processes, progress)
    splits = _split(spec, graphs, seed, skipped)
    Path(root).mkdir(parents=True, exist_ok=True)
    # hidden, so that ogb never takes it for a dataset; removed on any failure
    with temporary_sibling(folder, folder=True) as tmp:
        write_layout(tmp, spec, table, rows, graphs, splits)
        write_reports(tmp, spec, table, seed, rows, graphs, skipped)
        _check_replaceable(folder)  # again: the folder may have changed during the build
        publish(tmp, folder)
    return folder


def _check_replaceable(folder: Path) -> None:
    """Refuse to overwrite a folder that is neither empty nor a dataset: it is someone's data."""
    if folder.is_dir() and any(folder.iterdir()) and not (folder / RELEASE_FILE).is_file():
        raise DataError(
            f"{folder} exists and is not a dataset folder (no {RELEASE_FILE}); "
            "move it away or choose another root"
        )


def _check_labels(spec: BuildSpec, table: SmilesTable) -> None:
    """Check OGB's task count for OGB names, and 0/1 (or blank) labels for classification."""
    if spec.name in ogb_master().columns:
        expected = int(ogb_master()[spec.name]["num tasks"])
        if table.labels.shape[1] != expected:
            raise DataError(
                f"{spec.name} has {expected} tasks in OGB but {table.path} gives "
                f"{table.labels.shape[1]} label columns"
            )
    if spec.task_type == "classification":
        bad = ~np.isin(table.labels, (0.0, 1.0)) & ~np.isnan(table.labels)
        if bad.any():
            index, task = np.argwhere(bad)[0]
            raise DataError(
                f"row {file_row(int(index))} of {table.path}, column "
                f"'{table.label_columns[task]}': classification label "
                f"{table.labels[index, task]:g} is not 0 or 1"
            )


def _featurize_rows(
    spec: BuildSpec,
    table: SmilesTable,
    skip_invalid: bool,
    processes: int | None,
    progress: bool,
) -> tuple[np.ndarray, list[MolGraph], list[tuple[int, str, str]]]:
    """Featurize the rows OGB keeps: their 0-based indices, graphs and the skipped rows."""
    rows = np.setdiff1d(np.arange(len(table)), spec.drop_rows)
    smiles = [table.smiles[i] for i in rows]
    results = featurize_many(smiles, processes, progress, scaffold=True)
    skipped = _bad_rows(table, rows, results, skip_invalid)
    keep = [i for i, r in enumerate(results) if isinstance(r, MolGraph)]
    if not keep:
        raise DataError(f"{spec.source}: no molecule left to build {spec.name} from")
    return rows[keep], [results[i] for i in keep], skipped


def _bad_rows(
    table: SmilesTable, rows: np.ndarray, results: list, skip_invalid: bool
) -> list[tuple[int, str, str]]:
    """List ``(file row, smiles, reason)`` per SMILES that gave no graph; raise unless skipping."""
    bad = [
        (file_row(int(row)), r.smiles, r.reason)
        for row, r in zip(rows, results, strict=True)
        if isinstance(r, SmilesError)
    ]
    if bad and not skip_invalid:
        row, smiles, reason = bad[0]
        more = f" ({len(bad) - 1} more such rows)" if len(bad) > 1 else ""
        raise DataError(
            f"row {row} of {table.path}: {reason}{more}; "
            "skip_invalid (--skip-invalid) skips and lists them"
        )
    if bad:
        logger.warning("%s: skipped %d rows that gave no graph", table.path, len(bad))
    return bad


def _split(
    spec: BuildSpec, graphs: list[MolGraph], seed: int, skipped: list
) -> dict[str, np.ndarray]:
    """Split the molecules; refuse a split that leaves train, valid or test empty."""
    if spec.split == "random":
        splits = random_split(len(graphs), seed)
    else:
        splits = scaffold_split([g.scaffold for g in graphs])
    sizes = [len(splits[part]) for part in SPLITS]
    if not all(sizes):
        empty = " and ".join(part for part, size in zip(SPLITS, sizes, strict=True) if not size)
        needs = f"at least {min_split_rows()} molecules"
        if spec.split == "scaffold":
            needs += " and scaffolds enough to fill each split (whole scaffolds go to one)"
        raise DataError(
            f"{spec.source}: {len(graphs)} molecules leave the {empty} split empty "
            f"(train/valid/test {'/'.join(map(str, sizes))}); a {spec.split} split needs "
            f"{needs}: add rows" + ("" if spec.split == "random" else " or use --split random")
        )
    if spec.split_sizes and not skipped and sizes != list(spec.split_sizes):
        logger.warning(
            "%s: split sizes %s differ from OGB's %s", spec.name, sizes, spec.split_sizes
        )
    return splits
