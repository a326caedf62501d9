"""Dense batches (values by hand, padding invariance) and the size-bucketed batch sampler."""

from __future__ import annotations

import csv
import math
import pickle
from dataclasses import fields
from pathlib import Path

import networkx as nx
import pytest
import torch
from ogb.utils import smiles2graph
from rdkit import Chem, RDLogger
from torch.utils.data import DataLoader
from torch_geometric.data import Data
from torch_geometric.utils import from_networkx

from graphsep.frontends.graph.collate import GraphCollator, collate_graphs
from graphsep.frontends.graph.constants import (
    CLS_DISTANCE,
    NO_EDGE,
    PAD_DISTANCE,
    UNREACHABLE_DISTANCE,
)
from graphsep.frontends.graph.encoded_dataset import EncodedDataset
from graphsep.frontends.graph.encodings import StructuralEncoding
from graphsep.training.sampler import SizeBucketBatchSampler

MOLECULENET = Path(__file__).resolve().parents[2] / "shared" / "data" / "moleculenet"
needs_data = pytest.mark.skipif(not MOLECULENET.is_dir(), reason=f"no real data at {MOLECULENET}")
C, P = CLS_DISTANCE, PAD_DISTANCE


def mol_graph(smiles: str, y: list[float] | None = None) -> Data:
    g = smiles2graph(smiles)
    return StructuralEncoding()(
        Data(
            x=torch.from_numpy(g["node_feat"]),
            edge_index=torch.from_numpy(g["edge_index"]),
            edge_attr=torch.from_numpy(g["edge_feat"]),
            y=None if y is None else torch.tensor([y]),
            num_nodes=g["num_nodes"],
        )
    )


@pytest.fixture(scope="module")
def bbbp_sizes() -> torch.Tensor:
    """Heavy-atom counts of the 2,039 BBBP molecules (RDKit, unsanitized: every row parses)."""
    if not MOLECULENET.is_dir():
        pytest.skip(f"no real data at {MOLECULENET}")
    RDLogger.DisableLog("rdApp.*")
    with open(MOLECULENET / "bbbp.csv") as f:
        smiles = [row["smiles"] for row in csv.DictReader(f)]
    return torch.tensor([Chem.MolFromSmiles(s, sanitize=False).GetNumAtoms() for s in smiles])


def test_ethanol_salt_batch_by_hand():
    ethanol = mol_graph("CCO", y=[1.0])
    salt = mol_graph("[Na+].[Cl-]", y=[float("nan")])
    batch = collate_graphs([ethanol, salt], max_hops=2).chunks[0]
    assert batch.num_graphs == 2 and batch.num_nodes.tolist() == [3, 2]
    assert batch.mask.tolist() == [[True] * 4, [True, True, True, False]]
    assert batch.degree.tolist() == [[0, 1, 2, 1], [0, 0, 0, 0]]
    assert batch.distance.tolist() == [
        [[C, C, C, C], [C, 0, 1, 2], [C, 1, 0, 1], [C, 2, 1, 0]],
        [[C, C, C, P], [C, 0, -1, P], [C, -1, 0, P], [P, P, P, P]],
    ]
    # ethanol's edge rows 0:C0->C1 1:C1->C0 2:C1->O2 3:O2->C1; the salt has no bonds
    n = NO_EDGE
    assert batch.path_edges[0].tolist() == [
        [[n, n], [n, n], [n, n], [n, n]],
        [[n, n], [n, n], [0, n], [0, 2]],
        [[n, n], [1, n], [n, n], [2, n]],
        [[n, n], [3, 1], [3, n], [n, n]],
    ]
    assert (batch.path_edges[1] == NO_EDGE).all()
    assert batch.edge_index.tolist() == [[1, 2, 2, 3], [2, 1, 3, 2]]  # into the (B * T) grid
    assert torch.equal(batch.edge_attr, ethanol.edge_attr)
    assert batch.x.dtype == torch.long and batch.x.shape == (2, 4, 9)
    assert (batch.x[:, 0] == 0).all() and (batch.x[1, 3] == 0).all()
    assert torch.equal(batch.x[1, 1:3], salt.x)
    y = collate_graphs([ethanol, salt], max_hops=2).y
    assert y.dtype == torch.float32 and y[0].tolist() == [1.0]
    assert y[1].isnan().all()


