"""Train the same config at two commits and compare the scores: a refactor must not move them.

Run from the repository root::

    python benchmarks/same_scores.py --before b075950               # the quickstart, seed 0
    python benchmarks/same_scores.py --before b075950 --seeds 0 1 2

Each commit is checked out into a temporary git worktree and trained with its own copy of the
config (its own key names), one run after another, with ``PYTHONPATH`` set to that worktree.
CPU runs are deterministic, so a behaviour-preserving change gives the same best epoch and the
same scores. Writes ``benchmarks/results/same_scores.{json,md}`` with machine, date and commit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, RESULTS, provenance, stamp_line


def resolve(commit: str) -> str:
    """The short hash of ``commit`` (a branch, tag or hash), to record what ran."""
    return subprocess.run(
        ["git", "rev-parse", "--short", commit], cwd=REPO, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip


def checkout(commit: str, folder: Path) -> Path:
    """Check ``commit`` out into ``folder`` (a detached worktree) and return it."""
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), commit],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    return folder


def train(tree: Path, config: str, seed: int, work: Path) -> dict:
    """Train ``config`` with the code of ``tree``; return its ``results.json``."""
    out_dir = work / f"{tree.name}-seed{seed}"
    command = [
        sys.executable, "train.py", "--config", config, f"out_dir={out_dir}", f"seed={seed}",
        f"data.root={work / 'data'}", "progress=false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True)
    return json.loads((out_dir / "results.json").read_text())


def main() -> None:
    """Parse the arguments, train at both commits, write and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit before the change")
    parser.add_argument("--after", default="HEAD", help="the commit after (default HEAD)")
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    args.before, args.after = resolve(args.before), resolve(args.after)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trees = {name: checkout(commit, work / name) for name, commit in
                 (("before", args.before), ("after", args.after))}  # fmt: skip
        try:
            for seed in args.seeds:
                scores = {
                    name: train(tree, args.config, seed, work) for name, tree in trees.items()
                }
                rows.append({"seed": seed, **{
                    name: {k: r[k] for k in ("best_epoch", "valid", "test")}
                    for name, r in scores.items()
                }})  # fmt: skip
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO)
    same = all(
        row["before"]["best_epoch"] == row["after"]["best_epoch"]
        and all(round(row["before"][k], 4) == round(row["after"][k], 4) for k in ("valid", "test"))
        for row in rows
    )
    stamp = provenance()
    payload = {**stamp, "config": args.config, "before": args.before, "after": args.after,
               "rows": rows, "same_to_4_decimals": same}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "same_scores.json").write_text(json.dumps(payload, indent=2))
    lines = [
        f"# Same scores before and after: {args.config}", "", stamp_line(stamp), "",
        f"before = {args.before}, after = {args.after}", "",
        "| seed | before: epoch, valid, test | after: epoch, valid, test |", "|---|---|---|",
        *(
            f"| {r['seed']} | " + " | ".join(
                f"{r[n]['best_epoch']}, {r[n]['valid']:.6f}, {r[n]['test']:.6f}"
                for n in ("before", "after")
            ) + " |"
            for r in rows
        ),
        "", f"Same best epoch and scores to 4 decimals: {same}.",
    ]  # fmt: skip
    text = "\n".join(lines) + "\n"
    (RESULTS / "same_scores.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
