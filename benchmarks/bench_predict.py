"""Molecules per second, SMILES to written CSV: ``graphsep predict`` beside ``chemprop predict``.

    python benchmarks/bench_predict.py [--checkpoint runs/quickstart/best]
        [--chemprop-venv /tmp/chemprop-venv] [--work benchmarks/work/predict]

Input: all 41,127 HIV SMILES (``../shared/data/moleculenet/hiv.csv.gz``, decompressed once,
because chemprop reads plain CSV only). Each tool runs as its own command line in a subprocess,
one after the other, from process start to the last byte of its output CSV (start-up, model
load, featurization, inference and writing all count). Peak memory is the largest sum of the
proportional set size (PSS: shared pages split between the processes that share them, so a
forked worker is not counted twice) of the command's process tree, sampled every 0.2 s; CPU time
is the tree's user + system time.

Models: ours is trained with ``configs/quickstart.yaml`` unless ``--checkpoint`` is given.
Chemprop 2.x is installed only in its own venv, ``--chemprop-venv``, created when missing
(``python3 -m venv DIR && DIR/bin/pip install torch==2.13.0 chemprop``: torch pinned in the same
command, else pip pulls a CUDA build); its model is chemprop's default MPNN (hidden size 300,
depth 3: what a user gets) trained for 1 epoch on BBBP with ``chemprop train -i bbbp.csv -s
smiles --target-columns p_np -t classification --epochs 1 --warmup-epochs 0``. Training quality
does not change inference speed. If chemprop cannot be installed, ours is reported alone.

Chemprop stops at the first SMILES RDKit will not sanitize (7 in HIV: valence on Al, B, Ge),
so both tools also run on the 41,120 HIV rows RDKit sanitizes: those rows are the side-by-side
comparison on the same file. Chemprop runs twice there: as a user runs it (torch on every core)
and with ``OMP_NUM_THREADS=1``, which is faster on a machine shared with other jobs (graphsep
caps its own torch threads the same way). Results: ``benchmarks/results/predict.{json,md}``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
from common import MOLECULENET, REPO, RESULTS, provenance
from rdkit import Chem, RDLogger

from graphsep.config import load_config
from graphsep.tasks.property.run import finetune

HIV = MOLECULENET / "hiv.csv.gz"
BBBP = MOLECULENET / "bbbp.csv"
SAMPLE_SECONDS = 0.2


def measure(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``cmd``; return wall and CPU seconds, peak tree PSS (MiB) and the exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = psutil.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_pss(proc))
            time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 1),
        "peak_pss_mib": round(peak / 2**20),
        "returncode": proc.returncode,
    }


def _tree_pss(proc: psutil.Process) -> int:
    """Proportional set size in bytes of a process and all its descendants, now."""
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in tree:
        try:
            total += p.memory_full_info().pss
        except psutil.Error:  # exited between listing and reading
            pass
    return total


def prepare_inputs(work: Path) -> tuple[Path, Path]:
    """The full HIV table as plain CSV, and its rows that RDKit sanitizes."""
    full, valid = work / "hiv.csv", work / "hiv_rdkit_valid.csv"
    if not full.exists():
        with gzip.open(HIV, "rb") as src, open(full, "wb") as dst:
            shutil.copyfileobj(src, dst)
    if not valid.exists():
        RDLogger.DisableLog("rdApp.*")
        table = pd.read_csv(full)
        table[table["smiles"].map(lambda s: Chem.MolFromSmiles(s) is not None)].to_csv(
            valid, index=False
        )
    return full, valid


def our_checkpoint(work: Path, given: str | None) -> Path:
    """The given checkpoint, or one trained here with the quickstart config (kept for reruns)."""
    if given:
        return Path(given)
    best = work / "quickstart" / "best"
    if not best.exists():
        overrides = [f"data.root={work / 'data'}", f"out_dir={best.parent}", "progress=false"]
        finetune(load_config(REPO / "configs" / "quickstart.yaml", overrides))
    return best


def chemprop_model(venv: Path, work: Path) -> tuple[Path | None, str]:
    """Chemprop's model path (installing and training when missing), or None and why not."""
    chemprop = venv / "bin" / "chemprop"
    if not chemprop.exists():
        install = f"python3 -m venv {venv} && {venv}/bin/pip install torch==2.13.0 chemprop"
        done = subprocess.run(install, shell=True, capture_output=True, text=True)
        if done.returncode != 0 or not chemprop.exists():
            return None, f"chemprop could not be installed: {done.stderr.strip()[-300:]}"
    model = work / "chemprop" / "model_0" / "best.pt"
    if not model.exists():
        cmd = [
            str(chemprop), "train", "-i", str(BBBP), "-s", "smiles", "--target-columns", "p_np",
            "-t", "classification", "--epochs", "1", "--warmup-epochs", "0",
            "-o", str(work / "chemprop"), "--accelerator", "cpu", "--devices", "1",
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not model.exists():
            return None, f"chemprop train failed: {done.stderr.strip()[-300:]}"
    version = subprocess.run([str(chemprop), "--version"], capture_output=True, text=True)
    return model, version.stdout.strip()  # "chemprop 2.3.1"


def run_ours(checkpoint: Path, table: Path, work: Path, tag: str) -> dict:
    out = work / f"graphsep_{tag}.csv"
    # --allow-unsanitized: the 7 HIV molecules RDKit will not sanitize are scored, as in OGB
    cmd = [sys.executable, "-m", "graphsep.cli.main", "predict", "--checkpoint", str(checkpoint),
           "--input", str(table), "--output", str(out), "--allow-unsanitized"]  # fmt: skip
    result = measure(cmd, work / f"graphsep_{tag}.log")
    scored = pd.read_csv(out, usecols=["error"], keep_default_na=False)
    result["failed"] = int((scored["error"] != "").sum())
    return {"tool": "graphsep predict", **_rate(result, len(scored))}


def run_chemprop(
    venv: Path, model: Path, table: Path, work: Path, one_thread: bool = False
) -> dict:
    """Chemprop as a user runs it, or with torch on one thread (its faster setting here)."""
    out = work / "chemprop_preds.csv"
    cmd = [str(venv / "bin" / "chemprop"), "predict", "-i", str(table), "-s", "smiles",
           "--model-paths", str(model), "-o", str(out), "--accelerator", "cpu",
           "--devices", "1"]  # fmt: skip
    log = work / f"chemprop_{table.stem}{'_1thread' if one_thread else ''}.log"
    out.unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if one_thread else None
    result = measure(cmd, log, env)
    if result["returncode"] != 0:
        result["stopped"] = log.read_text().strip().splitlines()[-1]
    rows = len(pd.read_csv(out, usecols=["smiles"])) if out.exists() else 0
    tool = "chemprop predict" + (", OMP_NUM_THREADS=1" if one_thread else "")
    return {"tool": tool, "failed": 0, **_rate(result, rows)}


def _rate(result: dict, rows: int) -> dict:
    return {**result, "rows": rows, "mol_per_s": round(rows / result["wall_s"])}


def markdown(report: dict) -> str:
    prov = report["provenance"]
    lines = [
        "# Prediction throughput: SMILES to written CSV, HIV (ogbg-molhiv source table)",
        "",
        f"{prov['date']}, commit {prov['commit']}, {prov['machine']}, {prov['cpu_cores']} "
        f"cores, torch {prov['torch']}, GPU: {prov['gpu']}; load average before the runs "
        f"{report['load_before']} (other jobs shared this machine). {report['chemprop']}.",
        "",
        "| tool | input | rows | failed rows | wall s | molecules/s | CPU s | peak PSS MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        failed = f"stopped: `{r['stopped']}`" if "stopped" in r else r["failed"]
        lines.append(
            f"| {r['tool']} | {r['input']} | {r['rows']:,} | {failed} | {r['wall_s']} | "
            f"{r['mol_per_s']:,} | {r['cpu_s']} | {r['peak_pss_mib']:,} |"
        )
    lines += ["", report["note"], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="graphsep checkpoint (default: train quickstart)")
    parser.add_argument("--chemprop-venv", default="/tmp/chemprop-venv")
    parser.add_argument("--work", default=str(REPO / "benchmarks" / "work" / "predict"))
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    full, valid = prepare_inputs(work)
    checkpoint = our_checkpoint(work, args.checkpoint)
    venv = Path(args.chemprop_venv)
    model, chemprop = chemprop_model(venv, work)
    report = {"provenance": provenance(), "load_before": [round(x, 2) for x in os.getloadavg()],
              "chemprop": chemprop, "runs": []}  # fmt: skip
    runs = [("all 41,127", lambda: run_ours(checkpoint, full, work, "full"))]
    if model is not None:
        runs += [
            ("all 41,127", lambda: run_chemprop(venv, model, full, work)),
            ("41,120 RDKit-valid", lambda: run_ours(checkpoint, valid, work, "valid")),
            ("41,120 RDKit-valid", lambda: run_chemprop(venv, model, valid, work)),
            ("41,120 RDKit-valid", lambda: run_chemprop(venv, model, valid, work, True)),
        ]
    for label, run in runs:
        result = {"input": label, **run()}
        print(json.dumps(result), flush=True)
        report["runs"].append(result)
    arch = json.loads((checkpoint / "meta.json").read_text())["config"]["model"]["core"]
    report["note"] = (
        "Each row is one command line run alone, start-up and model load included. graphsep: "
        f"dim {arch['dim']}, depth {arch['depth']}, {arch['num_heads']} heads, {arch['norm']}norm; "
        "chemprop: default MPNN (d=300, depth 3), 1 epoch on BBBP. On the full file chemprop "
        "stops at its first SMILES RDKit will not sanitize; graphsep featurizes those 7 leniently "
        "(OGB's features on the unsanitized molecule) and, with --allow-unsanitized, scores them. "
        "graphsep caps torch at "
        "the cores its featurizing worker leaves free (1 of 2 here); chemprop runs torch on every "
        "core by default, which on a shared machine spins OpenMP threads against other jobs, so "
        "it also runs with OMP_NUM_THREADS=1."
    )
    text = markdown(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "predict.json").write_text(json.dumps(report, indent=2))
    (RESULTS / "predict.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
