"""The classical floor: a random forest on 2048-bit Morgan fingerprints, on graphsep's splits.

    python benchmarks/forest.py [--only molhiv molbbbp ...] [--seeds 0 1 2] [--jobs 2]

Each dataset is built offline from its MoleculeNet table (OGB's scaffold split), its ECFP4
computed by graphsep's own routine (``graphsep.molecules.feature_cache``: counts, radius 2,
2048 columns, binarized here as the OGB leaderboard's "Morgan fingerprints + random forest"
entry uses them), and scikit-learn's forest trained untuned (500 trees, its defaults) on the
train split, one forest per task on the molecules labelled for it. Valid and test are scored by
OGB's ``Evaluator``, the code that scores graphsep.

Writes one ``benchmarks/results/runs/forest/<dataset>-s<seed>.json`` per run (a rerun skips
those present), the predictions beside them as ``.npz`` for blending
(:mod:`blend`), and the summary ``benchmarks/results/forest.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from common import RESULTS, provenance, stamp_line
from finetune_sep_vs_share import TABLES, prepare
from ogb.graphproppred import Evaluator
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from graphsep.molecules.feature_cache import load_dataset_features
from graphsep.molecules.ogb_layout import load_ogb_dataset, load_split

WORK = Path(__file__).resolve().parent / "work"
RUNS = RESULTS / "runs" / "forest"
TREES = 500


def fingerprints(key: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], object]:
    """Binary ECFP4 ``(G, 2048)``, labels ``(G, T)`` (NaN = missing), split, the dataset."""
    prepare(key, WORK)
    dataset = load_ogb_dataset(f"ogbg-{key}", WORK / "data")
    raw = load_dataset_features(dataset.root, dataset.processed_dir, ["ecfp"], progress=False)
    labels = dataset.y.float().numpy().reshape(len(dataset), -1)
    split = {name: index.numpy() for name, index in load_split(dataset).items()}
    return (raw > 0).astype(np.float32), labels, split, dataset


def fit_predict(x: np.ndarray, y: np.ndarray, split: dict, regression: bool, seed: int,
                jobs: int) -> np.ndarray:  # fmt: skip
    """One forest per task on its labelled train molecules; predictions for every molecule."""
    out = np.zeros_like(y)
    train = split["train"]
    for task in range(y.shape[1]):
        rows = train[np.isfinite(y[train, task])]
        kind = RandomForestRegressor if regression else RandomForestClassifier
        forest = kind(n_estimators=TREES, random_state=seed, n_jobs=jobs)
        forest.fit(x[rows], y[rows, task])
        if regression:
            out[:, task] = forest.predict(x)
        elif len(forest.classes_) == 1:  # a task with one class in train: a constant score
            out[:, task] = forest.classes_[0]
        else:
            out[:, task] = forest.predict_proba(x)[:, 1]
    return out


def run(key: str, seed: int, jobs: int) -> dict:
    """Train and score the forest on one dataset and seed; write its JSON and predictions."""
    x, y, split, dataset = fingerprints(key)
    regression = dataset.task_type == "regression"
    start = time.perf_counter()
    scores = fit_predict(x, y, split, regression, seed, jobs)
    seconds = time.perf_counter() - start
    evaluator = Evaluator(f"ogbg-{key}")
    metric = dataset.eval_metric
    result = {"dataset": f"ogbg-{key}", "model": "forest", "seed": seed, "metric": metric}
    for part in ("valid", "test"):
        rows = split[part]
        result[part] = float(evaluator.eval({"y_true": y[rows], "y_pred": scores[rows]})[metric])
    result.update(trees=TREES, seconds=round(seconds, 1), jobs=jobs, **provenance())
    RUNS.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(RUNS / f"{key}-s{seed}.npz", scores=scores, **split)
    (RUNS / f"{key}-s{seed}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result), flush=True)
    return result


def summary(results: list[dict]) -> str:
    """Markdown table: test and valid metric per dataset, mean ± std over seeds (x100 for AUC)."""
    lines = [
        f"Random forest ({TREES} trees, scikit-learn defaults) on 2048-bit ECFP4, OGB scaffold "
        "split; ROC-AUC x100 (higher is better), RMSE (lower is better); mean ± std over seeds.",
        stamp_line(provenance()),
        "",
        "| dataset | metric | seeds | valid | test | seconds per run |",
        "|---|---|---|---|---|---|",
    ]
    for key in TABLES:
        rows = [r for r in results if r["dataset"] == f"ogbg-{key}"]
        if not rows:
            continue
        scale = 100 if rows[0]["metric"] == "rocauc" else 1

        def spread(part: str, rows: list[dict] = rows, scale: int = scale) -> str:
            values = [r[part] * scale for r in rows]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.fmean(values):.2f} ± {std:.2f}"

        seconds = statistics.fmean(r["seconds"] for r in rows)
        lines.append(f"| {key} | {rows[0]['metric']} | {len(rows)} | {spread('valid')} | "
                     f"{spread('test')} | {seconds:.0f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="processes per forest")
    args = parser.parse_args()
    for key in args.only:
        for seed in args.seeds:
            if not (RUNS / f"{key}-s{seed}.json").exists():
                run(key, seed, args.jobs)
    results = [json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))]
    text = summary(results)
    (RESULTS / "forest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