def test_acetic_acid_bonds_along_paths():
    # CC(=O)O: the path O2 -> C1 -> O3 crosses the double bond, then the single one
    batch = collate_graphs([mol_graph("CC(=O)O")], max_hops=3).chunks[0]
    bond_type = batch.edge_attr[:, 0]
    path = batch.path_edges[0, 3, 4]  # slots are atoms + 1
    assert path.tolist() == [3, 4, NO_EDGE]
    assert bond_type[path[:2]].tolist() == [1, 0]  # OGB bond types: 0 single, 1 double


@needs_data
def test_padding_changes_nothing():
    with open(MOLECULENET / "bbbp.csv") as f:
        rows = [row["smiles"] for _, row in zip(range(40), csv.DictReader(f), strict=False)]
    # the smallest of these BBBP rows, then batched with the three largest
    graphs = sorted((mol_graph(s) for s in rows), key=lambda g: g.num_nodes)
    small, large = graphs[0], graphs[-3:]
    alone = collate_graphs([small], max_hops=5).chunks[0]
    for position in range(3):
        graphs = large[:position] + [small] + large[position:]
        batch = collate_graphs(graphs, max_hops=5).chunks[0]
        t = small.num_nodes + 1
        for field in ("x", "mask", "degree"):
            assert torch.equal(getattr(batch, field)[position, :t], getattr(alone, field)[0])
        assert torch.equal(batch.distance[position, :t, :t], alone.distance[0])
        # edge rows shift with the graphs before; the bonds they point at do not
        batch_path, alone_path = batch.path_edges[position, :t, :t], alone.path_edges[0]
        assert torch.equal(batch_path == NO_EDGE, alone_path == NO_EDGE)
        real = alone_path != NO_EDGE
        assert torch.equal(batch.edge_attr[batch_path[real]], alone.edge_attr[alone_path[real]])
        assert (batch.distance[position, t:] == PAD_DISTANCE).all()
        assert (batch.path_edges[position, t:] == NO_EDGE).all()
        assert not batch.mask[position, t:].any()


def test_edge_index_points_at_the_right_slots():
    graphs = [mol_graph("CC(=O)O"), mol_graph("CCO"), mol_graph("c1ccccc1")]
    batch = collate_graphs(graphs, max_hops=5).chunks[0]
    flat_x = batch.x.view(-1, 9)  # (B * T, F)
    for side in (0, 1):
        expected = torch.cat([g.x[g.edge_index[side]] for g in graphs])
        assert torch.equal(flat_x[batch.edge_index[side]], expected)


def test_float_features_without_edge_attr_and_without_encodings():
    graph, star = from_networkx(nx.path_graph(4)), from_networkx(nx.star_graph(2))
    graph.x, star.x = torch.rand(4, 3), torch.rand(3, 3)
    batch = collate_graphs([graph, star], max_hops=2).chunks[0]
    assert batch.edge_attr is None and collate_graphs([graph, star], max_hops=2).y is None
    assert batch.x.dtype == torch.float32 and torch.equal(batch.x[0, 1:], graph.x)
    assert batch.distance[0, 1, 1:].tolist() == [0, 1, 2, 3]
    assert "distance" not in graph  # computed on copies


def test_collate_names_the_graph_missing_edge_attr():
    bare = mol_graph("CC")
    bare.edge_attr = None
    with pytest.raises(ValueError, match="graph 1 .*edge_attr"):
        collate_graphs([mol_graph("CO"), bare], max_hops=5)


def test_unreachable_pairs_keep_their_bucket():
    batch = collate_graphs([mol_graph("[Na+].[Cl-]")], max_hops=5).chunks[0]
    assert batch.distance[0, 1, 2] == UNREACHABLE_DISTANCE
    assert batch.path_edges.shape == (1, 3, 3, 5) and batch.edge_attr.shape == (0, 3)


