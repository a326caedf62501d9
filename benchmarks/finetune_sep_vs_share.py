"""Finetune from scratch, SepNorm vs ShareNorm side by side, several seeds, OGB scaffold splits.

    python benchmarks/finetune_sep_vs_share.py --datasets molbbbp molhiv --seeds 0 1 2

Each run is ``train.py`` in a subprocess writing ``<work>/<name>/<dataset>/<norm>-s<seed>/`` (one
folder per ``--name``: benchmarks with other overrides never pick up each other's runs); the share
and sep runs of a seed go side by side, one CPU thread each (two threads each would oversubscribe
2 cores). A run whose ``results.json`` exists is skipped, and an interrupted one continues from
its ``last/`` checkpoint (``resume=auto``), so a killed benchmark resumes where it stopped.
Finished runs are also kept in ``benchmarks/results/runs/<name>/`` (``common.RunArchive``, in
git), so that a benchmark longer than a session continues in a later one.
The summary (test metric mean ± std per dataset and norm) goes to
``benchmarks/results/<name>.{json,md}`` (``--name``, default ``finetune_sep_vs_share``) with
machine, date and commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import (
    MOLECULENET,
    REPO,
    RESULTS,
    RunArchive,
    absolute_path,
    launch_side_by_side,
    provenance,
    stamp_line,
)

from graphsep.frontends.graph.encoded_dataset import EncodedDataset
from graphsep.molecules.ogb_layout import load_ogb_dataset

TABLES = {
    "molbbbp": "bbbp.csv", "molbace": "bace.csv", "molclintox": "clintox.csv",
    "molsider": "sider.csv", "moltox21": "tox21.csv", "molhiv": "hiv.csv.gz",
    "molesol": "delaney.csv", "molfreesolv": "freesolv.csv", "mollipo": "lipo.csv",
}  # fmt: skip
NORMS = ("share", "sep")


def finished(dataset: str, seed: int, runs_dir: Path) -> list[dict]:
    """Results of the runs of this dataset and seed under ``runs_dir`` that have finished."""
    results = [runs_dir / dataset / f"{norm}-s{seed}" / "results.json" for norm in NORMS]
    return [json.loads(path.read_text()) for path in results if path.exists()]


def run_pair(
    dataset: str,
    seed: int,
    work: Path,
    extra: list[str],
    runs_dir: Path | None = None,
    per_norm: dict[str, list[str]] | None = None,
    archive: RunArchive | None = None,
) -> list[dict]:
    """Train share and sep for one seed side by side; return both results.

    Args:
        dataset (str): a key of :data:`TABLES`.
        seed (int): the runs' seed.
        work (Path): holds the built datasets under ``data/``.
        extra (list[str]): ``key=value`` for both runs.
        runs_dir (Path, optional): runs go to ``<runs_dir>/<dataset>/<norm>-s<seed>/``.
            (default: ``work``)
        per_norm (dict[str, list[str]], optional): further ``key=value`` for one norm's run.
        archive (RunArchive, optional): keeps each finished run for later sessions.
    """
    runs_dir = runs_dir or work
    jobs = []
    for norm in NORMS:
        out_dir = runs_dir / dataset / f"{norm}-s{seed}"
        if (out_dir / "results.json").exists():
            continue
        args = [
            "--config", str(REPO / "configs" / f"{dataset}.yaml"),
            f"data.source={MOLECULENET / TABLES[dataset]}", f"data.root={work / 'data'}",
            f"model.core.norm={norm}", f"seed={seed}", *extra, *(per_norm or {}).get(norm, []),
        ]  # fmt: skip
        jobs.append((args, out_dir))
    launch_side_by_side(jobs)
    if archive is not None:
        for _, out_dir in jobs:
            archive.keep(out_dir)
    return finished(dataset, seed, runs_dir)


def prepare(dataset: str, work: Path) -> None:
    """Build the dataset and its encoding cache once, before two runs would race to."""
    name, source = f"ogbg-{dataset}", MOLECULENET / TABLES[dataset]
    EncodedDataset(load_ogb_dataset(name, work / "data", source=source))


def summarize(runs: list[dict]) -> dict:
    table: dict = {}
    for r in runs:
        entry = table.setdefault(r["dataset"], {}).setdefault(
            r["norm"], {"metric": r["metric"], "test": [], "valid": []}
        )
        entry["test"].append(r["test"])
        entry["valid"].append(r["valid"])
    for norms in table.values():
        for entry in norms.values():
            for key in ("test", "valid"):
                values = entry[key]
                entry[f"{key}_mean"] = statistics.fmean(values)
                entry[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return table


def markdown(table: dict, stamp: dict, args: argparse.Namespace) -> str:
    lines = [
        "Finetuning from scratch, OGB scaffold split: test metric x100, mean ± std over seeds "
        f"(n = seeds finished); overrides: {' '.join(args.overrides) or 'none'}.",
        stamp_line(stamp),
        "",
        "| dataset | metric | ShareNorm | SepNorm |",
        "|---|---|---|---|",
    ]
    for dataset, norms in table.items():
        cells = [
            f"{100 * norms[n]['test_mean']:.2f} ± {100 * norms[n]['test_std']:.2f} "
            f"(n={len(norms[n]['test'])})"
            if n in norms
            else "-"
            for n in ("share", "sep")
        ]
        metric = next(iter(norms.values()))["metric"]
        lines.append(f"| {dataset} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["molbbbp", "molhiv"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--work", type=absolute_path, default=REPO / "benchmarks" / "work")
    parser.add_argument(
        "--name", default="finetune_sep_vs_share", help="results file stem in benchmarks/results"
    )
    parser.add_argument(
        "--summarize", action="store_true", help="only summarize the runs that have finished"
    )
    parser.add_argument("overrides", nargs="*", help="key=value passed to every run")
    args = parser.parse_args()
    runs_dir = args.work / args.name
    archive = RunArchive(args.name, runs_dir, args.overrides)
    print(f"{archive.restore()} finished run(s) restored from {archive.root}", flush=True)
    runs = []
    for dataset in args.datasets:
        if args.summarize:
            runs += [r for seed in args.seeds for r in finished(dataset, seed, runs_dir)]
            continue
        prepare(dataset, args.work)
        for seed in args.seeds:
            runs += run_pair(dataset, seed, args.work, args.overrides, runs_dir, archive=archive)
    table = summarize(runs)
    stamp = provenance()
    text = markdown(table, stamp, args)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.md").write_text(text)
    payload = {"provenance": stamp, "overrides": args.overrides, "results": table, "runs": runs}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
