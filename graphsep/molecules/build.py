"""Build OGB's on-disk graph-property layout from a SMILES table, offline.

The folder this writes is read by OGB's own ``PygGraphPropPredDataset`` (ogb 1.3.6)::

    <root>/<ogbg_molbbbp>/RELEASE_v1.txt           without it ogb asks input()
        raw/{edge,edge-feat,node-feat,num-node-list,num-edge-list,graph-label}.csv.gz
                                                    header-less; ONE row per bond (ogb adds
                                                    the reverse); atom indices per molecule
        split/<scaffold|random>/{train,valid,test}.csv.gz
        mapping/mol.csv.gz                          labels, smiles, mol_id (0-based data
                                                    row of the source table)
        graphsep_meta.json                          OGB's meta_dict and how it was built
        skipped_rows.csv                            with skip_invalid only: row (file line),
                                                    smiles, reason
        unsanitized_rows.csv                        rows RDKit will not sanitize, featurized
                                                    leniently as OGB kept them: row, smiles,
                                                    RDKit's reason

Which SMILES give a graph, and every reason, is :func:`graphsep.molecules.featurize.featurize`'s.

It is written into a hidden temporary sibling and renamed into place, so a killed build never
leaves a folder that loads as a dataset.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import ogb.graphproppred
import pandas as pd

from graphsep import __version__
from graphsep.files import publish, temporary_sibling
from graphsep.molecules.featurize import MolGraph, SmilesError, featurize_many
from graphsep.molecules.files import check_data_root
from graphsep.molecules.recipes import SPLIT_RULES, TASK_TYPES, find_recipe
from graphsep.molecules.split import SPLITS, min_split_rows, random_split, scaffold_split
from graphsep.molecules.table import DataError, SmilesTable, file_row, read_table

logger = logging.getLogger(__name__)

RELEASE_FILE = "RELEASE_v1.txt"
META_FILE = "graphsep_meta.json"
SKIPPED_FILE = "skipped_rows.csv"
UNSANITIZED_FILE = "unsanitized_rows.csv"

# gzip without a timestamp: the same table builds byte-identical files.
_GZIP = {"method": "gzip", "compresslevel": 6, "mtime": 0}
_DEFAULT_METRIC = {"classification": "rocauc", "regression": "rmse"}
_OGB_TASK_TYPE = {"classification": "binary classification", "regression": "regression"}
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
        _write_layout(tmp, spec, table, rows, graphs, splits)
        _write_reports(tmp, spec, table, seed, rows, graphs, skipped)
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


def _write_layout(
    folder: Path,
    spec: BuildSpec,
    table: SmilesTable,
    rows: np.ndarray,
    graphs: list[MolGraph],
    splits: dict[str, np.ndarray],
) -> None:
    """Write the files ogb's ``read_csv_graph_raw`` and ``get_idx_split`` read, and the mapping."""
    raw = folder / "raw"
    _write_csv(raw / "edge.csv.gz", np.concatenate([g.bonds for g in graphs]))
    _write_csv(raw / "edge-feat.csv.gz", np.concatenate([g.bond_feat for g in graphs]))
    _write_csv(raw / "node-feat.csv.gz", np.concatenate([g.node_feat for g in graphs]))
    _write_csv(raw / "num-node-list.csv.gz", np.array([g.num_nodes for g in graphs]))
    _write_csv(raw / "num-edge-list.csv.gz", np.array([len(g.bonds) for g in graphs]))
    labels = pd.DataFrame(table.labels[rows], columns=table.label_columns)
    if spec.task_type == "classification":
        # Whole numbers, blank for missing, as OGB's own label files.
        labels = labels.astype("Int64")
    _write_csv(raw / "graph-label.csv.gz", labels)
    for part, index in splits.items():
        _write_csv(folder / "split" / spec.split / f"{part}.csv.gz", index)
    mapping = labels.assign(smiles=[table.smiles[i] for i in rows], mol_id=rows)
    _write_csv(folder / "mapping" / "mol.csv.gz", mapping, header=True)
    (folder / RELEASE_FILE).write_text(f"{spec.name} built by graphsep from {spec.source}\n")


def _write_reports(
    folder: Path,
    spec: BuildSpec,
    table: SmilesTable,
    seed: int,
    rows: np.ndarray,
    graphs: list[MolGraph],
    skipped: list[tuple[int, str, str]],
) -> None:
    """Write ``graphsep_meta.json`` and the lists of skipped and of unsanitized rows."""
    lenient = [(int(r), g) for r, g in zip(rows, graphs, strict=True) if g.unsanitized]
    if lenient:
        unsanitized = [(file_row(r), table.smiles[r], g.unsanitized) for r, g in lenient]
        shown = ", ".join(str(row) for row, _, _ in unsanitized[:10])
        logger.info(
            "%s: %d rows RDKit will not sanitize were featurized leniently, as OGB kept them "
            "(rows %s%s of %s); listed with RDKit's reasons in %s",
            spec.name,
            len(lenient),
            shown,
            ", ..." if len(lenient) > 10 else "",
            table.path,
            UNSANITIZED_FILE,
        )
        frame = pd.DataFrame(unsanitized, columns=["row", "smiles", "reason"])
        frame.to_csv(folder / UNSANITIZED_FILE, index=False)
    build = {
        "source": str(spec.source),
        "graphsep_version": __version__,
        "seed": seed,
        "num_graphs": len(graphs),
        "skipped_rows": len(skipped),
        "unsanitizable_mol_ids": [r for r, _ in lenient],
    }
    meta = {"meta_dict": _meta_dict(spec, table), "build": build}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    if skipped:
        frame = pd.DataFrame(skipped, columns=["row", "smiles", "reason"])
        frame.to_csv(folder / SKIPPED_FILE, index=False)


def _write_csv(path: Path, data: np.ndarray | pd.DataFrame, header: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    frame.to_csv(path, header=header, index=False, compression=_GZIP)


def _meta_dict(spec: BuildSpec, table: SmilesTable) -> dict:
    """Make the ``meta_dict`` of ``PygGraphPropPredDataset``; OGB's master.csv for OGB names.

    Its ``dir_path`` is added at load time, so that the folder can move.
    """
    if spec.name in ogb_master().columns:
        meta = ogb_master()[spec.name].to_dict()
    else:
        meta = {
            "num tasks": str(table.labels.shape[1]),
            "eval metric": spec.metric,
            "download_name": dataset_dir_name(spec.name),
            "version": "1",
            "url": "",
            "add_inverse_edge": "True",
            "data type": "mol",
            "has_node_attr": "True",
            "has_edge_attr": "True",
            "task type": _OGB_TASK_TYPE[spec.task_type],
            "num classes": "2" if spec.task_type == "classification" else "-1",
            "additional node files": "None",
            "additional edge files": "None",
            "binary": "False",
        }
    return {**meta, "split": spec.split}
