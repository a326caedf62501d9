"""SMILES to OGB graphs (``ogb.utils.smiles2graph``) and Murcko scaffolds, by one set of rules.

:func:`featurize` decides for dataset building, the pretraining corpus and prediction alike whether
a SMILES becomes a graph, and if not, why (:class:`SmilesError`, one line). A SMILES gives no graph
when it is:

- empty (or a missing cell);
- not SMILES text: whitespace inside it (RDKit reads up to it and takes the rest as a name or a
  CXSMILES extension: ``CC O`` would be ethane) or a character outside printable ASCII (RDKit
  silently drops control and non-ASCII characters at either end and stops at a NUL or newline).
  Every other printable character RDKit either reads as SMILES or refuses (RDKit 2026.09);
- unparseable, with RDKit's reason;
- a molecule of no atoms, or of more than ``max_atoms``;
- holding a wildcard or attachment point (``*``, ``[*:1]``), which OGB's vocabulary maps to
  "misc" and no molecule of OGB's datasets holds;
- a molecule RDKit refuses to sanitize, where ``allow_unsanitized`` is False (prediction's
  default; dataset building and pretraining allow them).

Atoms and bonds go through OGB's own ``atom_to_feature_vector`` and ``bond_to_feature_vector``
(Hu et al. 2020, "Strategies for Pre-training Graph Neural Networks": 9 atom and 3 bond
categorical features). A SMILES that RDKit parses but refuses to sanitize (valence on Al, B, Ge
in molhiv and moltox21 with RDKit 2026.09) is featurized leniently, RDKit's reason kept in
:attr:`MolGraph.unsanitized`: dataset building and pretraining keep these molecules, as OGB did;
prediction refuses them unless asked.

Scaffolds of such molecules: RDKit's Murcko code works on them unless the offending atom is in
the scaffold itself (all 7 in molhiv: the metal sits in a ring); then the molecule is its own
scaffold group, which still gives OGB's exact molhiv split. The 8 Al compounds of moltox21
(Al outside any ring) get the scaffold OGB's older RDKit gave them (6 acyclic, 2 ring systems).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from ogb.utils.features import allowable_features, atom_to_feature_vector, bond_to_feature_vector
from rdkit import Chem, rdBase
from rdkit.Chem.Scaffolds import MurckoScaffold

from graphsep.molecules.descriptors import MoleculeFeatures, molecule_features
from graphsep.molecules.table import DataError
from graphsep.parallel import bounded_map
from graphsep.progress import progress_bar

NUM_ATOM_FEATURES = 9
NUM_BOND_FEATURES = 3

MIN_POOL_SIZE = 2000
"""Below this many molecules a process pool costs more to start than it saves."""

PART_SIZE = 256
"""SMILES per task sent to a worker process."""

# Every sanitization step but the strict valence check that these molecules fail.
_ALL_BUT_VALENCE = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
_MISC_ELEMENT = len(allowable_features["possible_atomic_num_list"]) - 1  # OGB's "misc" index
_NOT_SMILES = re.compile(r"[^!-~]")  # SMILES is printable ASCII, spaces excluded


class SmilesError(DataError):
    """A SMILES that gives no graph, and why.

    Args:
        smiles (str): the offending SMILES, stripped (empty for a missing cell).
        reason (str): the one-line message, e.g.
            ``"cannot parse SMILES 'C1CC': unclosed ring for input: 'C1CC'"``.
    """

    def __init__(self, smiles: str, reason: str) -> None:
        # Both go to ``args`` so that the error pickles across a process pool.
        super().__init__(smiles, reason)
        self.smiles = smiles
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def unsanitized_message(reason: str) -> str:
    """Word the reason of a molecule RDKit refuses to sanitize: prediction's error or warning.

    Args:
        reason (str): RDKit's, e.g. ``"Explicit valence for atom # 0 C, 5, is greater than
            permitted"``.

    Returns:
        str: ``"RDKit will not sanitize the molecule: <reason>"``.
    """
    return f"RDKit will not sanitize the molecule: {reason}"


@dataclass
class MolGraph:
    """One molecule as OGB stores it on disk: one row per bond, not per direction.

    Args:
        node_feat (np.ndarray): ``(N, 9)`` int64 OGB atom features.
        bonds (np.ndarray): ``(B, 2)`` int64 begin and end atom of each bond.
        bond_feat (np.ndarray): ``(B, 3)`` int64 OGB bond features.
        scaffold (str | None): Murcko scaffold SMILES (with chirality), or None where RDKit
            cannot compute one: the scaffold split then puts the molecule in a group of its own.
        unsanitized (str): RDKit's reason for refusing to sanitize the molecule, which was then
            featurized leniently (see :func:`featurize`); empty when it was sanitized.
        features (MoleculeFeatures | None): the whole-molecule feature sets asked for
            (:mod:`graphsep.molecules.descriptors`); None when none were.
    """

    node_feat: np.ndarray
    bonds: np.ndarray
    bond_feat: np.ndarray
    scaffold: str | None = None
    unsanitized: str = ""
    features: MoleculeFeatures | None = None

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


def featurize(
    smiles: object,
    max_atoms: int | None = None,
    allow_unsanitized: bool = True,
    scaffold: bool = False,
    mol_features: tuple[str, ...] = (),
) -> MolGraph:
    """OGB graph of one SMILES cell, or the reason it gives none (see the module docstring).

    A molecule RDKit refuses to sanitize is parsed unsanitized, its valences computed with
    ``UpdatePropertyCache(strict=False)``, then every other sanitization step run (rings,
    aromaticity, conjugation, hybridization), so that OGB's features see what OGB's older RDKit
    saw when it still accepted these molecules rather than "misc" hybridization everywhere.

    Args:
        smiles (object): the cell: a SMILES string (stripped here), or None/NaN for a missing one.
        max_atoms (int | None): largest molecule accepted; None: no limit. (default: None)
        allow_unsanitized (bool): featurize a molecule RDKit will not sanitize leniently,
            its reason in :attr:`MolGraph.unsanitized`, instead of refusing it. (default: True)
        scaffold (bool): also compute the Murcko scaffold (see :func:`murcko_scaffold`).
            (default: False)
        mol_features (tuple[str, ...]): whole-molecule feature sets to compute from the same
            molecule (:func:`~graphsep.molecules.descriptors.molecule_features`). (default: none)

    Returns:
        MolGraph: the graph, with its scaffold and features if asked and RDKit's sanitization
        reason, if any.

    Raises:
        SmilesError: one of the rules of the module docstring, with its one-line reason.
    """
    text = smiles.strip() if isinstance(smiles, str) else ""
    _check_text(text)
    mol, unsanitized = _parse(text)
    graph = _graph_of(mol)
    _check_atoms(mol, graph, text, max_atoms)
    if unsanitized and not allow_unsanitized:
        raise SmilesError(text, unsanitized_message(unsanitized))
    graph.unsanitized = unsanitized
    if scaffold:
        graph.scaffold = murcko_scaffold(mol)
    if mol_features:
        graph.features = molecule_features(mol, mol_features)
    return graph


def _check_text(text: str) -> None:
    """Refuse an empty string and text that is not SMILES, where RDKit would read only part."""
    if not text:
        raise SmilesError(text, "empty SMILES")
    bad = _NOT_SMILES.search(text)
    if bad is None:
        return
    char, position = bad.group(), bad.start() + 1  # 1-based, as RDKit's own messages
    if char.isspace():
        raise SmilesError(text, f"whitespace inside SMILES {text!r} at position {position}")
    raise SmilesError(
        text,
        f"character {char!r} at position {position} of {text!r} is not SMILES "
        "(printable ASCII only)",
    )


def _parse(text: str) -> tuple[Chem.Mol, str]:
    """Parse to a molecule, also returning RDKit's reason to refuse sanitizing it ("" if none)."""
    with rdBase.BlockLogs(), rdBase.CaptureErrorLog() as log:
        mol = Chem.MolFromSmiles(text)
        if mol is not None:
            return mol, ""
        mol = Chem.MolFromSmiles(text, sanitize=False)
        reason = _first_message(log.messages)  # the sanitized parse's: why it failed
        if mol is None:
            raise SmilesError(text, f"cannot parse SMILES {text!r}: {reason}")
        mol.UpdatePropertyCache(strict=False)
        failed_step = Chem.SanitizeMol(mol, _ALL_BUT_VALENCE, catchErrors=True)
        if failed_step != Chem.SanitizeFlags.SANITIZE_NONE:
            Chem.GetSymmSSSR(mol)  # ring membership, which OGB's features read, whatever failed
    return mol, reason


