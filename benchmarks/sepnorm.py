"""SepNorm vs ShareNorm across domains: seeds side by side, one tidy table, one summary.

    python benchmarks/sepnorm.py --budget quick                 # every dataset, seeds 0 1 2
    python benchmarks/sepnorm.py --only imdb --budget quick --seeds 0
    python benchmarks/sepnorm.py --budget quick --summarize     # only rewrite table and summary

Per dataset, seed and stage, the share and sep runs go side by side (one CPU thread each):
``pretrain`` (MAE for images, MLM for text), then from that norm's own pretrained encoder
``finetune`` (the whole encoder trained) and the linear probes ``probe_bn`` and ``probe_none``
(a frozen encoder; a ``BatchNorm1d(affine=False)`` before the linear head as in MAE's probe, or
no norm: MAE's probe norm overlaps with SepNorm's [CLS] BatchNorm, so both are reported), and
``scratch`` (the finetuning recipe without pretraining). ``--budget quick`` takes the
``configs/*_quick.yaml`` recipes (minutes per run on 2 CPU cores), ``full`` the full ones.

Runs are ``train.py`` subprocesses under
``<work>/sepnorm/<budget>/<dataset>/<stage>/<norm>-s<seed>``.
A run whose ``results.json`` exists is skipped and an interrupted one resumes from ``last/``;
finished runs (with the pretrained checkpoints) are archived in
``benchmarks/results/runs/sepnorm_<budget>/``, so the benchmark continues across sessions. Every
finished run is one row of ``benchmarks/results/sepnorm.csv``; the summary (mean ± std per cell,
the paired sep - share difference, seeds won by each norm, the relative gain per domain and
overall beside the paper's +2.7%) goes to ``benchmarks/results/sepnorm_<budget>.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from common import (
    REPO,
    RESULTS,
    RunArchive,
    absolute_path,
    launch_side_by_side,
    provenance,
)

from graphsep.analysis.report import analyze

NORMS = ("share", "sep")
STAGES = ("pretrain", "finetune", "probe_bn", "probe_none", "scratch")
PROBE_NORMS = {"probe_bn": "batchnorm", "probe_none": "none"}
ANALYZED = ("pretrain", "finetune", "scratch")
"""Stages whose [CLS] is analysed: a probe's frozen encoder is its pretraining run's."""
GEOMETRY = ("uniformity", "effective_rank", "anisotropy")
RUN_FILES = (*RunArchive.FILES, "provenance.json")
ANALYSIS_FILES = ("analysis.json", "spectrum.png")
BUDGETS = ("quick", "full")
COLUMNS = [
    "domain", "dataset", "variant", "budget", "norm", "seed", "metric", "valid", "test",
    "epochs", "best_epoch", "params", "trainable_params", "seconds", *GEOMETRY, "commit",
    "date", "machine",
]  # fmt: skip
PAPER_GAIN = 2.7
"""The paper's average relative gain of SepNorm over ShareNorm, in percent."""


@dataclass(frozen=True)
class Dataset:
    """One dataset of the harness: its domain and the stem of its configs (``<stem>_*.yaml``)."""

    domain: str
    name: str
    pretrain: str  # the pretraining task's config name: mae, mlm


DATASETS = {
    "fmnist": Dataset("image", "fashion-mnist", "mae"),
    "imdb": Dataset("text", "imdb", "mlm"),
}


def config_path(key: str, recipe: str, budget: str) -> str:
    """Return ``configs/<key>_<recipe>[_quick].yaml``."""
    suffix = "_quick" if budget == "quick" else ""
    return str(REPO / "configs" / f"{key}_{recipe}{suffix}.yaml")


def stage_args(key: str, stage: str, budget: str, pretrained: Path) -> list[str]:
    """The config and overrides of one stage (``pretrained``: that seed and norm's run)."""
    if stage == "pretrain":
        return ["--config", config_path(key, DATASETS[key].pretrain, budget)]
    if stage == "scratch":
        return ["--config", config_path(key, "finetune", budget)]
    init = [f"model.init_from={pretrained / 'best'}"]
    if stage == "finetune":
        return ["--config", config_path(key, "finetune", budget), *init]
    probe = ["task.classify.probe=true", f"task.classify.probe_norm={PROBE_NORMS[stage]}"]
    # the quick recipes have no probe config: the quick finetuning one with the probe on
    recipe = "finetune" if budget == "quick" else "probe"
    return ["--config", config_path(key, recipe, budget), *init, *probe]


