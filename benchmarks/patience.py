"""What ``train.patience`` would have saved and cost, replayed on the archived runs' logs.

    python benchmarks/patience.py [--patience 5 10 15 20]

Every finished run whose ``metrics.jsonl`` the benchmarks keep (``benchmarks/results/runs/``)
logged valid and test after each epoch; those that trained all their epochs (the learning
rate of the last row is 0: the schedule ran out) are replayed, those stopped early skipped.
Stopping after P epochs without a better valid metric trains the same epochs up to the stop
(the schedule spans ``train.epochs`` either way; ``tests/test_checkpoint.py`` checks it), so
replaying the rule on the logged rows gives, with no training, the epochs a patient run
trains and the epoch it picks. Per family of runs and P: the share of the full runs' epochs
trained, how many runs pick the same epoch, and the change in the picked epoch's test metric
(x100 for ROC-AUC and accuracy; a drop in ROC-AUC, a rise in RMSE is a loss).

Writes ``benchmarks/results/patience.csv``, ``patience.md`` and the block of
``docs/results.md`` between its markers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from common import REPO, RESULTS, provenance, publish_summary, stamp_line

LOWER_IS_BETTER = {"rmse", "mae"}
PERCENT = {"rocauc", "accuracy", "ap"}


def family(path: Path) -> str | None:
    """The family of a graphsep molecule run, from where its archive keeps it, or None."""
    archive, dataset, *rest = path.relative_to(RESULTS / "runs").parts
    if "peers" in rest or dataset in ("fmnist", "imdb"):  # peers: their own loops; images and
        return None  # texts: 2-3 epochs, nothing to stop
    features = "with" if archive in ("accuracy", "tuning") else "without"
    return f"molecules {features} RDKit features"


def beats(row: dict, best: dict, lower: bool) -> bool:
    """Whether ``row``'s valid metric is strictly better than ``best``'s, as the engine keeps it."""
    return row["valid"] < best["valid"] if lower else row["valid"] > best["valid"]


def picked(rows: list[dict], lower: bool) -> dict:
    """The row with the best valid metric; the first of equals."""
    best = rows[0]
    for row in rows[1:]:
        best = row if beats(row, best, lower) else best
    return best


def replay(rows: list[dict], patience: int) -> list[dict]:
    """The rows a run stopped after ``patience`` epochs without a better valid would log."""
    lower = rows[0]["metric"] in LOWER_IS_BETTER
    best = rows[0]
    for end, row in enumerate(rows, start=1):
        best = row if beats(row, best, lower) else best
        if row["epoch"] - best["epoch"] >= patience:
            return rows[:end]
    return rows


def measure(path: Path, patience: list[int]) -> list[dict]:
    """One record per P for the run logged at ``path`` (none for a run without valid/test)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    name = family(path)
    if name is None or not rows or "valid" not in rows[0]:  # pretraining: no test metric
        return []
    if rows[-1]["lr"] > 0:  # the schedule had not run out: a run that was stopped early
        return []
    metric = rows[0]["metric"]
    lower, scale = metric in LOWER_IS_BETTER, 100 if metric in PERCENT else 1
    full = picked(rows, lower)
    records = []
    for p in patience:
        kept = replay(rows, p)
        mine = picked(kept, lower)
        gain = (mine["test"] - full["test"]) * scale * (-1 if lower else 1)
        records.append({
            "family": name, "run": str(path.parent.relative_to(RESULTS / "runs")),
            "patience": p, "metric": metric, "epochs": len(rows), "epochs_trained": len(kept),
            "same_pick": mine["epoch"] == full["epoch"], "test_gain": gain,
        })  # fmt: skip
    return records


def summary(frame: pd.DataFrame) -> str:
    """Markdown: per family and patience, epochs trained, same picks and the test change."""
    lines = [
        "Stopping after P epochs without a better valid metric, replayed on the archived runs' "
        "logs: the share of the full runs' epochs trained, the runs that pick the epoch the full "
        "run picks, and the picked epoch's test change (ROC-AUC and accuracy x100, RMSE as is; "
        "positive = better), mean and worst over the runs.",
        stamp_line(provenance()),
        "",
        "| runs | metric | P | runs (epochs each) | epochs trained | same pick | test change, "
        "mean | worst |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, metric, p), part in frame.groupby(["family", "metric", "patience"]):
        share = part.epochs_trained.sum() / part.epochs.sum()
        epochs = "-".join(str(n) for n in sorted({part.epochs.min(), part.epochs.max()}))
        lines.append(
            f"| {name} | {metric} | {p} | {len(part)} ({epochs}) | {share:.0%} | "
            f"{part.same_pick.sum()}/{len(part)} | {part.test_gain.mean():+.2f} | "
            f"{part.test_gain.min():+.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patience", nargs="+", type=int, default=[5, 10, 15, 20])
    args = parser.parse_args()
    logs = sorted((RESULTS / "runs").rglob("metrics.jsonl"))
    frame = pd.DataFrame([r for path in logs for r in measure(path, args.patience)])
    publish_summary("patience", frame, summary(frame), RESULTS, REPO / "docs")


if __name__ == "__main__":
    main()