def _first_message(log: str) -> str:
    """RDKit's first log line without its ``[hh:mm:ss]`` stamp and parser prefix."""
    first = log.strip().splitlines()[0] if log.strip() else "RDKit gave no reason"
    return first.split("] ", 1)[-1].removeprefix("SMILES Parse Error: ")


def _graph_of(mol: Chem.Mol) -> MolGraph:
    """OGB's atom and bond features of a molecule (no scaffold)."""
    node_feat = [atom_to_feature_vector(atom) for atom in mol.GetAtoms()]
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    bond_feat = [bond_to_feature_vector(b) for b in mol.GetBonds()]
    return MolGraph(
        node_feat=np.array(node_feat, dtype=np.int64).reshape(-1, NUM_ATOM_FEATURES),
        bonds=np.array(bonds, dtype=np.int64).reshape(-1, 2),
        bond_feat=np.array(bond_feat, dtype=np.int64).reshape(-1, NUM_BOND_FEATURES),
    )


def _check_atoms(mol: Chem.Mol, graph: MolGraph, text: str, max_atoms: int | None) -> None:
    """Refuse no atoms, too many, and an atom that is no element (wildcard, attachment point).

    Every element 1-118 is in OGB's vocabulary. Other features outside OGB's lists (a charge
    beyond +-5, a degree above 10) also map to "misc" but describe a real molecule, so they are
    featurized as OGB would have.
    """
    if graph.num_nodes == 0:
        raise SmilesError(text, "no atoms")
    if max_atoms is not None and graph.num_nodes > max_atoms:
        raise SmilesError(text, f"{graph.num_nodes} atoms, more than max_atoms={max_atoms}")
    misc = np.flatnonzero(graph.node_feat[:, 0] == _MISC_ELEMENT)
    if misc.size:
        atom = mol.GetAtomWithIdx(int(misc[0]))
        raise SmilesError(
            text,
            f"atom {atom.GetIdx()} ({atom.GetSymbol()}) is not an element of the featurizer's "
            "vocabulary (wildcard or attachment point)",
        )


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


