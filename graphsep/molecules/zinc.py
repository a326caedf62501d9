"""PyG's ZINC (Dwivedi et al. benchmarking-gnns): penalized logP regression, MAE.

The seed paper's other graph benchmark (ZINC-subset MAE: ShareNorm 0.164 -> SepNorm 0.144).
``zinc`` is the 12k subset, ``zinc-full`` all 250k molecules; PyG downloads the raw pickles on
first use and reads them from ``<root>/raw`` afterwards, with a restricted unpickler
(:func:`~graphsep.molecules.files.load_pickled_tensors`): a dataset folder is data, not code.
"""

from __future__ import annotations

from pathlib import Path

from torch_geometric.data import Data
from torch_geometric.datasets import ZINC
from torch_geometric.transforms import BaseTransform

from graphsep.molecules.files import check_data_root, dataset_files
from graphsep.molecules.table import DataError

ZINC_SUBSET = {"zinc": True, "zinc-full": False}
"""Dataset names and whether each is the 12k subset."""

ZINC_SPLITS = {"train": "train", "valid": "val", "test": "test"}
"""OGB-style split names to PyG's."""

NUM_ATOM_TYPES = 28
NUM_BOND_TYPES = 4  # 0 = none (never an edge), 1 single, 2 double, 3 triple


class ZincColumns(BaseTransform):
    """Give ZINC graphs the column shapes of OGB's: ``edge_attr (E, 1)`` and ``y (1, 1)``."""

    def forward(self, data: Data) -> Data:
        """Reshape ``edge_attr`` and ``y`` in place and return ``data``."""
        data.edge_attr = data.edge_attr.view(-1, 1)
        data.y = data.y.view(1, 1)
        return data


def load_zinc(name: str, root: str | Path) -> dict[str, ZINC]:
    """Load the three splits of ``zinc`` or ``zinc-full`` under ``root``.

    Args:
        name (str): ``"zinc"`` (12k subset) or ``"zinc-full"``.
        root (str | Path): PyG's ZINC root (``raw/`` holds the pickles).

    Returns:
        dict[str, ZINC]: ``train``, ``valid``, ``test`` datasets.

    Raises:
        DataError: an unknown name, a root that is a file, the raw files are absent and
            cannot be downloaded, a raw or processed file that asks for code or is damaged
            (see :func:`~graphsep.molecules.files.dataset_files`), or a folder that processing
            must write and cannot.
    """
    if name not in ZINC_SUBSET:
        raise DataError(f"unknown ZINC dataset '{name}'; choose one of {sorted(ZINC_SUBSET)}")
    check_data_root(root)
    try:
        with dataset_files():
            return {
                ours: ZINC(
                    str(root), subset=ZINC_SUBSET[name], split=theirs, transform=ZincColumns()
                )
                for ours, theirs in ZINC_SPLITS.items()
            }
    except OSError as err:  # URLError is an OSError: no network and no raw files
        raise DataError(
            f"cannot load {name} from {root}: {err}; offline, place PyG's ZINC raw files "
            f"(train/val/test .pickle and .index) in {Path(root) / 'raw'}"
        ) from err
