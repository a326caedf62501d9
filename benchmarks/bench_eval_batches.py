"""Evaluation batches with and without the padded-pair budget: time, peak memory, same scores.

    python benchmarks/bench_eval_batches.py --dataset molsider --work /tmp/eval

Size-sorted evaluation batches of ``train.eval_batch_size`` graphs pad to their largest graph, so
a split of large molecules (molsider: 484 and 492 atoms) becomes one huge batch.
``SizeBucketBatchSampler(max_padded_pairs=...)`` lets large molecules come fewer at a time. Each
variant scores the valid and test splits with the same seeded, untrained ``model.dim=64``
predictor, in its own process (so that peak memory is its own), on one thread. The summary goes
to ``benchmarks/results/eval_batches.{json,md}`` with machine, date and commit.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import MOLECULENET, REPO, RESULTS, absolute_path, provenance, stamp_line
from finetune_sep_vs_share import TABLES

import graphsep.tasks.property.data as training_data
from graphsep.config import load_config
from graphsep.tasks.property.model import build_predictor
from graphsep.tasks.property.run import predict

UNBOUNDED_TOKENS = 10**6
"""A budget no batch reaches: the batches before the budget existed."""


def score_once(dataset: str, work: Path, budget: bool) -> dict:
    """Score valid and test in this process; return seconds, peak memory and the scores."""
    torch.set_num_threads(1)
    if not budget:
        training_data.EVAL_PADDED_TOKENS = UNBOUNDED_TOKENS
    overrides = [
        f"data.source={MOLECULENET / TABLES[dataset]}", f"data.root={work / 'data'}",
        "model.core.dim=64", "progress=false",
    ]  # fmt: skip
    cfg = load_config(REPO / "configs" / f"{dataset}.yaml", overrides)
    data = training_data.load_property_data(cfg)
    torch.manual_seed(0)
    model = build_predictor(cfg, data.task.num_tasks)
    start = time.perf_counter()
    scores = {
        split: data.task.score(*predict(model, loader, data.task, torch.device("cpu")))
        for split, loader in (("valid", data.valid), ("test", data.test))
    }
    return {
        "budget": budget, "seconds": time.perf_counter() - start,
        "batches": len(data.valid) + len(data.test),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "scores": scores,
    }  # fmt: skip


def markdown(dataset: str, rows: list[dict], stamp: dict) -> str:
    """The side-by-side table."""
    lines = [
        f"Evaluation of ogbg-{dataset} valid + test, untrained model.core.dim=64, one thread; "
        "peak RSS of the whole process (data included).",
        stamp_line(stamp),
        "",
        "| eval batches | batches | seconds | peak RSS, MiB | valid | test |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = "padded-pair budget" if r["budget"] else "fixed count (no budget)"
        s = r["scores"]
        lines.append(
            f"| {name} | {r['batches']} | {r['seconds']:.1f} | {r['peak_rss_mib']:,.0f} | "
            f"{s['valid']:.6f} | {s['test']:.6f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="molsider", choices=sorted(TABLES))
    parser.add_argument("--work", type=absolute_path, default=REPO / "benchmarks" / "work")
    parser.add_argument("--one", choices=["budget", "none"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child: one variant, its result as JSON on stdout
        print(json.dumps(score_once(args.dataset, args.work, args.one == "budget")))
        return
    rows = []
    for variant in ("none", "budget"):
        cmd = [sys.executable, __file__, "--dataset", args.dataset, "--work", str(args.work)]
        done = subprocess.run([*cmd, "--one", variant], capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    stamp = provenance()
    text = markdown(args.dataset, rows, stamp)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "eval_batches.md").write_text(text)
    payload = {"provenance": stamp, "dataset": args.dataset, "rows": rows}
    (RESULTS / "eval_batches.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
