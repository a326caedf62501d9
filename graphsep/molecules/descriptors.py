"""Whole-molecule feature vectors from RDKit: fingerprints and 2-D descriptors, by one routine.

Five sets, named in ``task.property.mol_features`` and concatenated in the order given:

- ``ecfp``: Morgan (ECFP4) counts, radius 2, 2048 hashed columns, as ``log1p(count)``;
- ``fcfp``: the same with pharmacophoric atom invariants (FCFP4);
- ``maccs``: the 167 MACCS keys, 0/1;
- ``atompairs``: hashed atom-pair counts, 2048 columns, as ``log1p(count)``;
- ``rdkit2d``: every 2-D descriptor of ``rdkit.Chem.Descriptors`` (217 with RDKit 2026.09),
  raw: :class:`FeatureScaler` standardizes them with the train split's statistics.

Dataset building, training and ``graphsep predict`` all call :func:`molecule_features`, so the
features of a SMILES are the same wherever they are computed. A value RDKit cannot compute
(an exception, or a NaN or infinite descriptor such as ``Ipc`` on large molecules) comes back as
NaN and is named in :class:`MoleculeFeatures`; :class:`FeatureScaler` fills it with the
train split's mean, so that no NaN reaches a model.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rdkit
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors, MACCSkeys
from rdkit.Chem import rdFingerprintGenerator as generators

from graphsep.errors import GraphsepError

FINGERPRINT_SIZE = 2048
CLIP = 10.0
"""Standardized values are clipped to ``[-CLIP, CLIP]``: a heavy-tailed descriptor of one odd
molecule must not dominate its [CLS] state."""


DESCRIPTOR_NAMES = tuple(name for name, _ in Descriptors._descList)
"""The 2-D descriptors of this RDKit, in its order (recorded in a checkpoint)."""


def _count_fingerprint(generator: Any, mol: Chem.Mol) -> np.ndarray:
    return np.log1p(generator.GetCountFingerprintAsNumPy(mol).astype(np.float64))


@functools.cache
def _generators() -> dict[str, Any]:
    """RDKit's fingerprint generators, built once per process (they are not picklable)."""
    fcfp = generators.GetMorganFeatureAtomInvGen()
    return {
        "ecfp": generators.GetMorganGenerator(radius=2, fpSize=FINGERPRINT_SIZE),
        "fcfp": generators.GetMorganGenerator(
            radius=2, fpSize=FINGERPRINT_SIZE, atomInvariantsGenerator=fcfp
        ),
        "atompairs": generators.GetAtomPairGenerator(fpSize=FINGERPRINT_SIZE),
    }


def _maccs(mol: Chem.Mol) -> np.ndarray:
    return np.array(MACCSkeys.GenMACCSKeys(mol), dtype=np.float64)


def _rdkit2d(mol: Chem.Mol) -> np.ndarray:
    values = Descriptors.CalcMolDescriptors(mol, missingVal=float("nan"))
    return np.array([values[name] for name in DESCRIPTOR_NAMES], dtype=np.float64)


def _compute(name: str, mol: Chem.Mol) -> np.ndarray:
    if name in ("ecfp", "fcfp", "atompairs"):
        return _count_fingerprint(_generators()[name], mol)
    return _maccs(mol) if name == "maccs" else _rdkit2d(mol)


FEATURE_SETS = {
    "ecfp": FINGERPRINT_SIZE,
    "fcfp": FINGERPRINT_SIZE,
    "maccs": 167,
    "atompairs": FINGERPRINT_SIZE,
    "rdkit2d": len(DESCRIPTOR_NAMES),
}
"""Each feature set's number of columns."""

STANDARDIZED = frozenset({"rdkit2d"})
"""Sets standardized with train statistics; fingerprints stay as they are (a rare bit
standardized would become a huge value)."""


def feature_width(names: Sequence[str]) -> int:
    """Return the number of columns of the concatenated sets ``names``."""
    return sum(FEATURE_SETS[name] for name in names)


@dataclass
class MoleculeFeatures:
    """The feature vector of one molecule and what could not be computed.

    Args:
        values (np.ndarray): ``(F,)`` float64, NaN where a value is missing.
        failed (dict[str, str]): per feature set RDKit could not compute at all, its reason.
        not_finite (list[str]): the single values RDKit gave as NaN or infinite, as
            ``set:column`` (``rdkit2d:Ipc``).
    """

    values: np.ndarray
    failed: dict[str, str] = field(default_factory=dict)
    not_finite: list[str] = field(default_factory=list)

    @property
    def missing(self) -> dict[str, str]:
        """Every missing part, set or single value, with its reason (for reports)."""
        return {**self.failed, **dict.fromkeys(self.not_finite, "not finite")}


