"""Learning curves of training runs, read from their ``metrics.jsonl``, several runs overlaid.

One panel per quantity any of the runs logged: the training loss, the held-out loss of a
pretraining run (MAE, MLM), and the valid and test metric of a supervised run; the x axis is
the epoch. Each run is labelled by the shortest tail of its path that tells it from the others
(``finetune/sep-s0`` beside ``scratch/sep-s0``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from graphsep.analysis.plots import save_figure
from graphsep.errors import GraphsepError
from graphsep.training.engine import read_metrics

METRICS_FILE = "metrics.jsonl"
QUANTITIES = {
    "train_loss": "train loss",
    "heldout_loss": "held-out loss",
    "valid": "valid {metric}",
    "test": "test {metric}",
}
"""The ``metrics.jsonl`` columns drawn, each in its own panel, and the panel's title."""


class CurvesError(GraphsepError, ValueError):
    """A run given to ``graphsep plot`` has no readable learning curve; the message names it."""


def read_run(path: str | Path) -> list[dict[str, Any]]:
    """Read the epoch rows of a run folder (or of its ``metrics.jsonl`` given directly).

    Raises:
        CurvesError: no ``metrics.jsonl``, one without a finished epoch, or a damaged one.
    """
    path = Path(path)
    file = path if path.is_file() else path / METRICS_FILE
    if not file.is_file():
        raise CurvesError(f"{path}: no {METRICS_FILE} (not a run folder?)")
    try:
        rows = read_metrics(file)
    except ValueError as err:
        raise CurvesError(str(err)) from err
    if not rows:
        raise CurvesError(f"{file}: no finished epoch yet")
    return rows


def run_labels(paths: list[str | Path]) -> list[str]:
    """Label each run by the fewest trailing path parts that tell it from the others.

    A ``metrics.jsonl`` given directly is named by its folder.
    """
    parts = []
    for path in map(Path, paths):
        path = path.resolve()
        parts.append((path.parent if path.name == METRICS_FILE else path).parts)
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return ["/".join(p) for p in parts]  # the same folder twice: full paths, repeated


def _title(column: str, runs: dict[str, list[dict[str, Any]]]) -> str:
    metrics = {row["metric"] for rows in runs.values() for row in rows if "metric" in row}
    return QUANTITIES[column].format(metric=" / ".join(sorted(metrics)) or "metric")


def plot_curves(runs: dict[str, list[dict[str, Any]]], path: str | Path) -> list[str]:
    """Draw the named runs' curves, one panel per logged quantity, into the PNG ``path``.

    Args:
        runs (dict[str, list[dict]]): label -> the run's ``metrics.jsonl`` rows.
        path (str | Path): the PNG to write (whole or not at all).

    Returns:
        list[str]: the columns drawn, in panel order.

    Raises:
        CurvesError: no run logged any of the quantities drawn.
    """
    columns = [c for c in QUANTITIES if any(c in row for rows in runs.values() for row in rows)]
    if not columns:
        raise CurvesError(f"none of {', '.join(runs)} logged any of {', '.join(QUANTITIES)}")
    figure, axes = plt.subplots(1, len(columns), figsize=(4 * len(columns), 3.4), squeeze=False)
    for axis, column in zip(axes[0], columns, strict=True):
        for label, rows in runs.items():
            points = [(row["epoch"], row[column]) for row in rows if column in row]
            if points:
                axis.plot(*zip(*points, strict=True), marker="o", markersize=3, label=label)
        axis.set_title(_title(column, runs))
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    figure.tight_layout()
    save_figure(figure, Path(path))
    return columns