def test_collator_pickles_into_dataloader_workers(tmp_path):
    graphs = [mol_graph(s, y=[i % 2]) for i, s in enumerate(["CCO", "CC(=O)O", "CCN", "C1CC1"])]
    dataset = EncodedDataset(graphs, cache_path=tmp_path / "enc.pt", progress=False)
    collator = pickle.loads(pickle.dumps(GraphCollator(max_hops=3)))
    sampler = SizeBucketBatchSampler(dataset.sizes, batch_size=2, seed=1)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collator, num_workers=1)
    batches = list(loader)
    assert len(batches) == 2 and sum(b.num_graphs for b in batches) == 4
    assert batches[0].chunks[0].path_edges.shape[-1] == 3 and batches[0].y.dtype == torch.float32


def _tensors(batch) -> dict[str, torch.Tensor]:
    """Every tensor of a batch by field name (chunk index first), and its targets."""
    return {
        "y": batch.y,
        **{
            f"{i}.{f.name}": getattr(chunk, f.name)
            for i, chunk in enumerate(batch.chunks)
            for f in fields(chunk)
            if getattr(chunk, f.name) is not None
        },
    }


@needs_data
@pytest.mark.parametrize("chunks", [1, 3])
def test_worker_batches_equal_in_process_collate(tmp_path, chunks):
    with open(MOLECULENET / "bbbp.csv") as f:
        rows = list(csv.DictReader(f))[:48]
    RDLogger.DisableLog("rdApp.*")
    graphs = [
        mol_graph(r["smiles"], y=[float(r["p_np"])])
        for r in rows
        if Chem.MolFromSmiles(r["smiles"])
    ]
    dataset = EncodedDataset(graphs, cache_path=tmp_path / "enc.pt", progress=False)
    collator = GraphCollator(max_hops=5, chunks=chunks)

    def batches(workers: int) -> list:
        sampler = SizeBucketBatchSampler(dataset.sizes, batch_size=16, seed=2)
        loader = DataLoader(
            dataset, batch_sampler=sampler, collate_fn=collator, num_workers=workers
        )
        return list(loader)

    in_process, from_workers = batches(0), batches(2)
    assert len(in_process) == len(from_workers) == 3
    for here, there in zip(in_process, from_workers, strict=True):
        a, b = _tensors(here), _tensors(there)
        assert a.keys() == b.keys() and len(a) >= 8 * chunks
        for name in a:
            assert torch.equal(a[name], b[name]), name


def all_batches(sampler: SizeBucketBatchSampler) -> list[list[int]]:
    return list(iter(sampler))


@needs_data
def test_shards_are_disjoint_and_cover_everything(bbbp_sizes):
    ranks = [
        SizeBucketBatchSampler(bbbp_sizes, 64, num_replicas=3, rank=r, seed=5) for r in range(3)
    ]
    per_rank = [all_batches(s) for s in ranks]
    assert {len(b) for b in per_rank} == {len(ranks[0])} == {math.ceil(math.ceil(2039 / 64) / 3)}
    seen = [i for batches in per_rank for batch in batches for i in batch]
    assert set(seen) == set(range(2039))
    # 32 batches over 3 ranks: one batch is repeated from the start, as DistributedSampler pads
    assert len(seen) - 2039 <= 64
    even = [
        all_batches(SizeBucketBatchSampler(bbbp_sizes, 64, num_replicas=2, rank=r, seed=5))
        for r in range(2)
    ]
    flat = [sorted(i for batch in batches for i in batch) for batches in even]
    assert not set(flat[0]) & set(flat[1]) and len(flat[0]) + len(flat[1]) == 2039
    dropped = SizeBucketBatchSampler(bbbp_sizes, 64, num_replicas=3, rank=2, drop_last=True)
    assert len(dropped) == 31 // 3 and all(len(b) == 64 for b in dropped)


