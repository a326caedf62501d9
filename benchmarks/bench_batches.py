r"""Padding and step time of training batches of a molecule set: size-bucketed, random, chunked.

    python benchmarks/bench_batches.py                       # molhiv, batches of 128, dim 64
    python benchmarks/bench_batches.py --dataset molsider --batch-size 64 --name batches_molsider
    python benchmarks/bench_batches.py --steps 20 model.core.dim=128
    python benchmarks/bench_batches.py --name batches_local2 model.core.dim=64 \
        model.graph.local_layers=2

SepNorm's [CLS] BatchNorm wants random batches, the dense transformer wants little padding.
For one training epoch of each scheme this reports the padded slots per graph (linear layers
pay for these) and padded pairs per graph (attention and the (T, T) bias pay for these), then
times forward + backward + AdamW on ``--steps`` batches of each scheme, interleaved, on one
thread, as process CPU time beside wall time (another busy process slows wall time, not CPU
time). Writes ``benchmarks/results/<name>.{json,md}`` (``--name``, default ``batches``) with
machine, date and commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from common import REPO, RESULTS, absolute_path, provenance, stamp_line
from finetune_sep_vs_share import TABLES, prepare

from graphsep.config import load_config
from graphsep.tasks.property.data import load_property_data
from graphsep.tasks.property.model import build_predictor

SCHEMES = {  # name: (data.bucket_size_multiplier, data.batch_chunks)
    "size-bucketed (multiplier 50)": (50, 1),
    "random": (1, 1),
    "random, 4 chunks": (1, 4),
    "random, 8 chunks": (1, 8),
    "random, 16 chunks": (1, 16),
}


def epoch_padding(loader, keep: int) -> tuple[dict[str, float], list]:
    """Padded slots and pairs per graph over one epoch, and its first ``keep`` batches."""
    slots = pairs = atoms = graphs = 0
    kept = []
    for i, batch in enumerate(loader):
        for chunk in batch.chunks:
            B, T = chunk.mask.shape
            slots, pairs, graphs = slots + B * T, pairs + B * T * T, graphs + B
            atoms += int(chunk.num_nodes.sum()) + B
        if i < keep:  # not the whole epoch: random batches of 128 hold ~40 MB of paths each
            kept.append(batch)
    return {"slots": slots / graphs, "pairs": pairs / graphs, "real_slots": atoms / graphs}, kept


def step_seconds(model: torch.nn.Module, batch, optimizer: torch.optim.Optimizer) -> tuple:
    """Wall and process CPU seconds of one forward + backward + optimizer step."""
    wall, cpu = time.perf_counter(), time.process_time()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        model(batch), torch.nan_to_num(batch.y)
    )
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return time.perf_counter() - wall, time.process_time() - cpu


def run(args: argparse.Namespace) -> dict:
    """Measure every scheme; return the numbers."""
    torch.set_num_threads(1)
    prepare(args.dataset, args.work)
    base = [
        f"data.root={args.work / 'data'}", "progress=false", f"train.batch_size={args.batch_size}",
        *args.overrides,
    ]  # fmt: skip
    pads, batches = {}, {}
    for name, (multiplier, chunks) in SCHEMES.items():
        cfg = load_config(REPO / "configs" / f"{args.dataset}.yaml", [
            *base, f"data.bucket_size_multiplier={multiplier}", f"data.batch_chunks={chunks}",
        ])  # fmt: skip
        loader = load_property_data(cfg).train
        loader.batch_sampler.set_epoch(1)
        pads[name], batches[name] = epoch_padding(loader, keep=args.steps + 1)
    torch.manual_seed(0)
    model = build_predictor(cfg, num_tasks=batches["random"][0].y.shape[1]).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times: dict[str, list[tuple]] = {name: [] for name in SCHEMES}
    step_seconds(model, batches["random, 16 chunks"][-1], optimizer)  # warm-up
    for i in range(args.steps):  # interleaved: every scheme sees the same machine load
        for name in SCHEMES:
            times[name].append(step_seconds(model, batches[name][i], optimizer))
    return {
        name: {
            **pads[name],
            "wall_ms": 1000 * statistics.median(t[0] for t in times[name]),
            "cpu_ms": 1000 * statistics.median(t[1] for t in times[name]),
        }
        for name in SCHEMES
    }


def markdown(results: dict, stamp: dict, args: argparse.Namespace) -> str:
    """The results table."""
    base = results["size-bucketed (multiplier 50)"]["cpu_ms"]
    lines = [
        f"Training batches of {args.batch_size} {args.dataset} graphs, one epoch; step = forward + "
        f"backward + AdamW, median of {args.steps} batches, one thread; overrides: "
        f"{' '.join(args.overrides) or 'none'}.",
        stamp_line(stamp),
        "",
        "| batches | padded slots / graph | padded pairs / graph | step ms (CPU) | step ms (wall) "
        "| CPU vs bucketed |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['slots']:.1f} | {r['pairs']:,.0f} | {r['cpu_ms']:.0f} | "
            f"{r['wall_ms']:.0f} | {r['cpu_ms'] / base:.2f}x |"
        )
    real = next(iter(results.values()))["real_slots"]
    lines.append(f"\nReal slots per graph (atoms + [CLS]): {real:.1f}.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="molhiv", choices=list(TABLES))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--work", type=absolute_path, default=REPO / "benchmarks" / "work")
    parser.add_argument("--name", default="batches", help="results file stem in benchmarks/results")
    parser.add_argument("overrides", nargs="*", default=["model.core.dim=64"])
    args = parser.parse_args()
    results = run(args)
    stamp = provenance()
    text = markdown(results, stamp, args)
    print(text)
    (RESULTS / f"{args.name}.md").write_text(text)
    payload = {"provenance": stamp, "args": {**vars(args), "work": str(args.work)}}
    (RESULTS / f"{args.name}.json").write_text(
        json.dumps({**payload, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
