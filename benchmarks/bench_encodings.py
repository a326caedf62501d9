"""Structural encodings vs networkx, and padding with size buckets vs random batches, on molhiv.

Run from the repository root (needs ``../shared/data/moleculenet/hiv.csv.gz``)::

    python benchmarks/bench_encodings.py            # prints a markdown table
    python benchmarks/bench_encodings.py --repeats 1

Every timing is in one process, side by side, with process CPU time beside wall time (another
busy process on a 2-core machine halves a 2-thread job); encodings and networkx are the best of
``--repeats`` runs, each collate epoch is timed once. The result is appended as JSON to
``benchmarks/results/encodings.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gzip
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import torch
from ogb.utils import smiles2graph
from rdkit import RDLogger
from torch_geometric.data import Data

from graphsep.frontends.graph.collate import collate_graphs
from graphsep.frontends.graph.encodings import structural_encodings
from graphsep.training.sampler import SizeBucketBatchSampler

ROOT = Path(__file__).resolve().parents[1]
HIV = ROOT.parent / "shared" / "data" / "moleculenet" / "hiv.csv.gz"
RESULTS = ROOT / "benchmarks" / "results" / "encodings.json"


def load_hiv(path: Path) -> tuple[list[Data], int]:
    """OGB graphs of every HIV SMILES that ``smiles2graph`` featurizes, and the number skipped."""
    RDLogger.DisableLog("rdApp.*")
    with gzip.open(path, "rt") as f:
        smiles = [row["smiles"] for row in csv.DictReader(f)]
    graphs = []
    for s in smiles:
        try:
            g = smiles2graph(s)
        except AttributeError:  # the 7 RDKit will not sanitize: smiles2graph gets None
            continue
        graphs.append(
            Data(
                x=torch.from_numpy(g["node_feat"]),
                edge_index=torch.from_numpy(g["edge_index"]),
                edge_attr=torch.from_numpy(g["edge_feat"]),
                num_nodes=g["num_nodes"],
            )
        )
    return graphs, len(smiles) - len(graphs)


def timed(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """Best wall and process CPU seconds over ``repeats`` runs."""
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return {"wall_s": min(wall), "cpu_s": min(cpu)}


def networkx_graphs(graphs: list[Data]) -> list[nx.Graph]:
    """Build the networkx graphs up front: their construction is not charged to networkx."""
    out = []
    for g in graphs:
        graph = nx.Graph()
        graph.add_nodes_from(range(g.num_nodes))
        graph.add_edges_from(g.edge_index.t().tolist())
        out.append(graph)
    return out


def collate_epoch(graphs: list[Data], batches: list[list[int]], max_hops: int) -> None:
    """Collate every batch of one epoch."""
    for batch in batches:
        collate_graphs([graphs[i] for i in batch], max_hops)


def mean_padded(sizes: torch.Tensor, batches: list[list[int]]) -> float:
    """Mean over batches of the largest graph in the batch (the padded atom count)."""
    return sum(int(sizes[b].max()) for b in batches) / len(batches)


def run(args: argparse.Namespace) -> dict:
    """Time everything and return the result record."""
    load_before = os.getloadavg()[0]  # other processes on the machine skew every timing
    start = time.perf_counter()
    graphs, skipped = load_hiv(args.hiv)
    featurize_s = time.perf_counter() - start
    subset = graphs[:: args.subset_every]
    nx_subset = networkx_graphs(subset)

    ours_all = timed(lambda: structural_encodings(graphs), args.repeats)
    # masked pretraining breaks path ties by atom index instead of by bond features
    ours_index_ties = timed(
        lambda: structural_encodings(graphs, canonical_paths=False), args.repeats
    )
    ours_subset = timed(lambda: structural_encodings(subset), args.repeats)
    nx_paths = timed(lambda: [dict(nx.all_pairs_shortest_path(g)) for g in nx_subset], args.repeats)
    nx_lengths = timed(
        lambda: [dict(nx.all_pairs_shortest_path_length(g)) for g in nx_subset], args.repeats
    )

    for graph, encoding in zip(graphs, structural_encodings(graphs), strict=True):
        graph.degree, graph.distance, graph.next_hop = encoding
    sizes = torch.tensor([g.num_nodes for g in graphs])
    bucketed = list(SizeBucketBatchSampler(sizes, args.batch_size, seed=0))
    permutation = torch.randperm(len(graphs), generator=torch.Generator().manual_seed(0))
    shuffled = [b.tolist() for b in permutation.split(args.batch_size)]
    collate_bucketed = timed(lambda: collate_epoch(graphs, bucketed, args.max_hops), 1)
    collate_no_paths = timed(lambda: collate_epoch(graphs, bucketed, 0), 1)
    collate_random = timed(lambda: collate_epoch(graphs, shuffled, args.max_hops), 1)

    record = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": [load_before, os.getloadavg()[0]],
        "torch": torch.__version__,
        "networkx": nx.__version__,
        "graphs": len(graphs),
        "skipped_smiles": skipped,
        "featurize_s": featurize_s,
        "subset_graphs": len(subset),
        "batch_size": args.batch_size,
        "max_hops": args.max_hops,
        "ours_all": ours_all,
        "ours_subset": ours_subset,
        "ours_all_index_ties": ours_index_ties,
        "networkx_all_pairs_shortest_path_subset": nx_paths,
        "networkx_all_pairs_shortest_path_length_subset": nx_lengths,
        "collate_epoch_bucketed": collate_bucketed,
        "collate_epoch_bucketed_no_paths": collate_no_paths,
        "collate_epoch_random": collate_random,
        "mean_padded_bucketed": mean_padded(sizes, bucketed),
        "mean_padded_random": mean_padded(sizes, shuffled),
    }
    record["rates_wall"] = derived_rates(record, "wall_s")
    record["rates_cpu"] = derived_rates(record, "cpu_s")
    return record


def derived_rates(r: dict, clock: str) -> dict[str, float]:
    """Graphs per second by one clock (``wall_s`` or ``cpu_s``)."""
    graphs, subset = r["graphs"], r["subset_graphs"]
    encodings_s = r["ours_all"][clock]
    # the traced paths' own cost: the same epoch collated with and without paths
    trace_s = max(
        r["collate_epoch_bucketed"][clock] - r["collate_epoch_bucketed_no_paths"][clock], 0
    )
    return {
        "ours_encodings_all": graphs / encodings_s,
        "ours_encodings_subset": subset / r["ours_subset"][clock],
        "ours_collate_bucketed": graphs / r["collate_epoch_bucketed"][clock],
        "ours_encodings_plus_traced_paths": graphs / (encodings_s + trace_s),
        "ours_encodings_plus_collate": graphs / (encodings_s + r["collate_epoch_bucketed"][clock]),
        "networkx_paths": subset / r["networkx_all_pairs_shortest_path_subset"][clock],
        "networkx_lengths": subset / r["networkx_all_pairs_shortest_path_length_subset"][clock],
    }


def git_commit() -> str:
    """Short hash of HEAD, or ``unknown`` outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def markdown(r: dict) -> str:
    """The result as a small markdown table."""

    def row(name: str, graphs: int, timing: dict[str, float], extra: str = "") -> str:
        per_s = graphs / timing["wall_s"]
        return (
            f"| {name} | {graphs:,} | {timing['wall_s']:.2f} | {timing['cpu_s']:.2f} "
            f"| {per_s:,.0f} | {extra} |"
        )

    lines = [
        f"molhiv structural encodings: {r['machine']}, {r['cores']} cores "
        f"({r['torch_threads']} torch threads), {r['date']}, commit {r['commit']}, "
        f"load average {r['load_average_1min'][0]:.1f} -> {r['load_average_1min'][1]:.1f}; "
        f"{r['graphs']:,} graphs ({r['skipped_smiles']} SMILES smiles2graph cannot featurize "
        f"skipped), featurized in {r['featurize_s']:.1f} s",
        "",
        "| what | graphs | wall s | CPU s | graphs/s | note |",
        "|---|---:|---:|---:|---:|---|",
        row("ours: distances + next hops", r["graphs"], r["ours_all"], "all of molhiv"),
        row("ours: distances + next hops", r["subset_graphs"], r["ours_subset"], "subset"),
        row(
            "ours: distances + next hops, index ties",
            r["graphs"],
            r["ours_all_index_ties"],
            "all of molhiv; pretraining's paths",
        ),
        row(
            "ours: collate, size buckets",
            r["graphs"],
            r["collate_epoch_bucketed"],
            f"dense batches of {r['batch_size']} with paths (max_hops={r['max_hops']}); "
            f"mean padded {r['mean_padded_bucketed']:.1f} atoms",
        ),
        row(
            "ours: collate, size buckets, no paths",
            r["graphs"],
            r["collate_epoch_bucketed_no_paths"],
            "max_hops=0: the difference is the path tracing",
        ),
        row(
            "ours: collate, random batches",
            r["graphs"],
            r["collate_epoch_random"],
            f"mean padded {r['mean_padded_random']:.1f} atoms",
        ),
        row(
            "networkx all_pairs_shortest_path",
            r["subset_graphs"],
            r["networkx_all_pairs_shortest_path_subset"],
            "subset, graph construction not charged",
        ),
        row(
            "networkx all_pairs_shortest_path_length",
            r["subset_graphs"],
            r["networkx_all_pairs_shortest_path_length_subset"],
            "subset, distances only",
        ),
        "",
        *(speedups(r, clock) for clock in ("wall_s", "cpu_s")),
        f"- Padding: {r['mean_padded_bucketed']:.1f} vs {r['mean_padded_random']:.1f} atoms, "
        f"collate epoch {r['collate_epoch_bucketed']['wall_s']:.1f} s vs "
        f"{r['collate_epoch_random']['wall_s']:.1f} s (wall).",
    ]
    return "\n".join(lines)


