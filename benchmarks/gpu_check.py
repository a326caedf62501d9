r"""What a GPU machine measures in one short run: tests, training, pretraining, torchrun, predict.

    python benchmarks/gpu_check.py --zinc gpu_data/zinc_50k.csv.gz          # on the GPU
    python benchmarks/gpu_check.py --zinc gpu_data/zinc_50k.csv.gz --device cpu --steps 3 \
        --out /tmp/gpu_check.json                                            # a dry run here

Sections, each timed and kept even when another fails (the JSON is rewritten after each, so
a run cut short by its time limit leaves what it measured):

1. ``cuda_tests``: ``pytest -m cuda`` (pinned batches, a training run in each precision);
   ``sdpa_backends``: which attention kernels take each front end's mask, in bf16.
2. ``quickstart_fp32``, ``quickstart_bf16``: ``configs/quickstart.yaml`` (the bundled BBBP
   table) on the device: wall time, best-valid epoch, valid and test ROC-AUC, peak memory.
3. ``pretrain_fp32``, ``pretrain_bf16``, ``pretrain_bf16_compile``: masked-graph pretraining
   steps of ``configs/pretrain_zinc.yaml`` at batch 256 on the ``--zinc`` slice through the
   engine's own training step (autocast, scaler, compile): steps/s and molecules/s over
   ``--steps`` steps after warm-up, with the collate timed apart, and peak memory.
4. ``torchrun``: ``torch.distributed.run --nproc_per_node=1`` (nccl on CUDA) pretraining a
   few steps, then the same command again resuming from its checkpoint.
5. ``predict``: ``graphsep predict`` with the quickstart checkpoint on 20,390 SMILES (the
   bundled table ten times): molecules/s, start-up included.

The GPU's name, driver, torch version, date and commit head the file
(``benchmarks/results/gpu_check.json`` unless ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable

import pandas as pd
import torch
from common import REPO, RESULTS, absolute_path, provenance

from graphsep.cli.main import main as graphsep
from graphsep.config import load_config
from graphsep.tasks.masked_graph.run import PretrainRun
from graphsep.tasks.property.data import BUNDLED
from graphsep.training.distributed import DistContext

PRETRAIN = ["data.corpus.max_molecules=20000", "train.batch_size=256", "progress=false"]


def peak_memory_mb(device: torch.device) -> float | None:
    """Peak GPU memory allocated since the last reset, in MB (None on CPU)."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    """Start a new peak-memory measurement."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def cuda_tests(args: argparse.Namespace) -> dict:
    """Run the CUDA-marked tests; return their exit status and last lines."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "tests"],
                          cwd=REPO, capture_output=True, text=True)  # fmt: skip
    return {"returncode": done.returncode, "tail": done.stdout.strip().splitlines()[-3:]}


def quickstart(args: argparse.Namespace, precision: str) -> dict:
    """Train the quickstart on the device in ``precision``; its scores, time and memory."""
    out_dir = args.work / f"quickstart_{precision}"
    reset_peak(args.device)
    start = time.perf_counter()
    code = graphsep(["train", "--config", str(REPO / "configs" / "quickstart.yaml"),
                       f"out_dir={out_dir}", f"data.root={args.work / 'data'}",
                       f"device={args.device}", f"train.precision={precision}", "progress=false",
                       f"train.epochs={args.quickstart_epochs}"])  # fmt: skip
    seconds = time.perf_counter() - start
    results = json.loads((out_dir / "results.json").read_text()) if code == 0 else {}
    return {
        "returncode": code, "seconds": round(seconds, 1),
        **{k: results.get(k) for k in ("best_epoch", "valid", "test")},
        "peak_memory_mb": peak_memory_mb(args.device),
    }  # fmt: skip


def pretrain_rate(args: argparse.Namespace, precision: str, compile_: bool) -> dict:
    """Time the engine's pretraining step at batch 256; steps/s, molecules/s, memory."""
    cfg = load_config(REPO / "configs" / "pretrain_zinc.yaml", [
        f"data.corpus.files=[{args.zinc}]", f"data.corpus.cache_dir={args.work / 'corpus'}",
        f"out_dir={args.work / 'pretrain_rate'}", f"device={args.device}",
        f"train.precision={precision}", f"train.compile={str(compile_).lower()}", *PRETRAIN,
    ])  # fmt: skip
    run = PretrainRun(cfg, DistContext(0, 1, args.device))
    batches = iter(run.train_loader)
    run.model.train()
    for _ in range(3):  # warm-up: allocation, kernels, compilation
        run._train_step(next(batches))
    reset_peak(args.device)
    collate = steps = 0.0
    for _ in range(args.steps):
        start = time.perf_counter()
        batch = next(batches)
        collated = time.perf_counter()
        run._train_step(batch)  # .item() of the loss waits for the GPU
        collate, steps = collate + collated - start, steps + time.perf_counter() - collated
    per_step = (collate + steps) / args.steps
    return {
        "steps_per_second": round(1 / per_step, 2),
        "molecules_per_second": round(cfg.train.batch_size / per_step, 1),
        "step_ms": round(1000 * steps / args.steps, 1),
        "collate_ms": round(1000 * collate / args.steps, 1),
        "peak_memory_mb": peak_memory_mb(args.device),
    }


