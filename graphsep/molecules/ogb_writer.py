"""Write OGB's on-disk graph-property layout for featurized, split molecules.

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

Which SMILES give a graph, and every reason, is :func:`graphsep.molecules.featurize.featurize`'s;
:func:`graphsep.molecules.build.build_dataset` writes into a hidden temporary sibling that it
renames into place, so a killed build never leaves a folder that loads as a dataset.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from graphsep import __version__
from graphsep.molecules.build_spec import BuildSpec, dataset_dir_name, ogb_master
from graphsep.molecules.featurize import MolGraph
from graphsep.molecules.table import SmilesTable, file_row

logger = logging.getLogger(__name__)

RELEASE_FILE = "RELEASE_v1.txt"
META_FILE = "graphsep_meta.json"
SKIPPED_FILE = "skipped_rows.csv"
UNSANITIZED_FILE = "unsanitized_rows.csv"

# gzip without a timestamp: the same table builds byte-identical files.
_GZIP = {"method": "gzip", "compresslevel": 6, "mtime": 0}
_OGB_TASK_TYPE = {"classification": "binary classification", "regression": "regression"}


def write_layout(
    folder: Path,
    spec: BuildSpec,
    table: SmilesTable,
    rows: np.ndarray,
    graphs: list[MolGraph],
    splits: dict[str, np.ndarray],
) -> None:
    """Write the files ogb's ``read_csv_graph_raw`` and ``get_idx_split`` read, and the mapping.

    Args:
        folder (Path): the dataset folder being written.
        spec (BuildSpec): the build.
        table (SmilesTable): the source table.
        rows (np.ndarray): ``(G,)`` 0-based data row of each molecule in the table.
        graphs (list[MolGraph]): the molecules, one per entry of ``rows``.
        splits (dict[str, np.ndarray]): molecule indices of ``train``, ``valid`` and ``test``.
    """
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


def write_reports(
    folder: Path,
    spec: BuildSpec,
    table: SmilesTable,
    seed: int,
    rows: np.ndarray,
    graphs: list[MolGraph],
    skipped: list[tuple[int, str, str]],
) -> None:
    """Write ``graphsep_meta.json`` and the lists of skipped and of unsanitized rows.

    Args:
        folder (Path): the dataset folder being written.
        spec (BuildSpec): the build.
        table (SmilesTable): the source table.
        seed (int): seed of the random split, recorded.
        rows (np.ndarray): ``(G,)`` 0-based data row of each molecule in the table.
        graphs (list[MolGraph]): the molecules, one per entry of ``rows``.
        skipped (list[tuple[int, str, str]]): ``(file row, SMILES, reason)`` of each row that
            gave no graph.
    """
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
