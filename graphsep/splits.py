"""Seeded stratified splits of labelled rows, for any domain (images, texts)."""

from __future__ import annotations

import numpy as np


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Carve ``fraction`` of each class out of ``labels``' rows, seeded.

    Returns:
        tuple[np.ndarray, np.ndarray]: the kept rows and the carved rows, each sorted.
    """
    rng = np.random.default_rng(seed)
    carved = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        take = int(round(fraction * len(rows)))
        carved.append(rng.permutation(rows)[:take])
    held = np.sort(np.concatenate(carved))
    return np.setdiff1d(np.arange(len(labels)), held), held
