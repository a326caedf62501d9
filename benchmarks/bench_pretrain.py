"""Pretraining throughput: featurization + caching, pretraining steps, memory, cache size.

Run from the repository root (needs ``../shared/data/pretrain/moses_zinc_train.csv.gz``)::

    OMP_NUM_THREADS=1 python benchmarks/bench_pretrain.py --molecules 5000 --steps 20
    python benchmarks/bench_pretrain.py --workers 1 2 4 --batch-size 256

Featurization builds a fresh cache of the corpus's first ``--molecules`` rows once per worker
count (wall time, and CPU time of this process and its workers). Pretraining steps run with the
model of ``configs/pretrain_zinc.yaml`` (or ``--overrides``) on that cache: each step is timed
whole (collate into the config's ``data.batch_chunks`` size-sorted chunks with per-batch
shortest paths, masks, forward, backward, AdamW) and the collate alone, so the data path's share
shows. From the rates, the wall time of the whole 1,584,663-
molecule corpus on this machine is projected. A GPU is projected, not measured: featurization
and the collate stay on the CPU (rates per core below, times the cores given to them) while the
step itself moves to the GPU; ``--gpu-step-ms`` is the assumed GPU step time. The summary goes
to ``benchmarks/results/bench_pretrain.{json,md}`` with machine, date and commit.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from common import REPO, RESULTS, SHARED_DATA, provenance

from graphsep.config import load_config
from graphsep.molecules.corpus_shards import build_cache, cache_folder
from graphsep.tasks.masked_graph.heads import atom_feature_weights, reconstruction_loss
from graphsep.tasks.masked_graph.run import build_pretrain_model, load_pretrain_data
from graphsep.training.optim import build_optimizer
from graphsep.training.sampler import KeyedBatch

CORPUS = SHARED_DATA / "pretrain" / "moses_zinc_train.csv.gz"
FULL_CORPUS = 1_584_663


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mib() -> dict[str, float]:
    """Peak resident memory of this process and of its largest child (Linux: KiB)."""
    return {
        "main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def bench_featurize(cfg, workers: int, cache_root: Path) -> dict:
    """Build the cache from scratch with ``workers`` processes; return rates and sizes."""
    corpus = replace(cfg.data.corpus, num_workers=workers, cache_dir=str(cache_root / str(workers)))
    folder = cache_folder([CORPUS], corpus)
    shutil.rmtree(folder, ignore_errors=True)
    wall, cpu = time.perf_counter(), cpu_seconds()
    manifest = build_cache([CORPUS], corpus, folder, progress=False)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return {
        "workers": workers, "rows": manifest["rows"], "molecules": manifest["molecules"],
        "wall_s": wall, "cpu_s": cpu, "mol_per_s": manifest["rows"] / wall,
        "mol_per_cpu_s": manifest["rows"] / cpu,
        "bytes_per_molecule": manifest["bytes"] / manifest["molecules"],
    }  # fmt: skip


def bench_steps(cfg, steps: int) -> dict:
    """Time ``steps`` pretraining steps after two warm-up steps, and the collate alone."""
    data = load_pretrain_data(cfg)
    model = build_pretrain_model(cfg.model)
    optimizer = build_optimizer(model, cfg.train.lr, cfg.train.weight_decay)
    weights = atom_feature_weights(cfg.task.masked_graph.atom_type_weight)
    sampler, corpus = data.train.batch_sampler, data.train.dataset
    sampler.set_epoch(1)
    batches = [b for _, b in zip(range(steps + 2), sampler, strict=False)]
    model.train()
    collate_s = step_s = 0.0
    graphs = 0
    for index, ids in enumerate(batches):
        start = time.perf_counter()
        # collate in data.batch_chunks chunks, masks drawn from the batch's key
        batch = data.train.collate_fn(KeyedBatch([corpus[i] for i in ids], 1, index))
        collated = time.perf_counter()
        loss, _ = reconstruction_loss(model(batch), weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if index >= 2:  # the first steps allocate
            collate_s += collated - start
            step_s += time.perf_counter() - start
            graphs += len(ids)
    return {
        "steps": steps, "batch_size": cfg.train.batch_size, "mol_per_s": graphs / step_s,
        "step_ms": 1000 * step_s / steps, "collate_ms": 1000 * collate_s / steps,
        "collate_mol_per_s": graphs / collate_s, "threads": torch.get_num_threads(),
        "chunks": cfg.data.batch_chunks,
    }  # fmt: skip


def project(feat: dict, train: dict, epochs: int, gpu_step_ms: float, gpu_cores: int) -> dict:
    """Hours for the full corpus: featurization once, then ``epochs`` epochs."""
    featurize_h = FULL_CORPUS / feat["mol_per_s"] / 3600
    epoch_h = FULL_CORPUS / train["mol_per_s"] / 3600
    # on a GPU the step waits for whichever is slower: the GPU, or the CPU cores collating
    gpu_rate = min(
        train["batch_size"] / (gpu_step_ms / 1000), train["collate_mol_per_s"] * gpu_cores
    )
    return {
        "featurize_h": featurize_h, "epoch_h": epoch_h, "epochs": epochs,
        "total_h": featurize_h + epochs * epoch_h,
        "gpu_assumed_step_ms": gpu_step_ms, "gpu_data_cores": gpu_cores,
        "gpu_featurize_h": FULL_CORPUS / (feat["mol_per_cpu_s"] * gpu_cores) / 3600,
        "gpu_epoch_h": FULL_CORPUS / gpu_rate / 3600,
    }  # fmt: skip


def markdown(feats: list[dict], train: dict, proj: dict, peak: dict, stamp: dict) -> str:
    lines = [
        f"Pretraining throughput; {stamp['machine']}, {stamp['cpu_cores']} cores, torch threads "
        f"{train['threads']}, GPU {stamp['gpu']}; {stamp['date']}; commit {stamp['commit']}.",
        "",
        "| featurize + cache | molecules | wall s | mol/s | mol per CPU s | cache B/mol |",
        "|---|---|---|---|---|---|",
    ]
    for f in feats:
        lines.append(
            f"| {f['workers']} worker(s) | {f['rows']:,} | {f['wall_s']:.1f} | "
            f"{f['mol_per_s']:,.0f} | {f['mol_per_cpu_s']:,.0f} | {f['bytes_per_molecule']:.0f} |"
        )
    lines += [
        "",
        f"Pretraining steps (random batches of {train['batch_size']} in {train['chunks']} "
        f"chunks): {train['step_ms']:.0f} ms/step, "
        f"{train['mol_per_s']:,.0f} mol/s; of which collate (per-batch shortest paths) "
        f"{train['collate_ms']:.0f} ms ({train['collate_mol_per_s']:,.0f} mol/s on one core).",
        f"Peak memory: main process {peak['main']:,.0f} MiB, largest worker {peak['worker']:,.0f} "
        "MiB.",
        f"Projected for {FULL_CORPUS:,} molecules on this machine: featurization "
        f"{proj['featurize_h']:.2f} h, one epoch {proj['epoch_h']:.1f} h, {proj['epochs']} "
        f"epochs {proj['total_h']:.1f} h.",
        f"Projected on one GPU (assumed {proj['gpu_assumed_step_ms']:.0f} ms/step, "
        f"{proj['gpu_data_cores']} CPU cores featurizing and collating): featurization "
        f"{proj['gpu_featurize_h']:.2f} h, one epoch {proj['gpu_epoch_h']:.2f} h.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--gpu-step-ms", type=float, default=15.0)
    parser.add_argument("--gpu-cores", type=int, default=8)
    parser.add_argument("overrides", nargs="*", help="key=value for configs/pretrain_zinc.yaml")
    args = parser.parse_args()
    # at least four shards per worker; the full corpus gets the default 10,000 (159 shards)
    shard_size = min(10_000, max(1, args.molecules // (4 * max(args.workers))))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(
            REPO / "configs" / "pretrain_zinc.yaml",
            [
                f"data.corpus.files=[{CORPUS}]", f"data.corpus.max_molecules={args.molecules}",
                f"data.corpus.shard_size={shard_size}",
                f"train.batch_size={args.batch_size}", "progress=false", *args.overrides,
            ],
        )  # fmt: skip
        feats = [bench_featurize(cfg, w, Path(tmp)) for w in args.workers]
        corpus = replace(cfg.data.corpus, cache_dir=str(Path(tmp) / str(args.workers[-1])))
        cfg = replace(cfg, data=replace(cfg.data, corpus=corpus))
        train = bench_steps(cfg, args.steps)
    proj = project(feats[-1], train, cfg.train.epochs, args.gpu_step_ms, args.gpu_cores)
    peak, stamp = peak_rss_mib(), provenance()
    text = markdown(feats, train, proj, peak, stamp)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_pretrain.md").write_text(text)
    payload = {
        "provenance": stamp, "args": vars(args), "featurize": feats, "train": train,
        "projection": proj, "peak_rss_mib": peak,
    }  # fmt: skip
    (RESULTS / "bench_pretrain.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
