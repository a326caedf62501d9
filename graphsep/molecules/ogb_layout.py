"""Load a built or downloaded ``ogbg-mol*`` folder with OGB's own ``PygGraphPropPredDataset``.

Traps of ogb 1.3.6 are closed here so that loading never hangs or fails in CI (no stdin, no
network): a dataset folder without ``RELEASE_v1.txt`` (a failed download) makes ogb block on
``input()``, so such a folder is refused before ogb sees it; its files are read as data only
and processed atomically (:func:`graphsep.molecules.files.dataset_files`). The three PyG classes
torch >= 2.6 refuses in OGB's processed file are allowed by ``import graphsep``.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
from ogb.graphproppred import PygGraphPropPredDataset
from torch import Tensor

from graphsep.molecules.build import build_dataset
from graphsep.molecules.build_spec import dataset_dir_name, ogb_master
from graphsep.molecules.files import check_data_root, dataset_files
from graphsep.molecules.ogb_writer import META_FILE, RELEASE_FILE
from graphsep.molecules.split import SPLITS, min_split_rows
from graphsep.molecules.table import DataError


def dataset_folder(name: str, root: str | Path) -> Path:
    """Locate the folder ogb reads for ``name`` under ``root`` (a ``_pyg`` download wins).

    Args:
        name (str): dataset name.
        root (str | Path): the root folder.

    Returns:
        Path: ``<root>/<name with _>`` or ``<root>/<name with _>_pyg``.
    """
    folder = Path(root) / dataset_dir_name(name)
    pyg = folder.with_name(folder.name + "_pyg")
    return pyg if pyg.is_dir() else folder


def load_ogb_dataset(
    name: str,
    root: str | Path,
    source: str | Path | None = None,
    transform=None,
    pre_transform=None,
    **build_kwargs,
) -> PygGraphPropPredDataset:
    """OGB's ``PygGraphPropPredDataset`` for a built or downloaded dataset, built first if absent.

    Args:
        name (str): OGB name (``"ogbg-molhiv"``) or the name a table was built under.
        root (str | Path): folder holding the dataset folder.
        source (str | Path | None): table (or folder of recipe tables) to build from when the
            dataset is absent; without it an absent OGB dataset is downloaded. (default: None)
        transform (callable | None): PyG transform applied on access. (default: None)
        pre_transform (callable | None): PyG transform applied once, when OGB processes the
            raw files. (default: None)
        **build_kwargs: passed to :func:`graphsep.molecules.build.build_dataset` when building.

    Returns:
        PygGraphPropPredDataset: OGB's dataset object.

    Raises:
        DataError: a root that is a file, a folder that is not a dataset, an absent dataset
            that can be neither built nor downloaded, a failed download, a refused or damaged
            processed file, or a folder that processing must write and cannot.
    """
    check_data_root(root)
    folder = dataset_folder(name, root)
    if folder.exists() and not (folder / RELEASE_FILE).is_file():
        raise DataError(
            f"{folder} is not a dataset (no {RELEASE_FILE}: a failed download or build?); "
            "remove it or choose another root"
        )
    if not folder.exists() and source is not None:
        folder = build_dataset(name, source, root, **build_kwargs)
    if folder.exists():
        with dataset_files():
            return _open(name, folder, transform, pre_transform)
    if name not in ogb_master().columns:
        raise DataError(
            f"unknown dataset '{name}': not an OGB name and not built under {root}; build it "
            f"with `graphsep data build {name} --source TABLE --root {root}`"
        )
    with dataset_files():
        return _download(name, Path(root), folder, transform, pre_transform)


def _open(name: str, folder: Path, transform, pre_transform) -> PygGraphPropPredDataset:
    """Open a graphsep build with its meta_dict, a plain OGB download by name."""
    meta_file = folder / META_FILE
    if not meta_file.is_file():
        if name not in ogb_master().columns:
            raise DataError(f"{folder} has no {META_FILE}: it was not built by graphsep")
        return PygGraphPropPredDataset(name, str(folder.parent), transform, pre_transform)
    meta = json.loads(meta_file.read_text())["meta_dict"]
    return PygGraphPropPredDataset(
        name,
        transform=transform,
        pre_transform=pre_transform,
        meta_dict={**meta, "dir_path": str(folder)},
    )


def _download(
    name: str, root: Path, folder: Path, transform, pre_transform
) -> PygGraphPropPredDataset:
    """Let ogb download; on failure remove the empty folder it leaves.

    Left there, that folder would make the next call block on ogb's ``input()``.
    """
    try:
        return PygGraphPropPredDataset(name, str(root), transform, pre_transform)
    except Exception as err:
        if folder.exists() and not (folder / RELEASE_FILE).is_file():
            shutil.rmtree(folder)
        raise DataError(
            f"cannot download {name} into {root}: {err}; offline, build it from a table "
            f"with `graphsep data build {name} --source PATH --root {root}`"
        ) from err


def load_split(dataset: PygGraphPropPredDataset) -> dict[str, Tensor]:
    """Read the train/valid/test indices of the split the dataset was built or published with.

    Args:
        dataset (PygGraphPropPredDataset): a dataset from :func:`load_ogb_dataset`.

    Returns:
        dict[str, Tensor]: ``train``, ``valid``, ``test`` long index tensors.

    Raises:
        DataError: the dataset folder has no such split, or a split file is empty.
    """
    split = dataset.meta_info["split"]
    path = Path(dataset.root) / "split" / split
    if not path.is_dir():
        raise DataError(f"{dataset.root} has no split/{split} folder")
    try:
        return dataset.get_idx_split(split)
    except pd.errors.EmptyDataError:
        empty = [part for part in SPLITS if _is_empty(path / f"{part}.csv.gz")]
        raise DataError(
            f"{path}: the {' and '.join(empty)} split is empty; rebuild the dataset from a "
            f"table of at least {min_split_rows()} molecules"
        ) from None


def _is_empty(split_file: Path) -> bool:
    with gzip.open(split_file, "rb") as f:
        return not f.read().strip()