def molecule_features(mol: Chem.Mol, names: Sequence[str]) -> MoleculeFeatures:
    """Compute the feature sets ``names`` of an RDKit molecule, concatenated in that order.

    A set whose computation raises is all NaN, its reason kept; a descriptor that comes back
    NaN or infinite is NaN and named (``rdkit2d:Ipc``).

    Args:
        mol (Chem.Mol): a parsed molecule (sanitized or leniently featurized).
        names (Sequence[str]): keys of :data:`FEATURE_SETS`.

    Returns:
        MoleculeFeatures: the ``(feature_width(names),)`` vector and the missing parts.
    """
    parts, failed, not_finite = [], {}, []
    for name in names:
        try:
            with rdBase.BlockLogs():
                values = _compute(name, mol)
        except Exception as error:  # RDKit raises many types; the molecule keeps the reason
            values = np.full(FEATURE_SETS[name], np.nan)
            failed[name] = f"{type(error).__name__}: {error}".strip()
        bad = ~np.isfinite(values)
        if bad.any() and name not in failed:
            for column in np.flatnonzero(bad):
                label = DESCRIPTOR_NAMES[column] if name == "rdkit2d" else str(column)
                not_finite.append(f"{name}:{label}")
            values = np.where(bad, np.nan, values)
        parts.append(values)
    vector = np.concatenate(parts) if parts else np.zeros(0)
    return MoleculeFeatures(vector, failed, not_finite)


def feature_provenance(names: Sequence[str]) -> dict[str, Any]:
    """Return what fixes the columns' meaning: the sets, their widths, RDKit, descriptors."""
    return {
        "names": list(names),
        "widths": [FEATURE_SETS[n] for n in names],
        "rdkit": rdkit.__version__,
        "descriptors": list(DESCRIPTOR_NAMES) if "rdkit2d" in names else [],
    }


@dataclass
class FeatureScaler:
    """Train-split statistics that turn raw feature vectors into model input, never NaN.

    A missing value becomes its column's train mean (``fill``), then ``(x - center) / scale``
    is clipped to ``[-CLIP, CLIP]``. ``center`` and ``scale`` are the train mean and standard
    deviation for :data:`STANDARDIZED` sets, 0 and 1 for fingerprints.

    Args:
        provenance (dict[str, Any]): :func:`feature_provenance` of the columns.
        fill (np.ndarray): ``(F,)`` train mean of the finite values (0 where none).
        center (np.ndarray): ``(F,)``.
        scale (np.ndarray): ``(F,)``, positive.
    """

    provenance: dict[str, Any]
    fill: np.ndarray
    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, train: np.ndarray, names: Sequence[str]) -> FeatureScaler:
        """Fit on the train split's raw features ``(G, F)`` (NaN = missing)."""
        # float64: cached features are float32, whose sums overflow to inf on large sets
        # (molhiv's Ipc reaches 2e38), and inf - inf would make NaN model input
        train = np.asarray(train, dtype=np.float64)
        finite = np.isfinite(train)
        counts = finite.sum(0)
        fill = np.where(finite, train, 0.0).sum(0) / np.maximum(counts, 1)
        spread = np.sqrt(np.where(finite, (train - fill) ** 2, 0.0).sum(0) / np.maximum(counts, 1))
        standardized = np.concatenate(
            [np.full(FEATURE_SETS[n], n in STANDARDIZED) for n in names]
        ) if names else np.zeros(0, bool)  # fmt: skip
        center = np.where(standardized, fill, 0.0)
        scale = np.where(standardized & (spread > 1e-8), spread, 1.0)
        return cls(feature_provenance(names), fill, center, scale)

    @property
    def names(self) -> list[str]:
        """The feature sets, in column order."""
        return list(self.provenance["names"])

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Return model input ``(G, F)`` float32 for raw features ``(G, F)``: finite, clipped."""
        filled = np.where(np.isfinite(raw), raw, self.fill)
        return np.clip((filled - self.center) / self.scale, -CLIP, CLIP).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for a checkpoint's metadata."""
        return {
            "provenance": self.provenance,
            "fill": self.fill.tolist(),
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> FeatureScaler:
        """Rebuild from :meth:`to_dict`, refusing columns this RDKit would compute otherwise.

        Raises:
            GraphsepError: the checkpoint's descriptors or widths differ from this RDKit's.
        """
        provenance = saved["provenance"]
        now = feature_provenance(provenance["names"])
        for key in ("widths", "descriptors"):
            if provenance[key] != now[key]:
                raise GraphsepError(
                    f"the checkpoint's molecular features ({', '.join(provenance['names'])}) "
                    f"were computed by RDKit {provenance['rdkit']}, whose {key} differ from "
                    f"RDKit {now['rdkit']}'s here; install RDKit {provenance['rdkit']}"
                )
        arrays = {k: np.asarray(saved[k], dtype=np.float64) for k in ("fill", "center", "scale")}
        return cls(provenance, **arrays)
