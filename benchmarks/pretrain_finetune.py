"""Pretrained vs from scratch, each with SepNorm and ShareNorm, several seeds, OGB scaffold splits.

    python benchmarks/pretrain_finetune.py --seeds 0 1 2
    python benchmarks/pretrain_finetune.py --datasets molbbbp --seeds 0 --name smoke \\
        model.core.dim=32 model.core.depth=1 model.core.num_heads=4 train.epochs=1 \\
        --pretrain-overrides data.corpus.max_molecules=2000          # a smoke check

Runs go to ``<work>/<name>/`` (``--work``, default ``benchmarks/work``, as in
``finetune_sep_vs_share``: one folder per ``--name``, the built datasets and the featurized
corpus shared in ``<work>/data`` and ``<work>/pretrain_cache``). First the corpus is featurized
once, then ``configs/pretrain_zinc.yaml`` pretrains one encoder per norm (the norm is part of the
architecture), side by side, into ``<name>/pretrain/<norm>/``. Each dataset is then finetuned
from scratch with ``finetune_sep_vs_share.run_pair`` (into ``<name>/<dataset>/<norm>-s<seed>/``)
and from the pretrained encoder of its norm (into ``<name>/pretrained/<dataset>/<norm>-s<seed>/``),
share and sep side by side, one CPU thread each.
Every run whose ``results.json`` exists is skipped, so a killed benchmark resumes; finished runs
and the two pretrained encoders are kept in ``benchmarks/results/runs/<name>/``
(``common.RunArchive``, in git), so that the benchmark, several sessions of CPU time here,
continues in a later session's checkout. Positional
``key=value`` overrides go to every run, pretraining included (the architecture must match);
``--pretrain-overrides`` only to pretraining. The table (test metric mean ± std over seeds, the
mean over datasets, Hu et al.'s GIN anchors, the pretraining budget) goes to
``benchmarks/results/<name>.{json,md}`` (``--name``, default ``pretrain_finetune``) with
machine, date and commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import (
    REPO,
    RESULTS,
    SHARED_DATA,
    RunArchive,
    absolute_path,
    launch_side_by_side,
    provenance,
)
from finetune_sep_vs_share import NORMS, finished, prepare, run_pair, summarize

from graphsep.config import load_config
from graphsep.molecules.corpus import load_corpus

VARIANTS = ("scratch", "pretrained")
DATASETS = ("molbbbp", "molbace", "molclintox", "molsider", "moltox21", "molhiv")
CORPUS = SHARED_DATA / "pretrain" / "moses_zinc_train.csv.gz"
PRETRAIN_CONFIG = REPO / "configs" / "pretrain_zinc.yaml"
HU_ET_AL = {
    "ogbg-molbbbp": (65.8, 64.3), "ogbg-molbace": (70.1, 79.3), "ogbg-molclintox": (58.0, 71.8),
    "ogbg-molsider": (57.3, 61.0), "ogbg-moltox21": (74.0, 76.7), "ogbg-molhiv": (75.3, 77.2),
}  # fmt: skip
"""Hu et al. 2020, GIN, scaffold split, test ROC-AUC: no pretraining -> attribute masking."""


def pretrain_args(args: argparse.Namespace) -> list[str]:
    """Overrides of ``configs/pretrain_zinc.yaml`` for this benchmark's pretraining runs."""
    cache = f"data.corpus.cache_dir={args.work / 'pretrain_cache'}"
    return [f"data.corpus.files=[{CORPUS}]", cache, *args.overrides, *args.pretrain_overrides]


