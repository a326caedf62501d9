"""SepNorm vs ShareNorm across domains: seeds side by side, peers, one tidy table, one summary.

    python benchmarks/sepnorm.py --budget quick                 # every dataset, seeds 0 1 2
    python benchmarks/sepnorm.py --only imdb --budget quick --seeds 0
    python benchmarks/sepnorm.py --only molbbbp molbace --seeds 0 1 2
    python benchmarks/sepnorm.py --budget quick --summarize     # only rewrite table and summary

Per dataset, seed and stage, the share and sep runs go side by side (one CPU thread each).
Images and text: ``pretrain`` (MAE for images, MLM for text), then from that norm's own
pretrained encoder ``finetune`` (the whole encoder trained) and the linear probes ``probe_bn``
and ``probe_none`` (a frozen encoder; a ``BatchNorm1d(affine=False)`` before the linear head as
in MAE's probe, or no norm: MAE's probe norm overlaps with SepNorm's [CLS] BatchNorm, so both
are reported), and ``scratch`` (the finetuning recipe without pretraining). Molecules (six OGB
sets, scaffold splits): ``scratch`` and ``finetune`` from one masked atom/bond pretraining per
norm on the ZINC (MOSES) corpus (``zinc/pretrain/<norm>-s0``), and the peers on the same split,
seed and epochs (:data:`PEERS`: OGB's GIN-virtual and chemprop's D-MPNN, two at a time).
``--budget quick`` takes the ``configs/*_quick.yaml`` recipes for images and text and the
dataset configs at width 64 (pretraining: 250,000 molecules, 1 epoch) for molecules, minutes to
half an hour per run on 2 CPU cores; ``full`` the full recipes.

Runs are ``train.py`` subprocesses under
``<work>/sepnorm/<budget>/<dataset>/<stage>/<norm>-s<seed>``, peers under
``<dataset>/peers/<peer>-s<seed>``. A run whose ``results.json`` exists is skipped and an
interrupted one resumes from ``last/``; finished runs (with the pretrained checkpoints) are
archived in ``benchmarks/results/runs/sepnorm_<budget>/``, so the benchmark continues across
sessions. Every finished run is one row of ``benchmarks/results/sepnorm.csv``; the summary
(mean ± std per cell, the paired sep - share difference, seeds won by each norm, the relative
gain per domain and overall beside the paper's +2.7%, the peers beside graphsep) goes to
``benchmarks/results/sepnorm_<budget>.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from common import (
    REPO,
    RESULTS,
    SHARED_DATA,
    RunArchive,
    absolute_path,
    launch_side_by_side,
    provenance,
    run_side_by_side,
    write_marked_block,
)
from finetune_sep_vs_share import MOLECULENET, TABLES, prepare

from graphsep.analysis.plots import plt, save_figure
from graphsep.analysis.report import analyze
from graphsep.config import load_config
from graphsep.molecules.corpus import load_corpus
from graphsep.molecules.ogb_layout import dataset_folder

NORMS = ("share", "sep")
STAGES = ("pretrain", "finetune", "probe_bn", "probe_none", "scratch")
GRAPH_STAGES = ("scratch", "finetune")
PROBE_NORMS = {"probe_bn": "batchnorm", "probe_none": "none"}
ANALYZED = ("pretrain", "finetune", "scratch")
"""Stages whose [CLS] is analysed: a probe's frozen encoder is its pretraining run's."""
GEOMETRY = ("uniformity", "effective_rank", "anisotropy")
RUN_FILES = (*RunArchive.FILES, "provenance.json")
ANALYSIS_FILES = ("analysis.json", "spectrum.png")
BUDGETS = ("quick", "full")
COLUMNS = [
    "domain", "dataset", "variant", "budget", "model", "norm", "seed", "metric", "valid",
    "test", "epochs", "best_epoch", "params", "trainable_params", "seconds", *GEOMETRY,
    "commit", "date", "machine",
]  # fmt: skip
PAPER_GAIN = 2.7
"""The paper's average relative gain of SepNorm over ShareNorm, in percent."""
GRAPH_WIDTH = {"quick": ["model.core.dim=64"], "full": []}
"""Overrides of every molecule run (pretraining too: the architecture must match)."""
ZINC_BUDGET = {"quick": ["data.corpus.max_molecules=250000", "train.epochs=1"], "full": []}
CORPUS = SHARED_DATA / "pretrain" / "moses_zinc_train.csv.gz"