def run_seed(key: str, seed: int, root: Path, budget: str, archive: RunArchive) -> None:
    """Run every stage of one dataset and seed, share and sep side by side, skipping done ones."""
    for stage in STAGES:
        jobs = []
        for norm in NORMS:
            out_dir = root / key / stage / f"{norm}-s{seed}"
            if (out_dir / "results.json").exists():
                continue
            pretrained = root / key / "pretrain" / f"{norm}-s{seed}"
            overrides = [f"model.core.norm={norm}", f"seed={seed}"]
            jobs.append(([*stage_args(key, stage, budget, pretrained), *overrides], out_dir))
        launch_side_by_side(jobs)
        stamp = json.dumps(provenance(), indent=1) + "\n"
        for _, out_dir in jobs:
            (out_dir / "provenance.json").write_text(stamp)
            archive.keep(out_dir, RUN_FILES, weights=stage == "pretrain")
        analyze_pair(root, key, stage, seed, archive)


def analysis_dir(root: Path, key: str, stage: str, seed: int) -> Path:
    """Where the [CLS] analysis of one stage's share and sep runs of a seed goes."""
    return root / key / "analysis" / f"{stage}-s{seed}"


def analyze_pair(root: Path, key: str, stage: str, seed: int, archive: RunArchive) -> None:
    """Run ``graphsep analyze`` on the stage's share and sep checkpoints, unless done.

    Skipped where a run's checkpoint is not here (a run restored from the archive keeps only
    its scores) and for the probes, whose frozen encoder is the pretraining stage's.
    """
    out = analysis_dir(root, key, stage, seed)
    runs = [root / key / stage / f"{norm}-s{seed}" for norm in NORMS]
    done = (out / "analysis.json").exists()
    finished = all((r / "results.json").exists() and (r / "best").is_dir() for r in runs)
    if done or stage not in ANALYZED or not finished:
        return
    print(f"analyzing {key} {stage} seed {seed}", flush=True)
    analyze([r / "best" for r in runs], out)
    archive.keep(out, ANALYSIS_FILES)


def cls_geometry(root: Path, key: str, stage: str, norm: str, seed: int) -> dict[str, float]:
    """The [CLS] measures of one run, from its pair's analysis (NaN where there is none)."""
    path = analysis_dir(root, key, stage, seed) / "analysis.json"
    entries = json.loads(path.read_text())["checkpoints"] if path.exists() else []
    entry = next((e for e in entries if e["norm"] == norm), {})
    return {name: entry.get(name, float("nan")) for name in GEOMETRY}


def rows(root: Path, budget: str) -> list[dict]:
    """One row per finished run under ``root``: what it was, its scores, size, time, provenance."""
    table = []
    for key, dataset in DATASETS.items():
        for stage in STAGES:
            for path in sorted((root / key / stage).glob("*-s*/results.json")):
                result = json.loads(path.read_text())
                stamp = json.loads((path.parent / "provenance.json").read_text())
                geometry = cls_geometry(root, key, stage, result["norm"], result["seed"])
                table.append({
                    "domain": dataset.domain, "dataset": dataset.name, "variant": stage,
                    "budget": budget, "norm": result["norm"], "seed": result["seed"],
                    "metric": result["metric"], "valid": result["valid"],
                    "test": result.get("test", float("nan")),
                    "epochs": result["epochs_run"], "best_epoch": result["best_epoch"],
                    "params": result["params"], "trainable_params": result["trainable_params"],
                    "seconds": round(result["hours"] * 3600, 1), **geometry,
                    "commit": stamp["commit"],
                    "date": stamp["date"], "machine": machine(stamp),
                })  # fmt: skip
    return table


def machine(stamp: dict) -> str:
    """The machine a run ran on, in words."""
    return (f"{stamp['machine']}, {stamp['cpu_cores']} cores, GPU {stamp['gpu']}, "
            f"torch {stamp['torch']}")  # fmt: skip