def pretrain_both(args: argparse.Namespace, archive: RunArchive) -> dict[str, dict]:
    """Featurize the corpus once, then pretrain share and sep side by side; their results."""
    overrides = pretrain_args(args)
    out = {norm: pretrain_dir(args.runs, norm) for norm in NORMS}
    todo = [n for n in NORMS if not (out[n] / "results.json").exists()]
    if todo:
        load_corpus(load_config(PRETRAIN_CONFIG, overrides).data.corpus)  # before two runs race to
    launch_side_by_side(
        [
            (["--config", str(PRETRAIN_CONFIG), *overrides, f"model.core.norm={n}"], out[n])
            for n in todo
        ]
    )
    for norm in todo:
        archive.keep(out[norm], weights=True)  # later sessions finetune from these weights
    return pretrained_so_far(args.runs)


def pretrain_dir(runs_dir: Path, norm: str) -> Path:
    """The folder of the pretraining run of ``norm`` in a benchmark's ``runs_dir``."""
    return runs_dir / "pretrain" / norm


def pretrained_so_far(runs_dir: Path) -> dict[str, dict]:
    """The results of the pretraining runs in ``runs_dir`` that have finished, by norm."""
    paths = {norm: pretrain_dir(runs_dir, norm) / "results.json" for norm in NORMS}
    return {norm: json.loads(path.read_text()) for norm, path in paths.items() if path.exists()}


def complete_datasets(runs: dict[str, list[dict]], seeds: list[int]) -> list[str]:
    """Datasets whose runs have finished for every variant, norm and seed."""
    done: dict[str, set] = {}
    for variant, results in runs.items():
        for r in results:
            done.setdefault(r["dataset"], set()).add((variant, r["norm"], r["seed"]))
    wanted = len(runs) * len(NORMS) * len(seeds)
    return [dataset for dataset, keys in done.items() if len(keys) == wanted]


def mean_over_datasets(runs: list[dict], datasets: list[str]) -> dict[str, tuple[float, float]]:
    """Per norm: the mean over ``datasets`` of each seed's test metric, then mean ± std."""
    out = {}
    for norm in NORMS:
        by_seed: dict[int, list[float]] = {}
        for r in runs:
            if r["norm"] == norm and r["dataset"] in datasets:
                by_seed.setdefault(r["seed"], []).append(r["test"])
        means = [statistics.fmean(v) for v in by_seed.values()]
        if means:
            out[norm] = (statistics.fmean(means), stdev(means))
    return out


