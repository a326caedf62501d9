"""The whole-molecule features of a built dataset, computed once and cached beside its graphs.

Each feature set of :mod:`graphsep.molecules.descriptors` is cached in its own file,
``<processed_dir>/mol_features_<set>.pt`` (raw values, NaN where RDKit gave none), so that runs
asking for other combinations reuse it; a cache computed from other SMILES or by another RDKit
is recomputed. Each file has a report beside it, ``mol_features_<set>.json``: how many values
were missing and for which features, the build report of the features.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import rdkit
import torch

from graphsep.files import made_once, write_atomically
from graphsep.molecules.descriptors import FEATURE_SETS
from graphsep.molecules.featurize import SmilesError, featurize_many
from graphsep.molecules.files import load_tensors, save_atomic
from graphsep.molecules.table import DataError

CACHE_VERSION = 1


def dataset_smiles(root: str | Path) -> list[str]:
    """Read the SMILES of a built OGB-layout dataset, in graph order (``mapping/mol.csv.gz``).

    Raises:
        DataError: the mapping file is missing or has no ``smiles`` column.
    """
    mapping = Path(root) / "mapping" / "mol.csv.gz"
    if not mapping.is_file():
        raise DataError(
            f"{mapping} is missing: molecular features are computed from the SMILES a dataset "
            "was built from"
        )
    frame = pd.read_csv(mapping)
    if "smiles" not in frame.columns:
        raise DataError(f"{mapping}: no 'smiles' column (columns: {list(frame.columns)})")
    return frame["smiles"].astype(str).tolist()


def _cache_key(smiles: Sequence[str], name: str) -> str:
    digest = hashlib.sha256("\n".join(smiles).encode())
    digest.update(f"{name}:{FEATURE_SETS[name]}:{rdkit.__version__}:{CACHE_VERSION}".encode())
    return digest.hexdigest()


def _compute(smiles: Sequence[str], name: str, progress: bool) -> tuple[np.ndarray, dict]:
    """Raw values ``(G, F_set)`` float32 of one set and its report."""
    graphs = featurize_many(smiles, progress=progress, mol_features=(name,))
    values = np.full((len(smiles), FEATURE_SETS[name]), np.nan, dtype=np.float32)
    missing: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for row, graph in enumerate(graphs):
        if isinstance(graph, SmilesError):  # the dataset holds it, so this is not expected
            missing["smiles"] += 1
            examples.setdefault("smiles", f"row {row}: {graph}")
            continue
        with np.errstate(over="ignore"):  # float64 beyond float32's range: missing too
            values[row] = graph.features.values
        missing.update(graph.features.missing.keys())
        for key, reason in graph.features.missing.items():
            examples.setdefault(key, f"row {row} ({smiles[row]}): {reason}")
    values[~np.isfinite(values)] = np.nan
    report = {
        "feature_set": name,
        "molecules": len(smiles),
        "missing_values": int(np.isnan(values).sum()),
        "molecules_with_missing": int(np.isnan(values).any(1).sum()),
        "missing_by_feature": dict(missing.most_common()),
        "first_example": examples,
        "filled_with": "the train split's mean of the feature (graphsep.molecules.descriptors)",
    }
    return values, report


def load_dataset_features(
    root: str | Path, processed_dir: str | Path, names: Sequence[str], progress: bool = True
) -> np.ndarray:
    """Return the raw features ``(G, sum of widths)`` of a dataset, computing uncached sets.

    Args:
        root (str | Path): the dataset folder (its ``mapping/mol.csv.gz`` has the SMILES).
        processed_dir (str | Path): where the caches and reports go, beside the graphs.
        names (Sequence[str]): feature sets, in column order.
        progress (bool): a progress bar while computing, on a terminal. (default: True)

    Returns:
        np.ndarray: float32, NaN where a value is missing (see the set's report).
    """
    smiles = dataset_smiles(root)
    parts = []
    for name in names:
        path = Path(processed_dir) / f"mol_features_{name}.pt"
        with made_once(path):  # runs side by side compute a set once
            parts.append(_cached_set(smiles, name, path, progress))
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(smiles), 0), np.float32)


def _cached_set(smiles: Sequence[str], name: str, path: Path, progress: bool) -> np.ndarray:
    """One set's raw values from its cache at ``path``, computed and cached if stale."""
    key = _cache_key(smiles, name)
    cached = load_tensors(path) if path.exists() else None
    if cached is not None and cached.get("key") == key:
        return cached["values"].numpy()
    values, report = _compute(smiles, name, progress)
    save_atomic({"key": key, "values": torch.from_numpy(values)}, path)
    text = json.dumps(report, indent=1) + "\n"
    write_atomically(path.with_suffix(".json"), lambda tmp, t=text: tmp.write_text(t))
    if report["missing_values"]:
        print(
            f"{name}: {report['missing_values']} value(s) of "
            f"{report['molecules_with_missing']} molecule(s) missing, filled with the "
            f"train mean (see {path.with_suffix('.json')})",
            flush=True,
        )
    return values