@needs_data
def test_uneven_evaluation_shards_hold_every_graph_once(bbbp_sizes):
    # 8 size-sorted batches over 3 ranks: 3, 3 and 2 batches, nothing repeated
    ranks = [
        SizeBucketBatchSampler(bbbp_sizes, 256, shuffle=False, num_replicas=3, rank=r,
                               even_shards=False)
        for r in range(3)
    ]  # fmt: skip
    per_rank = [all_batches(s) for s in ranks]
    assert [len(b) for b in per_rank] == [len(s) for s in ranks] == [3, 3, 2]
    seen = sorted(i for batches in per_rank for batch in batches for i in batch)
    assert seen == list(range(2039))
    one_rank = all_batches(SizeBucketBatchSampler(bbbp_sizes, 256, shuffle=False))
    assert per_rank[1] == one_rank[1::3]  # the same size-sorted batches, dealt out in turn


@needs_data
def test_evaluation_batches_of_large_molecules_hold_fewer(bbbp_sizes):
    budget = 64 * 64**2  # 64 graphs padded to 64 tokens ([CLS] + 63 atoms)
    sampler = SizeBucketBatchSampler(bbbp_sizes, 64, shuffle=False, max_padded_pairs=budget)
    batches = all_batches(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(2039))
    sizes = torch.as_tensor(bbbp_sizes)
    largest = [int(sizes[b].max()) for b in batches]
    fits = [len(b) * (n + 1) ** 2 <= budget for b, n in zip(batches, largest, strict=True)]
    assert all(fit or len(b) == 1 for fit, b in zip(fits, batches, strict=True))
    assert len(batches[0]) == 64 and largest[0] < 63  # small molecules: full batches
    assert len(batches[-1]) < 30 and largest[-1] == int(sizes.max())  # BBBP's largest: 132
    with pytest.raises(ValueError, match="max_padded_pairs is for the evaluation order"):
        SizeBucketBatchSampler(bbbp_sizes, 64, shuffle=True, max_padded_pairs=budget)


@needs_data
def test_reproducible_and_different_per_epoch(bbbp_sizes):
    a = SizeBucketBatchSampler(bbbp_sizes, 64, seed=3)
    first = all_batches(a)
    assert all_batches(SizeBucketBatchSampler(bbbp_sizes, 64, seed=3)) == first
    a.set_epoch(1)
    assert all_batches(a) != first
    assert all_batches(SizeBucketBatchSampler(bbbp_sizes, 64, seed=4)) != first
    assert sorted(i for batch in first for i in batch) == list(range(2039))


@needs_data
def test_batches_are_size_homogeneous(bbbp_sizes):
    def mean_padded(batches: list[list[int]]) -> float:
        return sum(bbbp_sizes[b].max().item() for b in batches) / len(batches)

    bucketed = mean_padded(all_batches(SizeBucketBatchSampler(bbbp_sizes, 64)))
    generator = torch.Generator().manual_seed(0)
    random = mean_padded(torch.randperm(2039, generator=generator).split(64))
    assert bucketed < 0.6 * random


@needs_data
def test_eval_order_is_sorted_and_fixed(bbbp_sizes):
    sampler = SizeBucketBatchSampler(bbbp_sizes, 64, shuffle=False)
    order = [i for batch in sampler for i in batch]
    assert torch.equal(bbbp_sizes[order], bbbp_sizes.sort().values)
    sampler.set_epoch(7)
    assert [i for batch in sampler for i in batch] == order


@needs_data
def test_resume_yields_the_tail_of_the_same_epoch(bbbp_sizes):
    sampler = SizeBucketBatchSampler(bbbp_sizes, 64, num_replicas=2, rank=1, seed=9)
    sampler.set_epoch(4)
    full = all_batches(sampler)
    sampler.set_epoch(4, start_batch=5)
    assert len(sampler) == len(full) - 5 and all_batches(sampler) == full[5:]
    sampler.start_batch = 0
    assert all_batches(sampler) == full
