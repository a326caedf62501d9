"""Shared by the benchmark scripts: where the data is, and a provenance stamp for results."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MOLECULENET = SHARED_DATA / "moleculenet"
RESULTS = REPO / "benchmarks" / "results"


def absolute_path(text: str) -> Path:
    """A ``--work`` argument made absolute: runs start in the repo, not in the caller's folder."""
    return Path(text).resolve()


def provenance() -> dict[str, str | int]:
    """Machine, date and commit to print and store beside every number."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + ("+dirty" if dirty else ""),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_cores": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


def stamp_line(stamp: dict[str, str | int]) -> str:
    """One line naming the machine, date and commit of a result."""
    return (
        f"Machine: {stamp['machine']}, {stamp['cpu_cores']} cores, GPU {stamp['gpu']}, "
        f"torch {stamp['torch']}; {stamp['date']}; commit {stamp['commit']}."
    )


def launch_side_by_side(jobs: list[tuple[list[str], Path]]) -> None:
    """Run ``train.py`` with each argument list at once, one CPU thread each, and wait.

    Each job is ``(arguments, out_dir)``; its output goes to ``<out_dir>/train.log``. Two
    threads per run would oversubscribe this machine's 2 cores and slow both several times.

    Raises:
        SystemExit: a run failed; the message names its log.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running = []
    for args, out_dir in jobs:
        cmd = [sys.executable, str(REPO / "train.py"), *args, f"out_dir={out_dir}"]
        cmd += ["progress=false", "resume=auto"]
        print(" ".join(cmd), flush=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        log = open(out_dir / "train.log", "a")  # noqa: SIM115 - closed after wait
        running.append((subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log), log))
    for job, log in running:
        if job.wait() != 0:
            raise SystemExit(f"run failed, see {log.name}")
        log.close()