def _featurize_part(
    smiles: Sequence[object],
    max_atoms: int | None,
    allow_unsanitized: bool,
    scaffold: bool,
    mol_features: tuple[str, ...],
) -> list[MolGraph | SmilesError]:
    """Featurize a list of SMILES in a worker, each failure returned as its error."""
    out: list[MolGraph | SmilesError] = []
    for cell in smiles:
        try:
            out.append(featurize(cell, max_atoms, allow_unsanitized, scaffold, mol_features))
        except SmilesError as err:
            out.append(err)
    return out


def featurize_chunks(
    chunks: Iterable[Sequence[object]],
    processes: int,
    window: int | None = None,
    max_atoms: int | None = None,
    allow_unsanitized: bool = True,
    scaffold: bool = False,
    mol_features: tuple[str, ...] = (),
) -> Iterator[list[MolGraph | SmilesError]]:
    """Featurize chunk after chunk of SMILES in worker processes, in order, memory bounded.

    Each chunk is cut in parts of :data:`PART_SIZE` SMILES for the workers
    (:func:`graphsep.parallel.bounded_map`), so that the next chunk is featurized while the
    caller uses this one.

    Args:
        chunks (Iterable[Sequence[object]]): SMILES cells, chunk by chunk; read lazily.
        processes (int): worker processes; 0 featurizes in this process.
        window (int | None): SMILES in flight at most, rounded up to whole parts, and at least
            two parts per process (the default). (default: None)
        max_atoms (int | None): see :func:`featurize`. (default: None)
        allow_unsanitized (bool): see :func:`featurize`. (default: True)
        scaffold (bool): see :func:`featurize`. (default: False)
        mol_features (tuple[str, ...]): see :func:`featurize`. (default: none)

    Yields:
        list[MolGraph | SmilesError]: per chunk, per SMILES its graph or the error that stopped
        it (returned, not raised, so that the caller can report or skip every bad row).

    Raises:
        GraphsepError: a worker process died (killed by a signal or the out-of-memory killer).
    """
    counts: deque[int] = deque()  # parts of each chunk read so far and not yet yielded

    def parts() -> Iterator[Sequence[object]]:
        for smiles in chunks:
            cut = [smiles[i : i + PART_SIZE] for i in range(0, len(smiles), PART_SIZE)]
            counts.append(len(cut) or 1)
            yield from cut or [smiles]  # an empty chunk still gets its (empty) result

    part = functools.partial(
        _featurize_part,
        max_atoms=max_atoms,
        allow_unsanitized=allow_unsanitized,
        scaffold=scaffold,
        mol_features=tuple(mol_features),
    )
    parts_window = max(-(-window // PART_SIZE), 2 * processes) if window else None
    with contextlib.closing(bounded_map(part, parts(), processes, parts_window)) as results:
        for first in results:  # reading it queued its chunk's count
            rest = itertools.islice(results, counts.popleft() - 1)
            yield [*first, *itertools.chain.from_iterable(rest)]


def featurize_many(
    smiles: Sequence[object],
    processes: int | None = None,
    progress: bool = True,
    max_atoms: int | None = None,
    allow_unsanitized: bool = True,
    scaffold: bool = False,
    mol_features: tuple[str, ...] = (),
) -> list[MolGraph | SmilesError]:
    """Featurize many SMILES in order, in worker processes for large tables.

    Args:
        smiles (Sequence[object]): the SMILES cells.
        processes (int | None): worker processes; None uses every core, 1 runs in this
            process. Tables under :data:`MIN_POOL_SIZE` rows always run in this process.
            (default: None)
        progress (bool): show a progress bar on a terminal. (default: True)
        max_atoms (int | None): see :func:`featurize`. (default: None)
        allow_unsanitized (bool): see :func:`featurize`. (default: True)
        scaffold (bool): see :func:`featurize`. (default: False)
        mol_features (tuple[str, ...]): see :func:`featurize`. (default: none)

    Returns:
        list[MolGraph | SmilesError]: per SMILES its graph, or the error that stopped it.

    Raises:
        GraphsepError: a worker process died (killed by a signal or the out-of-memory killer).
    """
    processes = processes or os.cpu_count() or 1
    workers = 0 if processes == 1 or len(smiles) < MIN_POOL_SIZE else processes
    chunks = [smiles[i : i + PART_SIZE] for i in range(0, len(smiles), PART_SIZE)]
    results: list[MolGraph | SmilesError] = []
    with progress_bar(total=len(smiles), enabled=progress, desc="featurize", unit="mol") as bar:
        for graphs in featurize_chunks(
            chunks, workers, max_atoms=max_atoms, allow_unsanitized=allow_unsanitized,
            scaffold=scaffold, mol_features=mol_features,
        ):  # fmt: skip
            results += graphs
            bar.update(len(graphs))
    return results
