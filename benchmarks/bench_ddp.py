"""Training throughput with 1 process and with ``torchrun`` on N processes, same config.

    python benchmarks/bench_ddp.py --settings 1x2 1x1 2x1     # processes x threads each

Runs ``train.py`` on molbbbp (built from ../shared/data) for a few epochs; throughput is training
graphs per second over the epochs after the first, from each epoch's ``train_seconds`` (the
training part, without rank 0's evaluation of valid and test). Each setting is processes x
torch threads per process: on 2 cores, ``1x2`` is the plain run, ``1x1`` one core's baseline and
``2x1`` DDP over both cores. Writes ``benchmarks/results/ddp.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import MOLECULENET, REPO, RESULTS, provenance, stamp_line

TRAIN_GRAPHS = 1631  # molbbbp's scaffold-split training set


def run(setting: str, work: Path, overrides: list[str]) -> dict:
    """Train with ``setting`` = ``PROCSxTHREADS``; return its throughput."""
    procs, threads = (int(n) for n in setting.split("x"))
    out_dir = work / setting
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    launcher = [sys.executable] if procs == 1 else [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}"
    ]  # fmt: skip
    cmd = [
        *launcher, str(REPO / "train.py"), "--config", str(REPO / "configs" / "molbbbp.yaml"),
        f"data.source={MOLECULENET / 'bbbp.csv'}", f"data.root={work / 'data'}",
        f"out_dir={out_dir}", "progress=false", *overrides,
    ]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=REPO, env=env, capture_output=True)
    rows = [json.loads(r) for r in (out_dir / "metrics.jsonl").read_text().splitlines()]
    timed = rows[1:] or rows
    seconds = sum(r["train_seconds"] for r in timed)
    return {
        "processes": procs,
        "threads_per_process": threads,
        "epochs_timed": len(timed),
        "seconds_per_epoch": seconds / len(timed),
        "graphs_per_s": TRAIN_GRAPHS * len(timed) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=["1x2", "1x1", "2x1"])
    parser.add_argument("overrides", nargs="*", default=["train.epochs=6", "model.core.dim=64"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = [run(setting, work, args.overrides) for setting in args.settings]
    base = results[0]["graphs_per_s"]
    stamp = provenance()
    lines = [
        f"molbbbp training throughput ({' '.join(args.overrides)}).",
        stamp_line(stamp),
        "",
        f"| processes | threads each | s / epoch | graphs / s | vs {args.settings[0]} |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['processes']} | {r['threads_per_process']} | {r['seconds_per_epoch']:.1f} | "
            f"{r['graphs_per_s']:.0f} | {r['graphs_per_s'] / base:.2f}x |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ddp.md").write_text(text)
    (RESULTS / "ddp.json").write_text(json.dumps({"provenance": stamp, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
