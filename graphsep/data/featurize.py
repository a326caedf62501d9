"""SMILES to OGB graphs (``ogb.utils.smiles2graph``) and Murcko scaffolds, fast and honest.

Atoms and bonds go through OGB's own ``atom_to_feature_vector`` and ``bond_to_feature_vector``
(Hu et al. 2020, "Strategies for Pre-training Graph Neural Networks": 9 atom and 3 bond
categorical features). A SMILES that RDKit parses but refuses to sanitize (valence on Al, B,
Ge in molhiv and moltox21 with RDKit 2026.09) is featurized leniently (see
:func:`parse_smiles`) instead of dropped; a SMILES that does not parse raises
:class:`SmilesError` with RDKit's own reason.

Scaffolds of such molecules: RDKit's Murcko code works on them unless the offending atom is in
the scaffold itself (all 7 in molhiv: the metal sits in a ring); then the molecule is its own
scaffold group, which still gives OGB's exact molhiv split. The 8 Al compounds of moltox21
(Al outside any ring) get the scaffold OGB's older RDKit gave them (6 acyclic, 2 ring systems).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from ogb.utils.features import atom_to_feature_vector, bond_to_feature_vector
from rdkit import Chem, rdBase
from rdkit.Chem.Scaffolds import MurckoScaffold
from tqdm import tqdm

from graphsep.data.table import DataError

NUM_ATOM_FEATURES = 9
NUM_BOND_FEATURES = 3

# Every sanitization step but the strict valence check that these molecules fail.
_ALL_BUT_VALENCE = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
# Below this many molecules a process pool costs more to start than it saves.
_MIN_POOL_SIZE = 2000
_CHUNK_SIZE = 256


class SmilesError(DataError):
    """A SMILES that RDKit cannot parse.

    Args:
        smiles (str): the offending SMILES.
        reason (str): RDKit's message, e.g. ``"unclosed ring for input: 'C1CC'"``.
    """

    def __init__(self, smiles: str, reason: str) -> None:
        # Both go to ``args`` so that the error pickles across a process pool.
        super().__init__(smiles, reason)
        self.smiles = smiles
        self.reason = reason

    def __str__(self) -> str:
        return f"cannot parse SMILES {self.smiles!r}: {self.reason}"


@dataclass
class MolGraph:
    """One molecule as OGB stores it on disk: one row per bond, not per direction.

    Args:
        node_feat (np.ndarray): ``(N, 9)`` int64 OGB atom features.
        bonds (np.ndarray): ``(B, 2)`` int64 begin and end atom of each bond.
        bond_feat (np.ndarray): ``(B, 3)`` int64 OGB bond features.
        scaffold (str | None): Murcko scaffold SMILES (with chirality), or None where RDKit
            cannot compute one: the scaffold split then puts the molecule in a group of its own.
        sanitized (bool): False when RDKit refused full sanitization and the lenient route ran.
    """

    node_feat: np.ndarray
    bonds: np.ndarray
    bond_feat: np.ndarray
    scaffold: str | None = None
    sanitized: bool = True

    @property
    def num_nodes(self) -> int:
        """Number of atoms ``N``."""
        return len(self.node_feat)

    def to_ogb_dict(self) -> dict:
        """Expand to ``ogb.utils.smiles2graph``'s dict: each bond as ``(i, j)`` then ``(j, i)``.

        Returns:
            dict: ``edge_index`` ``(2, 2B)``, ``edge_feat`` ``(2B, 3)``, ``node_feat``
            ``(N, 9)`` (all int64) and ``num_nodes``.
        """
        # (B, 2, 2): each bond forwards, then backwards, flattened to OGB's interleaved order.
        both_ways = np.stack([self.bonds, self.bonds[:, ::-1]], axis=1).reshape(-1, 2)
        return {
            "edge_index": np.ascontiguousarray(both_ways.T),
            "edge_feat": np.repeat(self.bond_feat, 2, axis=0),
            "node_feat": self.node_feat,
            "num_nodes": self.num_nodes,
        }


def parse_smiles(smiles: str) -> tuple[Chem.Mol, bool]:
    """Parse a SMILES, falling back to a leniently sanitized molecule where sanitization fails.

    The fallback parses with ``sanitize=False``, computes valences with
    ``UpdatePropertyCache(strict=False)``, then runs every other sanitization step (rings,
    aromaticity, conjugation, hybridization), so that OGB's features see what OGB's older RDKit
    saw when it still accepted these molecules rather than "misc" hybridization everywhere.

    Args:
        smiles (str): the SMILES string.

    Returns:
        tuple[Chem.Mol, bool]: the molecule and whether it was sanitized.

    Raises:
        SmilesError: empty or unparseable SMILES, with RDKit's reason.
    """
    if not smiles:
        raise SmilesError(smiles, "empty SMILES")
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is not None:
        return mol, True
    with rdBase.CaptureErrorLog() as log:
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        raise SmilesError(smiles, _first_message(log.messages))
    mol.UpdatePropertyCache(strict=False)
    failed_step = Chem.SanitizeMol(mol, _ALL_BUT_VALENCE, catchErrors=True)
    if failed_step != Chem.SanitizeFlags.SANITIZE_NONE:
        Chem.GetSymmSSSR(mol)  # ring membership, which OGB's features read, whatever failed
    return mol, False


def _first_message(log: str) -> str:
    """RDKit's first log line without its ``[hh:mm:ss]`` stamp and parser prefix."""
    first = log.strip().splitlines()[0] if log.strip() else "RDKit gave no reason"
    return first.split("] ", 1)[-1].removeprefix("SMILES Parse Error: ")