def stdev(values: list[float]) -> float:
    """Sample standard deviation, 0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _cell(entry: dict | None, seeds: int) -> str:
    if entry is None:
        return "-"
    n = len(entry["test"])
    partial = f" (n={n})" if n < seeds else ""
    return f"{100 * entry['test_mean']:.2f} ± {100 * entry['test_std']:.2f}{partial}"


def _pretraining_line(budget: dict, args: argparse.Namespace) -> str:
    if set(budget) != set(NORMS):
        return "Pretraining: not finished yet."
    parts = []
    for norm in NORMS:
        r = budget[norm]
        acc, base = r["accuracy"], r["majority"]
        parts.append(
            f"{norm}: {r['epochs_run']} epoch(s), {r['steps']:,} steps, {r['hours']:.2f} h, "
            f"held-out atom type acc {acc['atom_type']:.3f} (majority {base['atom_type']:.3f}), "
            f"bond type {acc['bond_type']:.3f} ({base['bond_type']:.3f})"
        )
    return (
        f"Pretraining (configs/pretrain_zinc.yaml, {' '.join(args.pretrain_overrides) or 'as is'})"
        f" on {budget['sep']['molecules']:,} molecules; " + "; ".join(parts) + "."
    )


def markdown(
    tables: dict, means: dict, complete: list[str], budget: dict, stamp: dict,
    args: argparse.Namespace,
) -> str:  # fmt: skip
    """The results table: every dataset, the mean over complete ones, the anchors."""
    variants = [(v, n) for v in VARIANTS for n in NORMS]
    seeds = len(args.seeds)
    lines = [
        f"Test metric x100, mean ± std over seeds {args.seeds} (n = seeds finished where fewer); "
        f"OGB scaffold splits; overrides: {' '.join(args.overrides) or 'none'}.",
        _pretraining_line(budget, args),
        f"Machine: {stamp['machine']}, {stamp['cpu_cores']} cores, GPU {stamp['gpu']}; "
        f"{stamp['date']}; commit {stamp['commit']}.",
        "",
        "| dataset | " + " | ".join(f"{v} {n}" for v, n in variants)
        + " | GIN (Hu et al.) scratch → masking |",
        "|---" * (len(variants) + 2) + "|",
    ]  # fmt: skip
    for dataset in tables["scratch"]:
        cells = [_cell(tables[v].get(dataset, {}).get(n), seeds) for v, n in variants]
        anchor = "{} → {}".format(*HU_ET_AL[dataset]) if dataset in HU_ET_AL else "-"
        lines.append(f"| {dataset} | " + " | ".join(cells) + f" | {anchor} |")
    if complete:
        mean_cells = [
            f"{100 * m[0]:.2f} ± {100 * m[1]:.2f}" if (m := means[v].get(n)) else "-"
            for v, n in variants
        ]
        names = ", ".join(d.removeprefix("ogbg-") for d in complete)
        lines.append(f"| mean over {names} | " + " | ".join(mean_cells) + " | |")
    return "\n".join(lines) + "\n"


def collect(args: argparse.Namespace, archive: RunArchive) -> dict[str, list[dict]]:
    """Run the runs of ``--variants`` (none with ``--summarize``); every finished run's result."""
    runs: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    runs_dir = {"scratch": args.runs, "pretrained": args.runs / "pretrained"}
    init_from = {  # the pretrained variant starts each norm from its own encoder
        "scratch": None,
        "pretrained": {
            n: [f"model.init_from={pretrain_dir(args.runs, n) / 'best'}"] for n in NORMS
        },
    }
    for dataset in args.datasets:
        if not args.summarize:
            prepare(dataset, args.work)
        for seed in args.seeds:
            for variant in VARIANTS:
                if args.summarize or variant not in args.variants:
                    runs[variant] += finished(dataset, seed, runs_dir[variant])
                else:
                    runs[variant] += run_pair(
                        dataset, seed, args.work, args.overrides, runs_dir[variant],
                        per_norm=init_from[variant], archive=archive,
                    )  # fmt: skip
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--work", type=absolute_path, default=REPO / "benchmarks" / "work")
    parser.add_argument("--pretrain-overrides", nargs="+", default=[])
    parser.add_argument(
        "--name", default="pretrain_finetune", help="results file stem and archive folder"
    )
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
        help="run only these (scratch runs need no pretrained encoder); the table reads all",
    )  # fmt: skip
    parser.add_argument(
        "--summarize", action="store_true", help="only summarize the runs that have finished"
    )
    parser.add_argument("overrides", nargs="*", help="key=value passed to every run")
    args = parser.parse_args()
    # one folder per name: benchmarks with other overrides never pick up each other's runs
    args.runs = args.work / args.name
    arguments = [*args.overrides, "--pretrain-overrides", *args.pretrain_overrides]
    archive = RunArchive(args.name, args.runs, arguments)
    print(f"{archive.restore()} finished run(s) restored from {archive.root}", flush=True)
    if args.summarize or "pretrained" not in args.variants:
        budget = pretrained_so_far(args.runs)
    else:
        budget = pretrain_both(args, archive)
    runs = collect(args, archive)
    complete = complete_datasets(runs, args.seeds)
    tables = {variant: summarize(r) for variant, r in runs.items()}
    means = {variant: mean_over_datasets(r, complete) for variant, r in runs.items()}
    stamp = provenance()
    text = markdown(tables, means, complete, budget, stamp, args)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.md").write_text(text)
    payload = {
        "provenance": stamp, "overrides": args.overrides,
        "pretrain_overrides": args.pretrain_overrides, "pretraining": budget,
        "results": tables, "means": means, "complete_datasets": complete, "runs": runs,
    }  # fmt: skip
    (RESULTS / f"{args.name}.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
