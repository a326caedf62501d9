"""Train/valid/test splits: OGB's scaffold split (Hu et al. 2020, pretrain-gnns) and a seeded one.

The scaffold split reproduces OGB's published sizes exactly (molhiv 32,901/4,113/4,113): group
molecules by Murcko scaffold, sort groups by ``(size, first index)`` descending, fill train
while it stays within 80%, then valid within 90% cumulatively, the rest to test.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "valid", "test")


def scaffold_split(
    scaffolds: Sequence[str | None], frac_train: float = 0.8, frac_valid: float = 0.1
) -> dict[str, np.ndarray]:
    """Deterministic scaffold split of Hu et al., as OGB made its ``split/scaffold`` files.

    Args:
        scaffolds (Sequence[str | None]): Murcko scaffold per molecule; None puts the
            molecule in a group of its own (molecules RDKit cannot compute a scaffold for).
        frac_train (float): train fraction. (default: 0.8)
        frac_valid (float): valid fraction; test gets the rest. (default: 0.1)

    Returns:
        dict[str, np.ndarray]: ``train``, ``valid``, ``test`` int64 indices, ascending.
    """
    groups: dict[object, list[int]] = {}
    for index, scaffold in enumerate(scaffolds):
        # A tuple key cannot collide with any scaffold string.
        groups.setdefault(("own", index) if scaffold is None else scaffold, []).append(index)
    # Descending by size, ties by first index descending: pretrain-gnns' exact order, which
    # decides membership (ascending ties leave BACE's test set without a single positive).
    ordered = sorted(groups.values(), key=lambda g: (len(g), g[0]), reverse=True)
    n = len(scaffolds)
    # Cut-offs computed as pretrain-gnns does, (0.8 + 0.1) * n in floats included.
    train_cutoff, valid_cutoff = frac_train * n, (frac_train + frac_valid) * n
    parts: dict[str, list[int]] = {name: [] for name in SPLITS}
    for group in ordered:
        if len(parts["train"]) + len(group) <= train_cutoff:
            parts["train"].extend(group)
        elif len(parts["train"]) + len(parts["valid"]) + len(group) <= valid_cutoff:
            parts["valid"].extend(group)
        else:
            parts["test"].extend(group)
    return {name: np.sort(np.asarray(idx, dtype=np.int64)) for name, idx in parts.items()}


def random_split(
    num_items: int, seed: int = 0, frac_train: float = 0.8, frac_valid: float = 0.1
) -> dict[str, np.ndarray]:
    """Seeded random split, for tables without scaffold structure worth keeping apart.

    Args:
        num_items (int): number of molecules.
        seed (int): seed of NumPy's default generator. (default: 0)
        frac_train (float): train fraction, rounded down. (default: 0.8)
        frac_valid (float): valid fraction, rounded down; test gets the rest. (default: 0.1)

    Returns:
        dict[str, np.ndarray]: ``train``, ``valid``, ``test`` int64 indices, ascending.
    """
    order = np.random.default_rng(seed).permutation(num_items)
    n_train, n_valid, _ = _random_sizes(num_items, frac_train, frac_valid)
    cuts = np.split(order, [n_train, n_train + n_valid])
    return {name: np.sort(idx).astype(np.int64) for name, idx in zip(SPLITS, cuts, strict=True)}


def _random_sizes(num_items: int, frac_train: float, frac_valid: float) -> tuple[int, int, int]:
    n_train, n_valid = int(frac_train * num_items), int(frac_valid * num_items)
    return n_train, n_valid, num_items - n_train - n_valid


def min_split_rows(frac_train: float = 0.8, frac_valid: float = 0.1) -> int:
    """Fewest molecules that give every split at least one (10 at the default fractions).

    The random split's sizes; a scaffold split needs at least as many, and more where
    scaffolds are shared.

    Args:
        frac_train (float): train fraction. (default: 0.8)
        frac_valid (float): valid fraction. (default: 0.1)

    Returns:
        int: the smallest such number of molecules.

    Raises:
        ValueError: a fraction that leaves some split empty whatever the number.
    """
    if min(frac_train, frac_valid, 1 - frac_train - frac_valid) <= 0:
        raise ValueError(f"fractions {frac_train}, {frac_valid} leave a split empty")
    return next(n for n in itertools.count(1) if min(_random_sizes(n, frac_train, frac_valid)))
