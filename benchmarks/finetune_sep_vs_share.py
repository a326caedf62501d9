"""Finetune from scratch, SepNorm vs ShareNorm side by side, several seeds, OGB scaffold splits.

    python benchmarks/finetune_sep_vs_share.py --datasets molbbbp molhiv --seeds 0 1 2

Each run is ``train.py`` in a subprocess writing ``benchmarks/work/<dataset>/<norm>-s<seed>/``;
a run whose ``results.json`` exists is skipped, so a killed benchmark resumes where it stopped.
The summary (test metric mean ± std per dataset and norm) goes to
``benchmarks/results/finetune_sep_vs_share.{json,md}`` with machine, date and commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from common import MOLECULENET, REPO, RESULTS, provenance

TABLES = {
    "molbbbp": "bbbp.csv", "molbace": "bace.csv", "molclintox": "clintox.csv",
    "molsider": "sider.csv", "moltox21": "tox21.csv", "molhiv": "hiv.csv.gz",
    "molesol": "delaney.csv", "molfreesolv": "freesolv.csv", "mollipo": "lipo.csv",
}  # fmt: skip
WORK = REPO / "benchmarks" / "work"


def run_one(dataset: str, norm: str, seed: int, extra: list[str]) -> dict:
    out_dir = WORK / dataset / f"{norm}-s{seed}"
    results = out_dir / "results.json"
    if not results.exists():
        cmd = [
            sys.executable, str(REPO / "train.py"),
            "--config", str(REPO / "configs" / f"{dataset}.yaml"),
            f"data.source={MOLECULENET / TABLES[dataset]}", f"data.root={WORK / 'data'}",
            f"out_dir={out_dir}", f"model.norm={norm}", f"seed={seed}", "progress=false", *extra,
        ]  # fmt: skip
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=REPO)
    return json.loads(results.read_text())


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
        f"Finetuning from scratch, test metric mean ± std over seeds {args.seeds} "
        f"(overrides: {' '.join(args.overrides) or 'none'}).",
        f"Machine: {stamp['machine']}, {stamp['cpu_cores']} cores, GPU {stamp['gpu']}; "
        f"{stamp['date']}; commit {stamp['commit']}.",
        "",
        "| dataset | metric | ShareNorm | SepNorm |",
        "|---|---|---|---|",
    ]
    for dataset, norms in table.items():
        cells = [
            f"{100 * norms[n]['test_mean']:.2f} ± {100 * norms[n]['test_std']:.2f}"
            if n in norms else "-"
            for n in ("share", "sep")
        ]
        metric = next(iter(norms.values()))["metric"]
        lines.append(f"| {dataset} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["molbbbp", "molhiv"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("overrides", nargs="*", help="key=value passed to every run")
    args = parser.parse_args()
    runs = []
    for dataset in args.datasets:
        for seed in args.seeds:
            for norm in ("share", "sep"):
                runs.append(run_one(dataset, norm, seed, args.overrides))
    table = summarize(runs)
    stamp = provenance()
    text = markdown(table, stamp, args)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "finetune_sep_vs_share.md").write_text(text)
    payload = {"provenance": stamp, "overrides": args.overrides, "results": table, "runs": runs}
    (RESULTS / "finetune_sep_vs_share.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
