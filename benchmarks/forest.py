"""The classical floor: random forests on fingerprints, on graphsep's splits.

    python benchmarks/forest.py [--recipe floor] [--only molhiv molbbbp ...] [--seeds 0 1 2]

Each dataset is built offline from its MoleculeNet table (OGB's scaffold split), its
fingerprints computed by graphsep's own routine (``graphsep.molecules.feature_cache``), and
scikit-learn's forest (500 trees) trained on the train split, one forest per task on the
molecules labelled for it. Valid and test are scored by OGB's ``Evaluator``, the code that
scores graphsep. Two recipes:

- ``floor``: binary 2048-bit ECFP4 (Morgan, radius 2), the trees' defaults, as the OGB
  leaderboard's "Morgan fingerprints + random forest" entry; every graphsep result is judged
  against it;
- ``fingerprints``: ECFP4, FCFP4 and atom-pair counts and the MACCS keys side by side (6,311
  columns), ``max_features=0.2``: the forests of the leaderboard's first place, which it
  blends with a GNN (``accuracy.py`` blends each recipe with graphsep's ensembles).

Writes one ``benchmarks/results/runs/<recipe's folder>/<dataset>-s<seed>.json`` per run (a
rerun skips those present), the predictions beside them as ``.npz`` for blending, and the
summary ``benchmarks/results/forest.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import RESULTS, provenance, stamp_line
from finetune_sep_vs_share import TABLES, prepare
from ogb.graphproppred import Evaluator
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from graphsep.molecules.feature_cache import load_dataset_features
from graphsep.molecules.ogb_layout import load_ogb_dataset, load_split

WORK = Path(__file__).resolve().parent / "work"
TREES = 500


@dataclass(frozen=True)
class Recipe:
    """A forest recipe: its fingerprints and trees, and where its runs are kept.

    Args:
        sets (tuple[str, ...]): graphsep feature sets, concatenated in this order.
        binary (bool): whether counts become bits (present or not).
        max_features (str | float): scikit-learn's features tried per split.
        folder (str): the runs' folder under ``benchmarks/results/runs``.
    """

    sets: tuple[str, ...]
    binary: bool
    max_features: str | float
    folder: str


RECIPES = {
    "floor": Recipe(("ecfp",), binary=True, max_features="sqrt", folder="forest"),
    "fingerprints": Recipe(("ecfp", "fcfp", "atompairs", "maccs"), binary=False,
                           max_features=0.2, folder="forest-fingerprints"),
}  # fmt: skip


def fingerprints(key: str, recipe: Recipe) -> tuple[np.ndarray, np.ndarray, dict, object]:
    """The recipe's features ``(G, F)``, labels ``(G, T)`` (NaN = missing), split, dataset."""
    prepare(key, WORK)
    dataset = load_ogb_dataset(f"ogbg-{key}", WORK / "data")
    raw = load_dataset_features(dataset.root, dataset.processed_dir, list(recipe.sets),
                                progress=False)  # fmt: skip
    labels = dataset.y.float().numpy().reshape(len(dataset), -1)
    split = {name: index.numpy() for name, index in load_split(dataset).items()}
    x = (raw > 0) if recipe.binary else raw
    return x.astype(np.float32), labels, split, dataset


def fit_predict(x: np.ndarray, y: np.ndarray, split: dict, regression: bool, seed: int,
                jobs: int, max_features: str | float) -> np.ndarray:  # fmt: skip
    """One forest per task on its labelled train molecules; predictions for every molecule."""
    out = np.zeros_like(y)
    train = split["train"]
    for task in range(y.shape[1]):
        rows = train[np.isfinite(y[train, task])]
        kind = RandomForestRegressor if regression else RandomForestClassifier
        forest = kind(n_estimators=TREES, max_features=max_features, random_state=seed,
                      n_jobs=jobs)  # fmt: skip
        forest.fit(x[rows], y[rows, task])
        if regression:
            out[:, task] = forest.predict(x)
        elif len(forest.classes_) == 1:  # a task with one class in train: a constant score
            out[:, task] = forest.classes_[0]
        else:
            out[:, task] = forest.predict_proba(x)[:, 1]
    return out


def run(key: str, seed: int, jobs: int, name: str) -> dict:
    """Train and score recipe ``name`` on one dataset and seed; write its JSON and predictions."""
    recipe = RECIPES[name]
    x, y, split, dataset = fingerprints(key, recipe)
    regression = dataset.task_type == "regression"
    start = time.perf_counter()
    scores = fit_predict(x, y, split, regression, seed, jobs, recipe.max_features)
    seconds = time.perf_counter() - start
    evaluator = Evaluator(f"ogbg-{key}")
    metric = dataset.eval_metric
    result = {"dataset": f"ogbg-{key}", "model": "forest", "recipe": name, "seed": seed,
              "metric": metric}  # fmt: skip
    for part in ("valid", "test"):
        rows = split[part]
        result[part] = float(evaluator.eval({"y_true": y[rows], "y_pred": scores[rows]})[metric])
    result.update(trees=TREES, seconds=round(seconds, 1), jobs=jobs, **provenance())
    runs = RESULTS / "runs" / recipe.folder
    runs.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(runs / f"{key}-s{seed}.npz", scores=scores, **split)
    (runs / f"{key}-s{seed}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result), flush=True)
    return result


def summary(results: list[dict]) -> str:
    """Markdown table: per recipe and dataset, test and valid metric, mean ± std over seeds
    (x100 for ROC-AUC)."""
    lines = [
        f"Random forests ({TREES} trees) on OGB scaffold splits: floor = binary 2048-bit ECFP4, "
        "scikit-learn's defaults; fingerprints = ECFP4, FCFP4 and atom-pair counts and MACCS "
        "(6,311 columns), max_features 0.2. ROC-AUC x100 (higher is better), RMSE (lower is "
        "better); mean ± std over seeds.",
        stamp_line(provenance()),
        "",
        "| dataset | recipe | metric | seeds | valid | test | seconds per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in TABLES:
        for name in RECIPES:
            rows = [
                r
                for r in results
                if r["dataset"] == f"ogbg-{key}" and r.get("recipe", "floor") == name
            ]
            if not rows:
                continue
            scale = 100 if rows[0]["metric"] == "rocauc" else 1

            def spread(part: str, rows: list[dict] = rows, scale: int = scale) -> str:
                values = [r[part] * scale for r in rows]
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                return f"{statistics.fmean(values):.2f} ± {std:.2f}"

            seconds = statistics.fmean(r["seconds"] for r in rows)
            lines.append(f"| {key} | {name} | {rows[0]['metric']} | {len(rows)} | "
                         f"{spread('valid')} | {spread('test')} | {seconds:.0f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="floor", choices=list(RECIPES))
    parser.add_argument("--only", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="processes per forest")
    args = parser.parse_args()
    runs = RESULTS / "runs" / RECIPES[args.recipe].folder
    for key in args.only:
        for seed in args.seeds:
            if not (runs / f"{key}-s{seed}.json").exists():
                run(key, seed, args.jobs, args.recipe)
    folders = [RESULTS / "runs" / recipe.folder for recipe in RECIPES.values()]
    results = [
        json.loads(p.read_text()) for folder in folders for p in sorted(folder.glob("*.json"))
    ]
    text = summary(results)
    (RESULTS / "forest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