def speedups(r: dict, clock: str) -> str:
    """One line: our rates against networkx ``all_pairs_shortest_path`` by one clock."""
    rates = r["rates_wall" if clock == "wall_s" else "rates_cpu"]
    networkx = rates["networkx_paths"]
    encoded = rates["ours_encodings_all"]
    traced = rates["ours_encodings_plus_traced_paths"]
    collated = rates["ours_encodings_plus_collate"]
    return (
        f"- By {clock[:-2]} time: distances + next hops {encoded:,.0f} graphs/s "
        f"({encoded / networkx:.1f}x networkx all_pairs_shortest_path, "
        f"{networkx:,.0f} graphs/s); + traced paths (max_hops={r['max_hops']}) {traced:,.0f} "
        f"({traced / networkx:.1f}x); + the whole size-bucketed collate {collated:,.0f} "
        f"({collated / networkx:.1f}x)."
    )


def append_result(result: dict, path: Path) -> None:
    """Append the record to the JSON list in ``path`` (written atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = json.loads(path.read_text()) if path.exists() else []
    records.append(result)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(records, indent=2) + "\n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hiv", type=Path, default=HIV, help="hiv.csv.gz (MoleculeNet)")
    parser.add_argument("--subset-every", type=int, default=8, help="networkx on every k-th")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-hops", type=int, default=5)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = run(args)
    print(markdown(result))
    append_result(result, args.results)


if __name__ == "__main__":
    main()
