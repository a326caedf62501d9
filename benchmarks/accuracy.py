"""Accuracy on molecules: graphsep with and without RDKit features, seed ensembles, the forest
floor and a rank blend, side by side on OGB's scaffold splits.

    python benchmarks/accuracy.py --only molbbbp molbace [--members 5] [--variants plain cls head]
    python benchmarks/accuracy.py --summarize

For each dataset, variant and norm (share and sep side by side), one ``train.ensemble=M`` run
of the dataset's config at width 64 trains seeds ``0 .. M-1``: the single model is reported as
the mean ± std over those seeds, the ensemble as the score of their mean. Variants:

- ``plain``: the config as it is;
- ``cls``: ``task.property.mol_features=[ecfp,maccs,rdkit2d]`` as the [CLS] node's initial state;
- ``head``: the same features concatenated with the final [CLS] before the head.

Each member stops after 15 epochs without a better valid metric (``train.patience=15``; the
runs of molbbbp, molbace, molclintox, molesol, molfreesolv and mollipo's first two members
trained every epoch, and ``patience.py`` shows the rule picks the same epoch in them).

Beside them: the forests of ``benchmarks/forest.py`` where they have run (the floor, and the
leaderboard's ``fingerprints`` recipe; each one's seeds' scores averaged) and a blend of each
with each ensemble (ranks for ROC-AUC, values for RMSE), the ensemble's weight chosen on the
valid split from 0, 0.1, ..., 1 (the OGB leaderboard's first place uses 0.12), then scored on
test. Resumable: finished ensembles (with their members' results) are archived in
``benchmarks/results/runs/accuracy/`` and restored at the next start; an unfinished ensemble
resumes from the work folder in the same session only (its members' checkpoints live there). Writes
``benchmarks/results/accuracy.csv``, ``accuracy.md`` and the block of ``docs/results.md``
between its markers.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    REPO,
    RESULTS,
    RunArchive,
    absolute_path,
    launch_side_by_side,
    provenance,
    publish_summary,
    stamp_line,
)
from finetune_sep_vs_share import MOLECULENET, TABLES, prepare
from forest import RECIPES
from ogb.graphproppred import Evaluator
from scipy.stats import rankdata

WORK = Path(__file__).resolve().parent / "work"
NORMS = ("share", "sep")
FEATURES = "task.property.mol_features=[ecfp,maccs,rdkit2d]"
VARIANTS = {
    "plain": [],
    "cls": [FEATURES, "task.property.mol_features_into=[cls]"],
    "head": [FEATURES, "task.property.mol_features_into=[head]"],
}
WIDTH = ["model.core.dim=64"]  # the sepnorm harness's quick budget
# picks the full run's epoch in every ROC-AUC run before it and all but one RMSE run (0.007
# worse) while training about two thirds of the epochs (patience.py); results.md says which
# runs had it
PATIENCE = "train.patience=15"
WEIGHTS = np.round(np.linspace(0, 1, 11), 2)
MEMBER_FILES = ("results.json", "metrics.jsonl")
ENSEMBLE_FILES = ("results.json", "ensemble.json", "predictions.npz")


def run_dir(root: Path, key: str, variant: str, norm: str) -> Path:
    """Return the ``out_dir`` of one ensemble run."""
    return root / key / f"{variant}-{norm}"


def train_pair(key: str, variant: str, members: int, root: Path, archive: RunArchive,
               overrides: list[str], data: Path) -> None:  # fmt: skip
    """Train the share and sep ensembles of one variant side by side, unless finished."""
    jobs = []
    for norm in NORMS:
        out = run_dir(root, key, variant, norm)
        if (out / "results.json").exists():
            continue
        args = [
            "--config", str(REPO / "configs" / f"{key}.yaml"),
            f"data.source={MOLECULENET / TABLES[key]}", f"data.root={data}", *WIDTH,
            *VARIANTS[variant], f"model.core.norm={norm}", f"train.ensemble={members}",
            PATIENCE, "seed=0", *overrides,
        ]  # fmt: skip
        jobs.append((args, out))
    try:
        launch_side_by_side(jobs)
    finally:
        # members only with their ensemble: scoring reads every member's best/ checkpoint,
        # which the archive does not keep, so a member restored alone could not be scored
        for _, out in jobs:
            if (out / "results.json").exists():
                for member in sorted(out.glob("member-*")):
                    archive.keep(member, MEMBER_FILES)
                (out / "provenance.json").write_text(json.dumps(provenance(), indent=1) + "\n")
                archive.keep(out, (*ENSEMBLE_FILES, "provenance.json"))


def run_archive(work: Path, results: Path, members: int = 5,
                overrides: tuple[str, ...] = ()) -> RunArchive:  # fmt: skip
    """The archive of the accuracy runs; runs with ``overrides`` (a smoke run) go apart."""
    name = "accuracy_custom" if overrides else "accuracy"
    return RunArchive(name, work / name, [*WIDTH, f"members={members}", *overrides], results)


def forest_label(recipe: str) -> str:
    """The table's name of a forest recipe (``forest.py``): the floor is plain ``forest``."""
    return "forest" if recipe == "floor" else f"forest ({recipe})"