def torchrun(args: argparse.Namespace) -> dict:
    """Pretrain a few steps under torchrun on one process, then resume that run."""
    out_dir = args.work / "torchrun"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1",
               str(REPO / "train.py"), "--config", "configs/pretrain_zinc.yaml",
               f"data.corpus.files=[{args.zinc}]", f"data.corpus.cache_dir={args.work / 'corpus'}",
               f"out_dir={out_dir}", f"device={args.device}", "train.epochs=1",
               "train.max_steps=6", "train.checkpoint_every=3", *PRETRAIN]  # fmt: skip
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    again = subprocess.run([*command, "resume=auto"], cwd=REPO, capture_output=True, text=True)
    backend = "nccl" if args.device.type == "cuda" else "gloo"
    return {
        "backend": backend, "returncode": first.returncode,
        "resumed_returncode": again.returncode,
        "resumed": "resumed from" in again.stdout + again.stderr,
        "tail": (first.stderr or first.stdout).strip().splitlines()[-2:],
    }  # fmt: skip


def predict(args: argparse.Namespace) -> dict:
    """Score the bundled table ten times over with the quickstart checkpoint; molecules/s."""
    table = pd.concat([pd.read_csv(BUNDLED["ogbg-molbbbp"])[["smiles"]]] * 10)
    source, target = args.work / "predict_in.csv", args.work / "predict_out.csv"
    table.to_csv(source, index=False)
    checkpoint = args.work / "quickstart_fp32" / "best"
    start = time.perf_counter()
    code = graphsep(["predict", "--checkpoint", str(checkpoint), "--input", str(source),
                     "--output", str(target), "--device", str(args.device)])  # fmt: skip
    seconds = time.perf_counter() - start
    return {"returncode": code, "molecules": len(table), "seconds": round(seconds, 1),
            "molecules_per_second": round(len(table) / seconds, 1)}  # fmt: skip


def sdpa_backends(args: argparse.Namespace) -> dict:
    """Which SDPA kernels accept each front end's attention input, in bf16 on the device.

    Images pass no mask, text a boolean key mask, the graph a float per-head bias
    (:func:`graphsep.core.encoder.attention_mask`); each kernel is tried alone.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    B, H, T, Dh = 64, 8, 32, 16
    q = k = v = torch.randn(B, H, T, Dh, device=args.device, dtype=torch.bfloat16)
    masks = {
        "image (no mask)": None,
        "text (boolean key mask)": torch.ones(B, 1, 1, T, dtype=torch.bool, device=args.device),
        "graph (float bias)": torch.zeros(B, H, T, T, dtype=torch.bfloat16, device=args.device),
    }
    result = {}
    for front_end, mask in masks.items():
        accepted = []
        for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                        SDPBackend.CUDNN_ATTENTION, SDPBackend.MATH):  # fmt: skip
            try:
                with sdpa_kernel([backend]):
                    torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
                accepted.append(backend.name)
            except RuntimeError:
                pass
        result[front_end] = accepted
    return result


def gpu_info(device: torch.device) -> dict:
    """The GPU's name and driver (nvidia-smi), or that there is none."""
    if device.type != "cuda":
        return {"gpu": "none"}
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                          "--format=csv,noheader"], capture_output=True, text=True)  # fmt: skip
    return {"gpu": torch.cuda.get_device_name(device), "nvidia_smi": smi.stdout.strip(),
            "cuda": torch.version.cuda}  # fmt: skip


def main() -> None:
    """Run every section, rewriting the JSON after each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--zinc",
        type=absolute_path,
        required=True,
        help="a slice of the ZINC corpus (csv or csv.gz with a smiles column)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=30, help="timed pretraining steps")
    parser.add_argument("--quickstart-epochs", type=int, default=15)
    parser.add_argument("--work", type=absolute_path, default=REPO / "benchmarks" / "work" / "gpu")
    parser.add_argument("--out", type=absolute_path, default=RESULTS / "gpu_check.json")
    parser.add_argument("--skip", nargs="*", default=[], help="sections not to run")
    args = parser.parse_args()
    args.device = torch.device(args.device)
    args.work.mkdir(parents=True, exist_ok=True)
    report = {**provenance(), **gpu_info(args.device), "device": str(args.device),
              "sections": {}}  # fmt: skip
    sections: dict[str, Callable[[], dict]] = {
        "cuda_tests": lambda: cuda_tests(args),
        "sdpa_backends": lambda: sdpa_backends(args),
        "quickstart_fp32": lambda: quickstart(args, "fp32"),
        "quickstart_bf16": lambda: quickstart(args, "bf16"),
        "pretrain_fp32": lambda: pretrain_rate(args, "fp32", False),
        "pretrain_bf16": lambda: pretrain_rate(args, "bf16", False),
        "pretrain_bf16_compile": lambda: pretrain_rate(args, "bf16", True),
        "torchrun": lambda: torchrun(args),
        "predict": lambda: predict(args),
    }
    for name, section in sections.items():
        if name in args.skip:
            continue
        start = time.perf_counter()
        try:
            result = section()
        except Exception:  # noqa: BLE001 - one failed section must not lose the others
            result = {"error": traceback.format_exc().strip().splitlines()[-1]}
        result["section_seconds"] = round(time.perf_counter() - start, 1)
        report["sections"][name] = result
        print(name, json.dumps(result), flush=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    os.sync()


if __name__ == "__main__":
    main()