@dataclass(frozen=True)
class Dataset:
    """One dataset of the harness: its domain, display name and stages.

    ``pretrain`` names the image or text pretraining recipe (``configs/<key>_<pretrain>.yaml``).
    """

    domain: str
    name: str
    stages: tuple[str, ...]
    pretrain: str = ""


@dataclass(frozen=True)
class Peer:
    """A peer model run on graphsep's molecule splits by its own script in ``benchmarks/``.

    ``full_epochs`` is its own default recipe's; at the quick budget it trains as many epochs
    as graphsep's dataset config. ``files`` are what its run leaves to archive.
    """

    script: str
    full_epochs: int
    files: tuple[str, ...]


DATASETS = {
    "fmnist": Dataset("image", "fashion-mnist", STAGES, "mae"),
    "imdb": Dataset("text", "imdb", STAGES, "mlm"),
    **{key: Dataset("graph", f"ogbg-{key}", GRAPH_STAGES)
       for key in ("molbbbp", "molbace", "molclintox", "molsider", "moltox21", "molhiv")},
}  # fmt: skip
ZINC = "zinc"
"""The molecule pretraining (one per norm, seed 0) that every molecule ``finetune`` starts from."""
PRETRAINING = {ZINC: Dataset("graph", "zinc-moses", ("pretrain",))}
ZINC_ANALYSIS_SET = "molbbbp"
"""Whose test split the ZINC encoders' [CLS] is measured on (small: built in seconds)."""
EVERY_DATASET = {**DATASETS, **PRETRAINING}
PEERS = {
    "gin-virtual": Peer("gin_virtual.py", 100, ("results.json", "metrics.jsonl")),
    "chemprop": Peer("chemprop_run.py", 50, ("results.json",)),
}


def config_path(key: str, recipe: str, budget: str) -> str:
    """Return ``configs/<key>_<recipe>[_quick].yaml``."""
    suffix = "_quick" if budget == "quick" else ""
    return str(REPO / "configs" / f"{key}_{recipe}{suffix}.yaml")


@dataclass(frozen=True)
class Plan:
    """What one invocation runs: the work folder, the budget, the archive of finished runs,
    overrides for every graphsep run (a smoke run's smaller model) and the peers to train."""

    work: Path
    budget: str
    archive: RunArchive
    overrides: tuple[str, ...] = ()
    peers: tuple[str, ...] = tuple(PEERS)

    @property
    def root(self) -> Path:
        """Where the runs go: ``<work>/sepnorm/<budget>``."""
        return self.archive.work


def stage_args(key: str, stage: str, plan: Plan, pretrained: Path) -> list[str]:
    """The config and overrides of one stage (``pretrained``: the run it starts from)."""
    budget = plan.budget
    if EVERY_DATASET[key].domain == "graph":
        return graph_stage_args(key, stage, plan, pretrained)
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


def graph_stage_args(key: str, stage: str, plan: Plan, pretrained: Path) -> list[str]:
    """A molecule stage: the ZINC pretraining, or a dataset config from scratch or pretrained."""
    work, budget = plan.work, plan.budget
    if stage == "pretrain":
        return ["--config", str(REPO / "configs" / "pretrain_zinc.yaml"),
                f"data.corpus.files=[{CORPUS}]", f"data.corpus.cache_dir={work / 'pretrain_cache'}",
                *GRAPH_WIDTH[budget], *ZINC_BUDGET[budget]]  # fmt: skip
    args = ["--config", str(REPO / "configs" / f"{key}.yaml"),
            f"data.source={MOLECULENET / TABLES[key]}", f"data.root={work / 'data'}",
            *GRAPH_WIDTH[budget]]  # fmt: skip
    return args if stage == "scratch" else [*args, f"model.init_from={pretrained / 'best'}"]


def pretrained_run(root: Path, key: str, norm: str, seed: int) -> Path:
    """The pretraining run a stage starts from: the seed's own, or the one ZINC run of a norm."""
    if EVERY_DATASET[key].domain == "graph":
        return root / ZINC / "pretrain" / f"{norm}-s0"
    return root / key / "pretrain" / f"{norm}-s{seed}"