def forest_scores(key: str, results: Path, recipe: str) -> tuple[np.ndarray, list[dict]] | None:
    """A forest recipe's scores for every molecule, averaged over its seeds; its results."""
    runs = sorted((results / "runs" / RECIPES[recipe].folder).glob(f"{key}-s*.json"))
    if not runs:
        return None
    scores = np.mean([np.load(p.with_suffix(".npz"))["scores"] for p in runs], axis=0)
    return scores, [json.loads(p.read_text()) for p in runs]


def blend(key: str, ours: np.lib.npyio.NpzFile, forest: np.ndarray) -> tuple[float, float]:
    """Blend forest and ensemble; the weight chosen on valid and the test score at it."""
    evaluator = Evaluator(f"ogbg-{key}")
    metric = evaluator.eval_metric
    ranks = metric == "rocauc"

    def score(split: str, weight: float) -> float:
        index, mine = ours[f"{split}_index"], ours[f"{split}_members"].mean(0)
        theirs = forest[index]
        if ranks:  # per task, ranks scaled to (0, 1]: the two models' scales do not matter
            mine, theirs = (np.apply_along_axis(rankdata, 0, a) / len(a) for a in (mine, theirs))
        mixed = weight * mine + (1 - weight) * theirs
        return evaluator.eval({"y_true": ours[f"{split}_labels"], "y_pred": mixed})[metric]

    valid = [score("valid", w) for w in WEIGHTS]
    best = int(np.argmax(valid) if ranks else np.argmin(valid))
    return float(WEIGHTS[best]), score("test", WEIGHTS[best])


def harness_rows(key: str, results: Path) -> list[dict]:
    """The sepnorm harness's runs of the dataset on the same splits, per seed: graphsep without
    features (``scratch``, i.e. the plain variant's single models, and ``finetune`` from the
    ZINC-pretrained encoder) and the peers (``chemprop``, ``gin-virtual``), same epochs."""
    table = results / "sepnorm.csv"
    if not table.exists():
        return []
    runs = pd.read_csv(table)
    runs = runs[(runs.dataset == f"ogbg-{key}") & runs.variant.isin(["scratch", "finetune"])]
    return [
        {"dataset": key, "model": r.model, "seed": r.seed, "metric": r.metric, "valid": r.valid,
         "test": r.test, **({"variant": r.variant, "norm": r.norm} if r.model == "graphsep"
                            else {"variant": "", "norm": ""})}
        for r in runs.itertuples()
    ]  # fmt: skip


def rows(root: Path, results: Path) -> list[dict]:
    """One row per model and dataset: single (per seed), ensemble, forest, blend, and the
    sepnorm harness's runs."""
    table = []
    for key in TABLES:
        table += harness_rows(key, results)
        forests = {}
        for recipe in RECIPES:
            found = forest_scores(key, results, recipe)
            if found is None:
                continue
            forests[recipe] = found[0]
            for r in found[1]:
                table.append({"dataset": key, "model": forest_label(recipe), "variant": "",
                              "norm": "", "seed": r["seed"], "metric": r["metric"],
                              "valid": r["valid"], "test": r["test"]})  # fmt: skip
        for variant in VARIANTS:
            for norm in NORMS:
                out = run_dir(root, key, variant, norm)
                if not (out / "results.json").exists():
                    continue
                result = json.loads((out / "results.json").read_text())
                base = {"dataset": key, "variant": variant, "norm": norm,
                        "metric": result["metric"]}  # fmt: skip
                for seed, (valid, test) in enumerate(
                    zip(result["member_valid"], result["member_test"], strict=True)
                ):
                    table.append({**base, "model": "graphsep", "seed": seed, "valid": valid,
                                  "test": test})  # fmt: skip
                table.append({**base, "model": f"ensemble of {result['members']}", "seed": -1,
                              "valid": result["valid"], "test": result["test"],
                              **result["test_uncertainty"]})  # fmt: skip
                for recipe, scores in forests.items():
                    weight, test = blend(key, np.load(out / "predictions.npz"), scores)
                    table.append({**base, "model": f"blend with {forest_label(recipe)}",
                                  "seed": -1, "weight": weight, "test": test})  # fmt: skip
    return table


