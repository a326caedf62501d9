"""Tuning for scaffold splits: one setting changed at a time from the accuracy benchmark's run,
three seeds each, ShareNorm and SepNorm side by side, chosen on valid.

    python benchmarks/tuning.py --only molbbbp [--variant cls] [--settings dropout lr ...]
    python benchmarks/tuning.py --summarize

The base is ``benchmarks/accuracy.py``'s ensemble of the same dataset and variant (which must
have run): its first ``--seeds`` members are the base's seeds, so the base costs nothing here.
Every other setting is one ``train.ensemble=SEEDS`` run per norm with the base's arguments and
the setting's overrides; each seed is scored on its own (the single-model numbers of the
accuracy table). A setting wins for a norm when its mean valid metric is the best; test is
reported beside it and not used to choose. Resumable like the accuracy benchmark (archived in
``benchmarks/results/runs/tuning/``). Writes ``benchmarks/results/tuning.csv``, ``tuning.md``
and the block of ``docs/results.md`` between its markers.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import pandas as pd
from accuracy import NORMS, VARIANTS, WIDTH, run_archive, run_dir, train_pair
from common import (
    REPO,
    RESULTS,
    RunArchive,
    absolute_path,
    provenance,
    publish_summary,
    stamp_line,
)
from finetune_sep_vs_share import TABLES, prepare

WORK = Path(__file__).resolve().parent / "work"
DROPOUT = 0.3
SETTINGS = {
    "base": [],
    "epochs 10": ["train.epochs=10"],
    f"dropout {DROPOUT}": [
        f"model.core.dropout={DROPOUT}",
        f"model.core.attn_dropout={DROPOUT}",
        f"task.property.head_dropout={DROPOUT}",
    ],  # fmt: skip
    "weight decay 0.1": ["train.weight_decay=0.1"],
    "lr 1e-3": ["train.lr=1e-3"],
    "GINE local layers 2": ["model.graph.local_layers=2"],
    "width 128": ["model.core.dim=128"],
    # the fingerprints the leaderboard's forests add (forest.py's fingerprints recipe)
    "features +fcfp +atompairs": ["task.property.mol_features=[ecfp,fcfp,atompairs,maccs,rdkit2d]"],
}


def setting_root(work: Path, setting: str) -> Path:
    """The work folder of a setting's runs; the base's are the accuracy benchmark's."""
    if setting == "base":
        return run_archive(work, RESULTS).work
    return work / "tuning" / setting.replace(" ", "_")


def rows(work: Path, variant: str, seeds: int) -> list[dict]:
    """One row per dataset, setting, norm and seed, from every finished run."""
    table = []
    for key in TABLES:
        for setting in SETTINGS:
            for norm in NORMS:
                out = run_dir(setting_root(work, setting), key, variant, norm)
                if not (out / "results.json").exists():
                    continue
                result = json.loads((out / "results.json").read_text())
                scores = zip(result["member_valid"], result["member_test"], strict=True)
                for seed, (valid, test) in list(enumerate(scores))[:seeds]:
                    member = json.loads((out / f"member-{seed}" / "results.json").read_text())
                    table.append({"dataset": key, "variant": variant, "setting": setting,
                                  "norm": norm, "seed": seed, "metric": result["metric"],
                                  "valid": valid, "test": test,
                                  "best_epoch": member["best_epoch"]})  # fmt: skip
    return table


def mean_std(values: pd.Series) -> str:
    """``mean ± std`` of a column."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{values.mean():.2f} ± {std:.2f}"


def summary(frame: pd.DataFrame) -> str:
    """Markdown: per dataset and setting, valid and test of each norm; the winners on valid."""
    lines = [
        "Tuning on OGB scaffold splits: one setting changed at a time from the base (width 64, "
        "the dataset's config, RDKit features as in the accuracy table); valid and test metric "
        "(ROC-AUC x100 or RMSE), mean ± std over seeds; **bold**: the best mean valid per norm "
        "(the choice; test is not used to choose).",
        stamp_line(provenance()),
        "",
        "| dataset | setting | norm | valid | test | best epoch | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for (key, norm), part in frame.groupby(["dataset", "norm"], sort=False):
        higher = part.metric.iloc[0] == "rocauc"
        scale = 100 if higher else 1
        cells = part.groupby("setting", sort=False)
        valid = cells.valid.mean()
        best = valid.idxmax() if higher else valid.idxmin()
        for setting, cell in cells:
            mark = "**" if setting == best else ""
            lines.append(
                f"| {key} | {mark}{setting}{mark} | {norm} | {mean_std(cell.valid * scale)} | "
                f"{mean_std(cell.test * scale)} | {cell.best_epoch.mean():.1f} | {len(cell)} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[], choices=list(TABLES))
    parser.add_argument("--variant", default="cls", choices=list(VARIANTS))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--summarize", action="store_true", help="only rewrite the summary")
    parser.add_argument("--work", type=absolute_path, default=WORK, help="scratch folder")
    parser.add_argument("--results", type=absolute_path, default=RESULTS)
    parser.add_argument("--docs", type=absolute_path, default=REPO / "docs")
    args = parser.parse_args()
    archive = RunArchive(
        "tuning", args.work / "tuning", [*WIDTH, f"seeds={args.seeds}"], args.results
    )
    print(f"{archive.restore()} finished run(s) restored from {archive.root}", flush=True)
    base = run_archive(args.work, args.results)
    print(f"{base.restore()} base run(s) restored from {base.root}", flush=True)
    for key in [] if args.summarize else args.only:
        if not (run_dir(setting_root(args.work, "base"), key, args.variant, "sep")
                / "results.json").exists():  # fmt: skip
            raise SystemExit(f"no base for {key}: run benchmarks/accuracy.py --only {key} "
                             f"--variants {args.variant} first")  # fmt: skip
        prepare(key, args.work)
        for setting in args.settings:
            if setting != "base":
                train_pair(key, args.variant, args.seeds, setting_root(args.work, setting),
                           archive, SETTINGS[setting], args.work / "data")  # fmt: skip
    frame = pd.DataFrame(rows(args.work, args.variant, args.seeds))
    if not frame.empty:  # a dataset with the base alone (an accuracy run) is not tuned yet
        tuned = frame[frame.setting != "base"].dataset.unique()
        frame = frame[frame.dataset.isin(tuned)]
    if frame.empty:
        print("no finished runs")
        return
    publish_summary("tuning", frame, summary(frame), args.results, args.docs)


if __name__ == "__main__":
    main()