def run_stage(key: str, stage: str, seed: int, plan: Plan) -> None:
    """Run one stage's share and sep runs side by side (those not finished), archive them."""
    root = plan.root
    jobs = []
    for norm in NORMS:
        out_dir = root / key / stage / f"{norm}-s{seed}"
        if (out_dir / "results.json").exists():
            continue
        pretrained = pretrained_run(root, key, norm, seed)
        overrides = [f"model.core.norm={norm}", f"seed={seed}", *plan.overrides]
        jobs.append(([*stage_args(key, stage, plan, pretrained), *overrides], out_dir))
    if key == ZINC and jobs:  # featurize the corpus once, before two runs would race to
        _, config, *overrides = jobs[0][0]  # --config PATH key=value ...
        load_corpus(load_config(config, overrides).data.corpus)
    try:
        launch_side_by_side(jobs)
    finally:
        finish([out_dir for _, out_dir in jobs], plan.archive, RUN_FILES, stage == "pretrain")
    analyze_pair(key, stage, seed, plan)


def finish(out_dirs: list[Path], archive: RunArchive, files: tuple[str, ...],
           weights: bool = False) -> None:  # fmt: skip
    """Stamp each finished, unstamped run with machine, date and commit, and archive it.

    Called whether or not a side-by-side launch failed, so a run that finished beside a
    failed one is kept.
    """
    stamp = json.dumps(provenance(), indent=1) + "\n"
    for out_dir in out_dirs:
        if (out_dir / "results.json").exists() and not (out_dir / "provenance.json").exists():
            (out_dir / "provenance.json").write_text(stamp)
            archive.keep(out_dir, (*files, "provenance.json"), weights=weights)


def run_peers(key: str, seed: int, plan: Plan) -> None:
    """Train the peers not yet finished on the dataset's split with this seed, side by side."""
    work = plan.work
    config = load_config(REPO / "configs" / f"{key}.yaml", list(plan.overrides))
    epochs = config.train.epochs
    jobs, out_dirs = [], {n: plan.root / key / "peers" / f"{n}-s{seed}" for n in plan.peers}
    for name, out_dir in out_dirs.items():
        peer = PEERS[name]
        if (out_dir / "results.json").exists():
            continue
        command = [sys.executable, str(REPO / "benchmarks" / peer.script),
                   "--dataset", DATASETS[key].name, "--root", str(work / "data"),
                   "--seed", str(seed), "--out", str(out_dir),
                   "--epochs", str(epochs if plan.budget == "quick" else peer.full_epochs),
                   ]  # fmt: skip
        if name == "chemprop":
            command += ["--venv", str(work / "peers-venv")]
        jobs.append((command, out_dir))
    try:
        run_side_by_side(jobs)
    finally:
        for name, out_dir in out_dirs.items():
            finish([out_dir], plan.archive, PEERS[name].files)


def run_seed(key: str, seed: int, plan: Plan) -> None:
    """Run every stage of one dataset and seed, share and sep side by side, skipping done ones.

    A molecule set first needs the ZINC pretraining of both norms (run once), and ends with
    its peers.
    """
    graph = DATASETS[key].domain == "graph"
    if graph:
        prepare(key, plan.work)
    for stage in DATASETS[key].stages:
        if graph and stage == "finetune":
            run_stage(ZINC, "pretrain", 0, plan)
        run_stage(key, stage, seed, plan)
    if graph:
        run_peers(key, seed, plan)


def analysis_dir(root: Path, key: str, stage: str, seed: int) -> Path:
    """Where the [CLS] analysis of one stage's share and sep runs of a seed goes."""
    return root / key / "analysis" / f"{stage}-s{seed}"


def analyze_pair(key: str, stage: str, seed: int, plan: Plan) -> None:
    """Run ``graphsep analyze`` on the stage's share and sep checkpoints, unless done.

    Skipped where a run's checkpoint is not here (a run restored from the archive keeps only
    its scores) and for the probes, whose frozen encoder is the pretraining stage's. The ZINC
    encoders, pretrained without labels, are measured on the test split of
    :data:`ZINC_ANALYSIS_SET`.
    """
    root = plan.root
    out = analysis_dir(root, key, stage, seed)
    runs = [root / key / stage / f"{norm}-s{seed}" for norm in NORMS]
    done = (out / "analysis.json").exists()
    finished = all((r / "results.json").exists() and (r / "best").is_dir() for r in runs)
    if done or stage not in ANALYZED or not finished:
        return
    data = None
    if key == ZINC:
        prepare(ZINC_ANALYSIS_SET, plan.work)
        data = dataset_folder(DATASETS[ZINC_ANALYSIS_SET].name, plan.work / "data")
    print(f"analyzing {key} {stage} seed {seed}", flush=True)
    analyze([r / "best" for r in runs], out, data=data)
    plan.archive.keep(out, ANALYSIS_FILES)