def summary(frame: pd.DataFrame) -> str:
    """Markdown: per dataset, test metric of each model, single models as mean ± std."""
    lines = [
        "Molecule accuracy on OGB scaffold splits, test metric (ROC-AUC x100, higher is better; "
        "RMSE, lower is better). graphsep at width 64 with each dataset's config; single = "
        "mean ± std over the ensemble's seeds; forest = 500 trees on binary ECFP4, 3 seeds; "
        "forest (fingerprints) = 500 trees on ECFP4, FCFP4, atom pairs and MACCS, max_features "
        "0.2 (the OGB leaderboard's first place's forests); blend = a forest and the ensemble, "
        "weight of the ensemble chosen on valid; scratch and "
        "finetune (sepnorm.py): the sepnorm harness's graphsep runs without features, same "
        "width and epochs (finetune: from its ZINC-pretrained encoder); chemprop and "
        "gin-virtual: its peers, same epochs.",
        stamp_line(provenance()),
        "",
        "| dataset | variant | norm | single | ensemble | Brier | ECE | spread-error AUC | "
        "blend with forest (weight) | with forest (fingerprints) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, part in frame.groupby("dataset", sort=False):
        scale = 100 if part.metric.iloc[0] == "rocauc" else 1
        mine = part.model.eq("graphsep") | part.model.str.startswith(("ensemble", "blend"))
        for model, cell in part[~mine].groupby("model", sort=False):  # forests and peers
            lines.append(f"| {key} | {model} | | {single_cell(cell.test * scale)} |" + " |" * 6)
        ours = part[mine]
        for (variant, norm), cell in ours.groupby(["variant", "norm"], sort=False):
            single = single_cell(cell[cell.model == "graphsep"].test * scale)
            ens = cell[cell.model.str.startswith("ensemble")]
            if ens.empty:  # the sepnorm harness's single models
                lines.append(f"| {key} | {variant} (sepnorm.py) | {norm} | {single} |" + " |" * 6)
                continue
            ens = ens.iloc[0]
            blends = " | ".join(
                blend_cell(cell[cell.model == f"blend with {forest_label(r)}"], scale)
                for r in RECIPES
            )
            lines.append(
                f"| {key} | {variant} | {norm} | {single} | {ens.test * scale:.2f} | "
                f"{calibration(ens, 'brier')} | {calibration(ens, 'ece')} | "
                f"{ens.spread_error_auc:.2f} | {blends} |"
            )
    return "\n".join(lines) + "\n"


def blend_cell(blend: pd.DataFrame, scale: int) -> str:
    """``test (weight)`` of a blend row, empty where that forest has not run."""
    if blend.empty:
        return ""
    return f"{blend.test.iloc[0] * scale:.2f} ({blend.weight.iloc[0]:.1f})"


def calibration(ensemble: pd.Series, name: str) -> str:
    """An ensemble's Brier score or ECE, ``-`` for regression (probabilities only)."""
    value = ensemble.get(name, float("nan"))
    return "-" if pd.isna(value) else f"{value:.3f}"


def single_cell(scores: pd.Series) -> str:
    """``mean ± std (n=N)`` of single-model scores."""
    std = statistics.stdev(scores) if len(scores) > 1 else 0.0
    return f"{scores.mean():.2f} ± {std:.2f} (n={len(scores)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[], choices=list(TABLES))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--summarize", action="store_true", help="only rewrite the summary")
    parser.add_argument("--work", type=absolute_path, default=WORK, help="scratch folder")
    parser.add_argument(
        "--results",
        type=absolute_path,
        default=RESULTS,
        help="results folder (the forest's runs are read from its runs/forest)",
    )
    parser.add_argument("--docs", type=absolute_path, default=REPO / "docs")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="key=value for every graphsep run (a smoke run); such runs go apart, to "
        "accuracy_custom, and write no summary",
    )
    args = parser.parse_intermixed_args()
    archive = run_archive(args.work, args.results, args.members, args.overrides)
    root = archive.work
    print(f"{archive.restore()} finished run(s) restored from {archive.root}", flush=True)
    for key in [] if args.summarize else args.only:
        prepare(key, args.work)
        for variant in args.variants:
            train_pair(key, variant, args.members, root, archive, args.overrides,
                       args.work / "data")  # fmt: skip
    frame = pd.DataFrame(rows(root, args.results))
    if frame.empty or args.overrides:
        print(summary(frame) if not frame.empty else "no finished runs")
        return
    publish_summary("accuracy", frame, summary(frame), args.results, args.docs)


if __name__ == "__main__":
    main()
