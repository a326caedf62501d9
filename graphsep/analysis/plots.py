"""Pictures of [CLS] embeddings: singular-value spectra overlaid, and a 2-D projection.

Drawn with matplotlib's non-interactive Agg backend, so they render on machines without a
display; each figure is written whole (to a temporary sibling, then renamed).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from graphsep.files import write_atomically  # noqa: E402

MAX_POINTS = 5000
"""The projection draws a seeded sample of at most this many embeddings."""


def save_figure(figure: Figure, path: Path) -> None:
    """Write ``figure`` as a PNG at ``path``, whole or not at all, and free it."""
    write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)


def plot_spectra(spectra: dict[str, np.ndarray], path: Path, title: str) -> None:
    """Draw each named singular-value spectrum, scaled by its largest value, on a log axis."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for name, values in spectra.items():
        axis.plot(np.arange(1, len(values) + 1), values / values[0], label=name)
    axis.set_yscale("log")
    axis.set_xlabel("singular value index")
    axis.set_ylabel("singular value / largest")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    save_figure(figure, path)


def principal_plane(x: np.ndarray) -> np.ndarray:
    """Return the rows of ``x`` projected onto their two leading principal directions."""
    centred = x - x.mean(axis=0)
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    return centred @ directions[:2].T


def plot_projection(x: np.ndarray, labels: np.ndarray, path: Path, title: str) -> None:
    """Scatter the embeddings on their first two principal components, coloured by label.

    ``labels`` are class indices, or molecule targets whose first task colours the points
    (unmeasured ones grey).
    """
    pick = np.random.default_rng(0).permutation(len(x))[:MAX_POINTS]
    points = principal_plane(x[pick].astype(np.float64))
    colour = labels[pick] if labels.ndim == 1 else labels[pick, 0]
    figure, axis = plt.subplots(figsize=(5.5, 5))
    measured = ~np.isnan(colour.astype(np.float64))
    if not measured.all():
        axis.scatter(*points[~measured].T, s=3, c="lightgrey", label="no label")
    classes = np.unique(colour[measured])
    if len(classes) <= 10:  # one colour per class, named in the legend
        for index, value in enumerate(classes):
            chosen = measured & (colour == value)
            axis.scatter(*points[chosen].T, s=3, color=plt.cm.tab10(index), label=f"{value:g}")
        axis.legend(title="label", fontsize=7, markerscale=3)
    else:  # a continuous target
        shown = axis.scatter(*points[measured].T, s=3, c=colour[measured], cmap="viridis")
        figure.colorbar(shown, ax=axis, label="label")
    axis.set_xlabel("PC 1")
    axis.set_ylabel("PC 2")
    axis.set_title(title)
    figure.tight_layout()
    save_figure(figure, path)
