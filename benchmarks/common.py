"""Shared by the benchmark scripts: data paths, provenance, side-by-side runs, the run archive."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import pandas as pd

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
        # results are outputs, not code: a rerun over old results is not dirty
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"],
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

    Each job is ``(arguments, out_dir)``; the run writes into ``out_dir`` and resumes from its
    ``last/`` checkpoint if one is there.
    """
    run_side_by_side([
        ([sys.executable, str(REPO / "train.py"), *args, f"out_dir={out_dir}",
          "progress=false", "resume=auto"], out_dir)
        for args, out_dir in jobs
    ])  # fmt: skip


def run_side_by_side(jobs: list[tuple[list[str], Path]]) -> None:
    """Run each command at once from the repo, one CPU thread each, and wait for all.

    Each job is ``(command, out_dir)``; its output goes to ``<out_dir>/train.log``. Two
    threads per run would oversubscribe this machine's 2 cores and slow both several times.

    Raises:
        SystemExit: a command failed (once all have ended); the message names the logs.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running = []
    for cmd, out_dir in jobs:
        print(" ".join(cmd), flush=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        log = open(out_dir / "train.log", "a")  # noqa: SIM115 - closed after wait
        running.append((subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log), log))
    failed = []
    for job, log in running:
        if job.wait() != 0:
            failed.append(log.name)
        log.close()
    if failed:
        raise SystemExit(f"run failed, see {', '.join(failed)}")


def peer_arguments(description: str, epochs: int) -> argparse.ArgumentParser:
    """The command line every peer script takes: dataset, its root, seed, epochs, out folder.

    Args:
        description (str): the script's own one-line summary.
        epochs (int): the peer's own default number of epochs.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", required=True, help="OGB name, e.g. ogbg-molhiv")
    parser.add_argument("--root", type=Path, required=True, help="folder of the built dataset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def write_peer_results(out: Path, results: dict) -> None:
    """Write a finished peer run's ``results.json`` (its presence marks the run done); print it."""
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results))


class RunArchive:
    """Finished runs of a benchmark kept in git, so that a later session's checkout skips them.

    ``benchmarks/work`` is scratch space that does not outlive a session, while a benchmark
    may need several sessions of this machine. Each finished run's ``results.json`` and
    ``metrics.jsonl`` (and the ``best/`` checkpoint of a run others start from, such as a
    pretrained encoder) are copied to ``benchmarks/results/runs/<name>/`` under the same path
    as in the work folder, and copied back at the next start. The benchmark's arguments are
    kept beside them: an archive made with other arguments is refused, not mixed in.

    Args:
        name (str): the benchmark's results name.
        work (Path): the work folder the runs write to.
        arguments (list[str]): what makes a run of this benchmark comparable (its overrides).
        results (Path, optional): the results folder holding ``runs/``. (default: RESULTS)
    """

    FILES = ("results.json", "metrics.jsonl")

    def __init__(self, name: str, work: Path, arguments: list[str], results: Path = RESULTS):
        self.root = results / "runs" / name
        self.work = work
        self.arguments = arguments

    def restore(self) -> int:
        """Copy every archived file into the work folder; return how many runs came back."""
        stamp = self.root / "arguments.json"
        if not stamp.exists():
            return 0
        kept = json.loads(stamp.read_text())
        if kept != self.arguments:
            raise SystemExit(
                f"{self.root} holds runs made with {kept}, not {self.arguments}: "
                "pass another --name or the same arguments"
            )
        for source in self.root.rglob("*"):
            target = self.work / source.relative_to(self.root)
            if source.is_file() and source != stamp and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        return sum(1 for _ in self.root.rglob("results.json"))

    def keep(self, out_dir: Path, files: tuple[str, ...] = FILES, weights: bool = False) -> None:
        """Archive ``files`` of the finished run in ``out_dir`` (and ``best/`` if ``weights``)."""
        best = sorted((out_dir / "best").iterdir()) if weights else []
        names = files + tuple(str(path.relative_to(out_dir)) for path in best)
        target = self.root / out_dir.relative_to(self.work)
        for name in names:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out_dir / name, target / name)
        (self.root / "arguments.json").write_text(json.dumps(self.arguments, indent=1) + "\n")


def write_marked_block(page: Path, name: str, script: str, block: str) -> bool:
    """Replace the text between ``name``'s markers in ``page`` (e.g. ``docs/results.md``).

    The markers are ``<!-- begin NAME: written by benchmarks/SCRIPT -->`` and
    ``<!-- end NAME -->``; a page without them is left as it is.

    Returns:
        bool: whether the page has the markers.
    """
    begin, end = f"<!-- begin {name}: written by benchmarks/{script} -->", f"<!-- end {name} -->"
    content = page.read_text() if page.exists() else ""
    if begin not in content or end not in content:
        return False
    head, rest = content.split(begin, 1)
    page.write_text(f"{head}{begin}\n{block}\n{end}{rest.split(end, 1)[1]}")
    return True


def publish_summary(name: str, frame: pd.DataFrame, text: str, results: Path, docs: Path) -> None:
    """Write a benchmark's table (``NAME.csv``), its summary (``NAME.md``) and the summary into
    ``docs/results.md`` between the ``NAME`` markers; print the summary."""
    frame.to_csv(results / f"{name}.csv", index=False)
    (results / f"{name}.md").write_text(text)
    write_marked_block(docs / "results.md", name, f"{name}.py", text)
    print(text)