def mol_to_graph(mol: Chem.Mol) -> MolGraph:
    """OGB's atom and bond features of a molecule (no scaffold).

    Args:
        mol (Chem.Mol): a parsed molecule.

    Returns:
        MolGraph: node and bond features, one row per bond.
    """
    node_feat = [atom_to_feature_vector(atom) for atom in mol.GetAtoms()]
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    bond_feat = [bond_to_feature_vector(b) for b in mol.GetBonds()]
    return MolGraph(
        node_feat=np.array(node_feat, dtype=np.int64).reshape(-1, NUM_ATOM_FEATURES),
        bonds=np.array(bonds, dtype=np.int64).reshape(-1, 2),
        bond_feat=np.array(bond_feat, dtype=np.int64).reshape(-1, NUM_BOND_FEATURES),
    )


def smiles_to_graph(smiles: str) -> dict:
    """Drop-in for ``ogb.utils.smiles2graph`` that also takes SMILES RDKit won't sanitize.

    Args:
        smiles (str): the SMILES string.

    Returns:
        dict: ``edge_index``, ``edge_feat``, ``node_feat``, ``num_nodes`` exactly as OGB's.

    Raises:
        SmilesError: empty or unparseable SMILES.
    """
    return mol_to_graph(parse_smiles(smiles)[0]).to_ogb_dict()


def murcko_scaffold(mol: Chem.Mol) -> str | None:
    """Bemis-Murcko scaffold SMILES with chirality, as Hu et al.'s scaffold split computes it.

    Args:
        mol (Chem.Mol): a molecule, sanitized or from the unsanitized route.

    Returns:
        str | None: the scaffold SMILES (empty for acyclic molecules), or None where RDKit
        cannot sanitize the scaffold (an unsanitized molecule's bad atom lies in a ring).
    """
    try:
        with rdBase.BlockLogs():
            return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=True)
    except Chem.MolSanitizeException:
        return None


def featurize(smiles: str) -> MolGraph:
    """Graph and scaffold of one SMILES.

    Args:
        smiles (str): the SMILES string.

    Returns:
        MolGraph: features, scaffold (see :func:`murcko_scaffold`) and the sanitized flag.

    Raises:
        SmilesError: empty or unparseable SMILES.
    """
    mol, sanitized = parse_smiles(smiles)
    graph = mol_to_graph(mol)
    graph.sanitized = sanitized
    graph.scaffold = murcko_scaffold(mol)
    return graph


def _featurize_or_error(smiles: str) -> MolGraph | SmilesError:
    try:
        return featurize(smiles)
    except SmilesError as err:
        return err


def featurize_many(
    smiles: Sequence[str], processes: int | None = None, progress: bool = True
) -> list[MolGraph | SmilesError]:
    """Featurize many SMILES in order, in a process pool for large tables.

    Args:
        smiles (Sequence[str]): the SMILES strings.
        processes (int | None): worker processes; None uses every core, 1 runs in this
            process. Tables under 2,000 rows always run in this process. (default: None)
        progress (bool): show a tqdm bar. (default: True)

    Returns:
        list[MolGraph | SmilesError]: per SMILES its graph, or the error that stopped it
        (returned, not raised, so the caller can report or skip every bad row).
    """
    processes = processes or os.cpu_count() or 1
    bar = {"total": len(smiles), "desc": "featurize", "unit": "mol", "disable": not progress}
    if processes == 1 or len(smiles) < _MIN_POOL_SIZE:
        return list(tqdm(map(_featurize_or_error, smiles), **bar))
    with multiprocessing.Pool(processes) as pool:
        results: Iterator = pool.imap(_featurize_or_error, smiles, chunksize=_CHUNK_SIZE)
        return list(tqdm(results, **bar))