def cls_geometry(root: Path, key: str, stage: str, norm: str, seed: int) -> dict[str, float]:
    """The [CLS] measures of one run, from its pair's analysis (NaN where there is none)."""
    path = analysis_dir(root, key, stage, seed) / "analysis.json"
    entries = json.loads(path.read_text())["checkpoints"] if path.exists() else []
    entry = next((e for e in entries if e["norm"] == norm), {})
    return {name: entry.get(name, float("nan")) for name in GEOMETRY}


def finished_runs(folder: Path) -> list[Path]:
    """The ``results.json`` of the runs in ``folder`` that are stamped, hence finished whole.

    A run finished beside one still going is stamped when both are done: until then another
    process (``--summarize``) leaves it out.
    """
    paths = sorted(folder.glob("*-s*/results.json"))
    return [path for path in paths if (path.parent / "provenance.json").exists()]


def rows(root: Path, budget: str) -> list[dict]:
    """One row per finished run under ``root``: what it was, its scores, size, time, provenance."""
    table = []
    for key, dataset in EVERY_DATASET.items():
        for stage in dataset.stages:
            for path in finished_runs(root / key / stage):
                result = json.loads(path.read_text())
                geometry = cls_geometry(root, key, stage, result["norm"], result["seed"])
                table.append(row(dataset, stage, budget, path, {"model": "graphsep", **geometry}))
        for path in finished_runs(root / key / "peers"):
            peer = {"model": json.loads(path.read_text())["model"], "norm": ""}
            table.append(row(dataset, "scratch", budget, path, peer))
    return table


def row(dataset: Dataset, stage: str, budget: str, path: Path, extra: dict) -> dict:
    """The table row of one finished run's ``results.json`` and ``provenance.json``."""
    result = json.loads(path.read_text())
    stamp = json.loads((path.parent / "provenance.json").read_text())
    nan = float("nan")
    return {
        "domain": dataset.domain, "dataset": dataset.name, "variant": stage, "budget": budget,
        "norm": result.get("norm", ""), "seed": result["seed"], "metric": result["metric"],
        "valid": result["valid"], "test": result.get("test", nan),
        "epochs": result["epochs_run"], "best_epoch": result.get("best_epoch", nan),
        "params": result.get("params", nan),
        "trainable_params": result.get("trainable_params", result.get("params", nan)),
        "seconds": round(result["hours"] * 3600, 1), **dict.fromkeys(GEOMETRY, nan),
        "commit": stamp["commit"], "date": stamp["date"], "machine": machine(stamp), **extra,
    }  # fmt: skip


def machine(stamp: dict) -> str:
    """The machine a run ran on, in words."""
    return (f"{stamp['machine']}, {stamp['cpu_cores']} cores, GPU {stamp['gpu']}, "
            f"torch {stamp['torch']}")  # fmt: skip


def _mean_std(values: list[float], digits: int = 4) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def _scores(values, stage: str) -> str:
    """Mean ± std of a stage's scores: test metrics x100, held-out losses as they are."""
    values = list(values)
    return _mean_std(values) if stage == "pretrain" else _mean_std([100 * v for v in values], 2)


