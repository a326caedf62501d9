r"""Training step time and peak memory: graphsep beside PyG's GPSConv on the same HIV molecules.

    python benchmarks/bench_gps.py                 # dim 64, depth 4, 8 heads, batches of 128
    python benchmarks/bench_gps.py --steps 10 --rounds 1           # a quicker look

Both models get the same width, depth, heads and batches: ``--steps`` random batches of
``--batch-size`` ogbg-molhiv training molecules (the index lists of graphsep's own training
sampler, given to both). graphsep is ``configs/molhiv.yaml``'s model (SepNorm, Graphormer's
spatial, edge and centrality encodings, the batch padded as ``data.batch_chunks`` size-sorted
chunks) with its property head; GPS is PyG's ``GPSConv`` (a ``GINEConv`` local layer with
OGB's ``BondEncoder`` edges, multi-head attention, BatchNorm; PyG's GPS example without
positional encodings) over OGB's ``AtomEncoder``, mean pooling and a linear head. One step is
forward, BCE loss, backward and AdamW, on one thread; collation is timed apart.

Each model runs in its own subprocess, ``--rounds`` times alternately, so that both see the
same machine state; a round reports median step and collate time (wall, and process CPU time
beside it: another busy process slows wall time, not CPU time) and the process's peak resident
memory above what it held before its first step. Writes ``benchmarks/results/gps.{json,md}``
with the ratio graphsep / GPS, machine, date and commit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
from common import REPO, RESULTS, absolute_path, provenance, stamp_line
from finetune_sep_vs_share import prepare
from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.nn import GINEConv, GPSConv, global_mean_pool

from graphsep.config import load_config
from graphsep.frontends.graph.encoded_dataset import EncodedDataset
from graphsep.molecules.ogb_layout import load_ogb_dataset, load_split
from graphsep.tasks.property.data import load_property_data
from graphsep.tasks.property.model import build_predictor
from graphsep.training.optim import build_optimizer

MODELS = ("graphsep", "gps")


class GPS(nn.Module):
    """PyG's GPS layer stack for OGB molecules: GINE local + multi-head attention per layer."""

    def __init__(self, dim: int, depth: int, heads: int, num_tasks: int = 1) -> None:
        super().__init__()
        self.atoms = AtomEncoder(dim)
        self.bonds = BondEncoder(dim)
        self.layers = nn.ModuleList(
            GPSConv(dim, GINEConv(nn.Sequential(nn.Linear(dim, dim), nn.ReLU(),
                                                nn.Linear(dim, dim))),
                    heads=heads, attn_type="multihead")
            for _ in range(depth)
        )  # fmt: skip
        self.head = nn.Linear(dim, num_tasks)

    def forward(self, batch: Batch) -> Tensor:
        """Return ``(graphs, num_tasks)`` logits."""
        h, edges = self.atoms(batch.x), self.bonds(batch.edge_attr)
        for layer in self.layers:
            h = layer(h, batch.edge_index, batch.batch, edge_attr=edges)
        return self.head(global_mean_pool(h, batch.batch))


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(args: argparse.Namespace) -> dict:
    """Time ``args.model`` on the benchmark's batches in this process; return its figures."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = load_config(REPO / "configs" / "molhiv.yaml", [
        f"data.root={args.work / 'data'}", f"model.core.dim={args.dim}",
        f"model.core.depth={args.depth}", f"model.core.num_heads={args.heads}",
        f"train.batch_size={args.batch_size}", "progress=false",
    ])  # fmt: skip
    loader = load_property_data(cfg).train
    sampled = iter(loader.batch_sampler)
    batches = [list(next(sampled)) for _ in range(args.steps + 2)]
    train = load_split(load_ogb_dataset(cfg.data.name, cfg.data.root))["train"]
    if args.model == "graphsep":
        dataset = EncodedDataset(load_ogb_dataset(cfg.data.name, cfg.data.root), progress=False)
        graphs, collate = dataset.index_select(train), loader.collate_fn
        model = build_predictor(cfg, 1)
    else:
        graphs, collate = (
            load_ogb_dataset(cfg.data.name, cfg.data.root)[train],
            Batch.from_data_list,
        )
        model = GPS(args.dim, args.depth, args.heads)
    optimizer = build_optimizer(model, 1e-4, 0.0)
    model.train()
    before = rss_mb()
    steps, collates = [], []
    for i, indices in enumerate(batches):
        start = time.perf_counter(), time.process_time()
        batch = collate([graphs[j] for j in indices])
        collated = time.perf_counter(), time.process_time()
        loss = nn.functional.binary_cross_entropy_with_logits(
            model(batch), torch.nan_to_num(batch.y.float())
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done = time.perf_counter(), time.process_time()
        if i >= 2:  # the first steps allocate and warm up
            collates.append([b - a for a, b in zip(start, collated, strict=True)])
            steps.append([b - a for a, b in zip(collated, done, strict=True)])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "step_ms": 1000 * statistics.median(s[0] for s in steps),
        "step_cpu_ms": 1000 * statistics.median(s[1] for s in steps),
        "collate_ms": 1000 * statistics.median(c[0] for c in collates),
        "peak_mb_above_data": peak - before,
        "params": sum(p.numel() for p in model.parameters()),
    }


def run_child(model: str, args: argparse.Namespace) -> dict:
    """Run one model's timing in a fresh one-thread process; return its figures."""
    command = [sys.executable, __file__, "--child", model, "--steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--dim", str(args.dim),
               "--depth", str(args.depth), "--heads", str(args.heads),
               "--work", str(args.work)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(rounds: dict[str, list[dict]], args: argparse.Namespace, stamp: dict) -> str:
    """The table: each model's medians over rounds, and graphsep / GPS."""
    keys = ("step_ms", "step_cpu_ms", "collate_ms", "peak_mb_above_data", "params")
    med = {m: {k: statistics.median(r[k] for r in rounds[m]) for k in keys} for m in MODELS}
    lines = [
        f"Training step (forward, BCE, backward, AdamW), one thread: dim {args.dim}, depth "
        f"{args.depth}, {args.heads} heads, {args.steps} random batches of {args.batch_size} "
        f"ogbg-molhiv training molecules (the same for both), {args.rounds} round(s) "
        "alternating; medians.",
        stamp_line(stamp),
        "",
        "| model | step ms (wall) | step ms (CPU) | collate ms | peak MB above data | params |",
        "|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        m = med[model]
        lines.append(f"| {model} | {m['step_ms']:.0f} | {m['step_cpu_ms']:.0f} | "
                     f"{m['collate_ms']:.1f} | {m['peak_mb_above_data']:.0f} | "
                     f"{int(m['params']):,} |")  # fmt: skip
    ratio = {k: med["graphsep"][k] / med["gps"][k] for k in keys[:4]}
    lines.append(
        f"| graphsep / GPS | {ratio['step_ms']:.2f}x | {ratio['step_cpu_ms']:.2f}x | "
        f"{ratio['collate_ms']:.2f}x | {ratio['peak_mb_above_data']:.2f}x | |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Time both models alternately; write the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--work", type=absolute_path, default=REPO / "benchmarks" / "work")
    parser.add_argument("--child", choices=MODELS, dest="model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model:
        print(json.dumps(child(args)))
        return
    prepare("molhiv", args.work)
    rounds: dict[str, list[dict]] = {m: [] for m in MODELS}
    for _ in range(args.rounds):
        for model in MODELS:
            rounds[model].append(run_child(model, args))
            print(model, rounds[model][-1], flush=True)
    stamp = provenance()
    text = markdown(rounds, args, stamp)
    print(text)
    payload = {"provenance": stamp, "arguments": vars(args) | {"work": str(args.work)},
               "rounds": rounds}  # fmt: skip
    (RESULTS / "gps.json").write_text(json.dumps(payload, indent=1) + "\n")
    (RESULTS / "gps.md").write_text(text)


if __name__ == "__main__":
    main()
