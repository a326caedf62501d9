"""SepNorm vs ShareNorm on Fashion-MNIST: MAE then finetuning, linear probes, and from scratch.

    python benchmarks/fmnist_sep_vs_share.py --seeds 0 1 2
    python benchmarks/fmnist_sep_vs_share.py --quick --seeds 0 --name fmnist_quick

Per seed, the share and sep runs of each stage go side by side, one CPU thread each:
``mae`` (configs/fmnist_mae.yaml), then from its checkpoint ``finetune`` (fmnist_finetune.yaml)
and the linear probes ``probe_bn`` and ``probe_none`` (fmnist_probe.yaml with
``task.classify.probe_norm`` batchnorm or none: MAE's probe norm overlaps with SepNorm's [CLS]
BatchNorm, so both are reported), and ``scratch`` (fmnist_finetune.yaml without init).
``--quick`` takes the ``*_quick`` configs (scratch and finetune only share one config there).
Runs are ``train.py`` subprocesses under ``<work>/<name>/<stage>/<norm>-s<seed>/``: a run whose
``results.json`` exists is skipped, an interrupted one resumes from its ``last/`` checkpoint, and
finished runs are archived in ``benchmarks/results/runs/<name>/`` (``common.RunArchive``; the MAE
checkpoints too), so the benchmark continues across sessions. The summary (test accuracy mean ±
std per stage and norm, the paired sep - share difference, hours per run) goes to
``benchmarks/results/<name>.{json,md}`` with machine, date and commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import (
    REPO,
    RESULTS,
    RunArchive,
    absolute_path,
    launch_side_by_side,
    provenance,
    stamp_line,
)

NORMS = ("share", "sep")
STAGES = ("mae", "finetune", "probe_bn", "probe_none", "scratch")
PROBE_NORMS = {"probe_bn": "batchnorm", "probe_none": "none"}


def stage_args(stage: str, quick: bool, mae_dir: Path | None) -> list[str]:
    """The config and overrides of one stage (``mae_dir``: that seed and norm's MAE run)."""
    suffix = "_quick" if quick else ""
    if stage == "mae":
        return ["--config", str(REPO / "configs" / f"fmnist_mae{suffix}.yaml")]
    if stage == "scratch":
        return ["--config", str(REPO / "configs" / f"fmnist_finetune{suffix}.yaml")]
    init = [f"model.init_from={mae_dir / 'best'}"]
    if stage == "finetune":
        return ["--config", str(REPO / "configs" / f"fmnist_finetune{suffix}.yaml"), *init]
    probe = ["task.classify.probe=true", f"task.classify.probe_norm={PROBE_NORMS[stage]}"]
    if quick:  # the quick finetuning config with the probe switched on
        return ["--config", str(REPO / "configs" / "fmnist_finetune_quick.yaml"), *init, *probe]
    return ["--config", str(REPO / "configs" / "fmnist_probe.yaml"), *init, *probe]


def run_seed(seed: int, runs_dir: Path, args: argparse.Namespace, archive: RunArchive) -> None:
    """Run every stage of one seed, share and sep side by side, skipping finished runs."""
    for stage in STAGES:
        jobs = []
        for norm in NORMS:
            out_dir = runs_dir / stage / f"{norm}-s{seed}"
            if (out_dir / "results.json").exists():
                continue
            mae_dir = runs_dir / "mae" / f"{norm}-s{seed}"
            overrides = [f"model.core.norm={norm}", f"seed={seed}", *args.overrides]
            jobs.append(([*stage_args(stage, args.quick, mae_dir), *overrides], out_dir))
        launch_side_by_side(jobs)
        for _, out_dir in jobs:
            archive.keep(out_dir, weights=stage == "mae")


def collect(runs_dir: Path, seeds: list[int]) -> dict:
    """Per stage and norm, the finished runs' test accuracy (or MAE loss) and hours by seed."""
    table: dict = {}
    for stage in STAGES:
        for norm in NORMS:
            for seed in seeds:
                path = runs_dir / stage / f"{norm}-s{seed}" / "results.json"
                if path.exists():
                    result = json.loads(path.read_text())
                    score = result["valid"] if stage == "mae" else result["test"]
                    entry = table.setdefault(stage, {}).setdefault(norm, {})
                    entry[seed] = {"score": score, "hours": result["hours"]}
    return table


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {std:.4f} (n={len(values)})"


def markdown(table: dict, stamp: dict, args: argparse.Namespace) -> str:
    """The summary table: per stage, both norms, the paired difference, hours per run."""
    lines = [
        "Fashion-MNIST, test top-1 accuracy (MAE: held-out reconstruction loss), mean ± std over "
        f"seeds; {'quick' if args.quick else 'full'} configs; overrides: "
        f"{' '.join(args.overrides) or 'none'}.",
        stamp_line(stamp), "",
        "| stage | ShareNorm | SepNorm | sep - share (paired) | hours per run |",
        "|---|---|---|---|---|",
    ]  # fmt: skip
    for stage, norms in table.items():
        cells = [_mean_std([r["score"] for r in norms[n].values()]) if n in norms else "-"
                 for n in NORMS]  # fmt: skip
        paired = sorted(set(norms.get("share", {})) & set(norms.get("sep", {})))
        diffs = [norms["sep"][s]["score"] - norms["share"][s]["score"] for s in paired]
        hours = [r["hours"] for n in norms.values() for r in n.values()]
        lines.append(
            f"| {stage} | {cells[0]} | {cells[1]} | {_mean_std(diffs) if diffs else '-'} | "
            f"{statistics.fmean(hours):.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the missing stages of every seed (unless ``--summarize``), then write the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="the *_quick configs")
    parser.add_argument("--work", type=absolute_path, default=REPO / "benchmarks" / "work")
    parser.add_argument("--name", default="fmnist_sep_vs_share")
    parser.add_argument("--summarize", action="store_true", help="only summarize finished runs")
    parser.add_argument("overrides", nargs="*", help="key=value passed to every run")
    args = parser.parse_args()
    runs_dir = args.work / args.name
    archive = RunArchive(args.name, runs_dir, [*args.overrides, f"quick={args.quick}"])
    print(f"{archive.restore()} finished run(s) restored from {archive.root}", flush=True)
    if not args.summarize:
        for seed in args.seeds:
            run_seed(seed, runs_dir, args, archive)
    table = collect(runs_dir, args.seeds)
    stamp = provenance()
    text = markdown(table, stamp, args)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.md").write_text(text)
    payload = {"provenance": stamp, "quick": args.quick, "overrides": args.overrides,
               "results": table}  # fmt: skip
    (RESULTS / f"{args.name}.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