def summary(frame: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """The markdown summary of graphsep's rows of one budget, and the relative gain per domain.

    The score of a supervised stage is its test metric (accuracy, ROC-AUC: higher is better);
    of a pretraining stage the held-out loss (lower is better), shown but left out of the gains.
    """
    lines = [
        "| domain | dataset | stage | metric | ShareNorm | SepNorm | sep - share (paired) "
        "| seeds sep better | relative gain | seconds per run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    gains: dict[str, list[float]] = {}
    ours = frame[frame.model == "graphsep"]
    for (domain, dataset, stage), cell in ours.groupby(["domain", "dataset", "variant"],
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
        cells = [f"{_scores(by_norm[n], stage)} (n={len(by_norm[n])})" for n in NORMS]
        lines.append(
            f"| {domain} | {dataset} | {stage} | {cell.metric.iloc[0]} | {cells[0]} | {cells[1]} "
            f"| {_scores(diffs, stage) if diffs else '-'} | {sum(better)}/{len(seeds)} "
            f"| {relative} | {cell.seconds.mean():.0f} |"
        )
    per_domain = {d: statistics.fmean(g) for d, g in gains.items()}
    return "\n".join(lines) + "\n", per_domain


def peers_summary(frame: pd.DataFrame) -> str:
    """The molecule sets' test metric, graphsep's four cells beside each peer's, mean ± std."""
    graph = frame[(frame.domain == "graph") & (frame.variant != "pretrain")]
    cells = (
        [("graphsep", "scratch", n) for n in NORMS]
        + [("graphsep", "finetune", n) for n in NORMS]
        + [(p, "scratch", "") for p in PEERS]
    )
    lines = [
        "| dataset | metric | " + " | ".join(
            f"{m} {v} {n}" if m == "graphsep" else m for m, v, n in cells) + " |",
        "|---|---|" + "---|" * len(cells),
    ]  # fmt: skip
    for dataset, rows_ in graph.groupby("dataset", sort=False):
        texts = []
        for model, variant, norm in cells:
            chosen = rows_[(rows_.model == model) & (rows_.variant == variant)
                           & (rows_.norm.fillna("") == norm)]  # fmt: skip
            texts.append(f"{_scores(chosen.test, variant)} (n={len(chosen)})" if len(chosen)
                         else "-")  # fmt: skip
        lines.append(f"| {dataset} | {rows_.metric.iloc[0]} | " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"


def geometry_summary(frame: pd.DataFrame) -> str:
    """The markdown table of the [CLS] measures: both norms side by side, mean ± std over seeds.

    Uniformity: lower is more uniform; "seeds sep more uniform" counts the paired seeds.
    """
    lines = [
        "| dataset | stage | uniformity share | uniformity sep | seeds sep more uniform "
        "| effective rank share | effective rank sep | anisotropy share | anisotropy sep |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    analysed = frame[frame.variant.isin(ANALYZED) & (frame.model == "graphsep")]
    analysed = analysed.dropna(subset=["uniformity"])
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


def plot_differences(frame: pd.DataFrame, path: Path) -> None:
    """Draw sep - share (test metric x100) of every supervised cell: seeds as dots, mean as bar."""
    ours = frame[(frame.model == "graphsep") & (frame.variant != "pretrain")]
    labels, diffs = [], []
    for (dataset, stage), cell in ours.groupby(["dataset", "variant"], sort=False):
        by_norm = {n: cell[cell.norm == n].set_index("seed").test for n in NORMS}
        seeds = sorted(set(by_norm["share"].index) & set(by_norm["sep"].index))
        if seeds:
            labels.append(f"{dataset} {stage}")
            diffs.append([100 * (by_norm["sep"][s] - by_norm["share"][s]) for s in seeds])
    figure, axis = plt.subplots(figsize=(6.5, 0.3 * len(labels) + 1.2))
    means = [statistics.fmean(d) for d in diffs]
    axis.barh(range(len(labels)), means, color=["tab:blue" if m > 0 else "tab:red" for m in means],
              alpha=0.4)  # fmt: skip
    for row, values in enumerate(diffs):
        axis.scatter(values, [row] * len(values), s=9, color="black", zorder=3)
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set_yticks(range(len(labels)), labels, fontsize=7)
    axis.invert_yaxis()
    axis.set_xlabel("SepNorm - ShareNorm, test metric x100 (bar: mean, dots: seeds)")
    figure.tight_layout()
    save_figure(figure, path)


def write_docs(text: str, frame: pd.DataFrame, name: str, docs: Path) -> bool:
    """Put the summary between ``name``'s markers in ``docs/results.md``, its plot in ``img/``.

    Returns:
        bool: whether ``results.md`` has the markers (nothing is written without them).
    """
    block = f"{text}\n![sep - share per cell and seed](img/{name}.png)\n"
    if not write_marked_block(docs / "results.md", name, "sepnorm.py", block):
        return False
    (docs / "img").mkdir(exist_ok=True)
    plot_differences(frame, docs / "img" / f"{name}.png")
    return True


def write_outputs(
    table: list[dict], budget: str, results: Path = RESULTS
) -> tuple[str, pd.DataFrame]:
    """Merge ``table`` into ``sepnorm.csv`` (replacing this budget's rows); write the summary.

    Returns:
        tuple[str, pd.DataFrame]: the summary, and this budget's rows.
    """
    csv = results / "sepnorm.csv"
    frame = pd.DataFrame(table, columns=COLUMNS)
    if csv.exists():
        old = pd.read_csv(csv).fillna({"model": "graphsep"})  # rows from before peers
        frame = pd.concat([old[old.budget != budget], frame], ignore_index=True)
    frame[COLUMNS].to_csv(csv, index=False)
    mine = frame[frame.budget == budget]
    if mine.empty:
        return f"no finished runs for budget {budget}\n", mine
    body, per_domain = summary(mine)
    gain_line = "; ".join(f"{d} {g:+.2f}%" for d, g in per_domain.items())
    overall = statistics.fmean(per_domain.values()) if per_domain else float("nan")
    text = (
        f"SepNorm vs ShareNorm, budget `{budget}` (configs/*{'_quick' if budget == 'quick' else ''}"
        ".yaml; molecules: configs/mol*.yaml"
        + (" at width 64" if budget == "quick" else "")
        + "): test metric of the supervised stages (accuracy; ROC-AUC for molecules), held-out "
        "loss of pretraining; mean ± std over seeds.\n"
        f"Machine: {'; '.join(sorted(set(mine.machine)))}; commits "
        f"{', '.join(sorted(set(mine.commit)))}; {mine.date.min()} to {mine.date.max()}.\n\n"
        f"{body}\nScores x100 (held-out losses as they are). Mean relative gain of sep over "
        "share (supervised stages, paired by seed): "
        f"{gain_line or 'none yet'}; over domains {overall:+.2f}% (paper: +{PAPER_GAIN}%).\n\n"
        "[CLS] of the test split (`graphsep analyze`): uniformity (Wang & Isola, t = 2; lower "
        "is more uniform), effective rank, anisotropy (mean pairwise cosine).\n\n"
        f"{geometry_summary(mine)}\n"
        "Molecules beside the peers, on the same scaffold split, seeds and epochs (test metric; "
        "gin-virtual: OGB's GIN with a virtual node, chemprop: chemprop 2's default "
        "D-MPNN).\n\n"
        f"{peers_summary(mine)}"
    )
    (results / f"sepnorm_{budget}.md").write_text(text)
    return text, mine


def main() -> None:
    """Run the missing stages of every chosen dataset and seed, then write table and summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", choices=BUDGETS, default="quick")
    parser.add_argument("--only", nargs="+", choices=sorted(DATASETS), default=list(DATASETS))
    parser.add_argument(
        "--peers",
        nargs="*",
        choices=sorted(PEERS),
        default=list(PEERS),
        help="peers to train on the molecule sets (none: --peers alone)",
    )
    parser.add_argument("--work", type=absolute_path, default=REPO / "benchmarks" / "work")
    parser.add_argument("--results", type=absolute_path, default=RESULTS,
                        help="folder for sepnorm.csv, the summary and runs/ (default: "
                        "benchmarks/results)")  # fmt: skip
    parser.add_argument(
        "--docs",
        type=absolute_path,
        default=REPO / "docs",
        help="folder whose results.md gets the summary between the markers "
        "<!-- begin NAME: ... --> and <!-- end NAME --> (NAME: sepnorm_<budget>)",
    )
    parser.add_argument("--summarize", action="store_true", help="only summarize finished runs")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="key=value for every graphsep run (a smoke run: a smaller model); "
        "runs with overrides are archived apart, in sepnorm_<budget>_custom",
    )
    args = parser.parse_args()
    name = f"sepnorm_{args.budget}" + ("_custom" if args.overrides else "")
    root = args.work / name.replace("sepnorm_", "sepnorm/")
    archive = RunArchive(name, root, [f"budget={args.budget}", *args.overrides], args.results)
    plan = Plan(args.work, args.budget, archive, tuple(args.overrides), tuple(args.peers))
    print(f"{archive.restore()} finished run(s) restored from {archive.root}", flush=True)
    (args.work / "data").mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:  # seed by seed, so that every dataset has as many when stopped
        for key in args.only:
            if not args.summarize:
                run_seed(key, seed, plan)
            for stage in ANALYZED:  # runs finished before their analysis was added
                analyze_pair(key, stage, seed, plan)
    text, frame = write_outputs(rows(root, args.budget), args.budget, args.results)
    print(text)
    if not frame.empty and write_docs(text, frame, name, args.docs):
        print(f"wrote the summary into {args.docs / 'results.md'} and {args.docs / 'img'}")


if __name__ == "__main__":
    main()