def _mean_std(values: list[float], digits: int = 4) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def summary(frame: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """The markdown summary of one budget's rows, and the mean relative gain (%) per domain.

    The score of a classification stage is test accuracy (higher is better); of a pretraining
    stage the held-out loss (lower is better), shown but left out of the gains.
    """
    lines = [
        "| domain | dataset | stage | metric | ShareNorm | SepNorm | sep - share (paired) "
        "| seeds sep > share | relative gain | seconds per run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    gains: dict[str, list[float]] = {}
    for (domain, dataset, stage), cell in frame.groupby(["domain", "dataset", "variant"],
                                                        sort=False):  # fmt: skip
        score = "valid" if stage == "pretrain" else "test"
        by_norm = {n: cell[cell.norm == n].set_index("seed")[score] for n in NORMS}
        seeds = sorted(set(by_norm["share"].index) & set(by_norm["sep"].index))
        diffs = [by_norm["sep"][s] - by_norm["share"][s] for s in seeds]
        better = [d < 0 if stage == "pretrain" else d > 0 for d in diffs]
        relative = "-"
        if diffs and stage != "pretrain":
            shares = [by_norm["share"][s] for s in seeds]
            gain = 100 * statistics.fmean(d / b for d, b in zip(diffs, shares, strict=True))
            gains.setdefault(domain, []).append(gain)
            relative = f"{gain:+.2f}%"
        cells = [f"{_mean_std(list(by_norm[n]))} (n={len(by_norm[n])})" for n in NORMS]
        lines.append(
            f"| {domain} | {dataset} | {stage} | {cell.metric.iloc[0]} | {cells[0]} | {cells[1]} "
            f"| {_mean_std(diffs) if diffs else '-'} | {sum(better)}/{len(seeds)} | {relative} "
            f"| {cell.seconds.mean():.0f} |"
        )
    per_domain = {d: statistics.fmean(g) for d, g in gains.items()}
    return "\n".join(lines) + "\n", per_domain


def geometry_summary(frame: pd.DataFrame) -> str:
    """The markdown table of the [CLS] measures: both norms side by side, mean ± std over seeds.

    Uniformity: lower is more uniform; "seeds sep more uniform" counts the paired seeds.
    """
    lines = [
        "| dataset | stage | uniformity share | uniformity sep | seeds sep more uniform "
        "| effective rank share | effective rank sep | anisotropy share | anisotropy sep |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    analysed = frame[frame.variant.isin(ANALYZED)].dropna(subset=["uniformity"])
    for (dataset, stage), cell in analysed.groupby(["dataset", "variant"], sort=False):
        by_norm = {n: cell[cell.norm == n].set_index("seed") for n in NORMS}
        seeds = sorted(set(by_norm["share"].index) & set(by_norm["sep"].index))
        wins = sum(by_norm["sep"].uniformity[s] < by_norm["share"].uniformity[s] for s in seeds)
        cells = [
            _mean_std(list(by_norm[n][m]), 3) if len(by_norm[n]) else "-"
            for m in GEOMETRY
            for n in NORMS
        ]
        lines.append(f"| {dataset} | {stage} | {cells[0]} | {cells[1]} | {wins}/{len(seeds)} | "
                     + " | ".join(cells[2:]) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_outputs(table: list[dict], budget: str) -> str:
    """Merge ``table`` into ``sepnorm.csv`` (replacing this budget's rows); write the summary."""
    csv = RESULTS / "sepnorm.csv"
    frame = pd.DataFrame(table, columns=COLUMNS)
    if csv.exists():
        old = pd.read_csv(csv)
        frame = pd.concat([old[old.budget != budget], frame], ignore_index=True)
    frame.to_csv(csv, index=False)
    mine = frame[frame.budget == budget]
    if mine.empty:
        return f"no finished runs for budget {budget}\n"
    body, per_domain = summary(mine)
    gain_line = "; ".join(f"{d} {g:+.2f}%" for d, g in per_domain.items())
    overall = statistics.fmean(per_domain.values()) if per_domain else float("nan")
    text = (
        f"SepNorm vs ShareNorm, budget `{budget}` (configs/*{'_quick' if budget == 'quick' else ''}"
        ".yaml): test accuracy of the classification stages, held-out loss of pretraining; "
        "mean ± std over seeds.\n"
        f"Machine: {'; '.join(sorted(set(mine.machine)))}; commits "
        f"{', '.join(sorted(set(mine.commit)))}; {mine.date.min()} to {mine.date.max()}.\n\n"
        f"{body}\nMean relative gain of sep over share (classification stages, paired by seed): "
        f"{gain_line or 'none yet'}; over domains {overall:+.2f}% (paper: +{PAPER_GAIN}%).\n\n"
        "[CLS] of the test split (`graphsep analyze`): uniformity (Wang & Isola, t = 2; lower "
        "is more uniform), effective rank, anisotropy (mean pairwise cosine).\n\n"
        f"{geometry_summary(mine)}"
    )
    (RESULTS / f"sepnorm_{budget}.md").write_text(text)
    return text


def main() -> None:
    """Run the missing stages of every chosen dataset and seed, then write table and summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", choices=BUDGETS, default="quick")
    parser.add_argument("--only", nargs="+", choices=sorted(DATASETS), default=list(DATASETS))
    parser.add_argument("--work", type=absolute_path, default=REPO / "benchmarks" / "work")
    parser.add_argument("--summarize", action="store_true", help="only summarize finished runs")
    args = parser.parse_args()
    root = args.work / "sepnorm" / args.budget
    archive = RunArchive(f"sepnorm_{args.budget}", root, [f"budget={args.budget}"])
    print(f"{archive.restore()} finished run(s) restored from {archive.root}", flush=True)
    for seed in args.seeds:  # seed by seed, so that every dataset has as many when stopped
        for key in args.only:
            if not args.summarize:
                run_seed(key, seed, root, args.budget, archive)
            for stage in ANALYZED:  # runs finished before their analysis was added
                analyze_pair(root, key, stage, seed, archive)
    print(write_outputs(rows(root, args.budget), args.budget))


if __name__ == "__main__":
    main()
