"""Structural encodings against networkx on real molecules, and by hand on tiny ones."""

from __future__ import annotations

import csv
import gzip
import re
import warnings
from itertools import islice
from pathlib import Path

import networkx as nx
import pytest
import torch
from ogb.utils import smiles2graph
from torch_geometric.data import Data, InMemoryDataset
from torch_geometric.utils import from_networkx

from graphsep.frontends.graph import encoded_dataset
from graphsep.frontends.graph import paths as graph_paths
from graphsep.frontends.graph.constants import NO_EDGE, UNREACHABLE_DISTANCE
from graphsep.frontends.graph.encoded_dataset import EncodedDataset, encode_dataset
from graphsep.frontends.graph.encodings import StructuralEncoding, structural_encodings
from graphsep.frontends.graph.paths import trace_path_edges
from graphsep.molecules.table import DataError

MOLECULENET = Path(__file__).resolve().parents[2] / "shared" / "data" / "moleculenet"
needs_data = pytest.mark.skipif(not MOLECULENET.is_dir(), reason=f"no real data at {MOLECULENET}")


def mol_graph(smiles: str) -> Data:
    g = smiles2graph(smiles)
    return Data(
        x=torch.from_numpy(g["node_feat"]),
        edge_index=torch.from_numpy(g["edge_index"]),
        edge_attr=torch.from_numpy(g["edge_feat"]),
        num_nodes=g["num_nodes"],
    )


def read_smiles(path: Path, count: int) -> list[str]:
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as f:
        return [row["smiles"] for row in islice(csv.DictReader(f), count)]


@pytest.fixture(scope="module")
def molecules() -> list[Data]:
    """Graphs of 150 BBBP (14 salts among them) and 100 HIV rows RDKit sanitizes."""
    if not MOLECULENET.is_dir():
        pytest.skip(f"no real data at {MOLECULENET}")
    smiles = read_smiles(MOLECULENET / "bbbp.csv", 200) + read_smiles(
        MOLECULENET / "hiv.csv.gz", 100
    )
    graphs = []
    for s in smiles:
        try:
            graphs.append(mol_graph(s))
        except AttributeError:  # smiles2graph on a molecule RDKit refuses (None)
            continue
    return graphs


def networkx_distance(graph: Data) -> torch.Tensor:
    """(n, n) distances from networkx, UNREACHABLE_DISTANCE between fragments."""
    g = nx.Graph()
    g.add_nodes_from(range(graph.num_nodes))
    g.add_edges_from(graph.edge_index.t().tolist())
    dense = torch.full((graph.num_nodes, graph.num_nodes), UNREACHABLE_DISTANCE)
    for i, lengths in nx.all_pairs_shortest_path_length(g):
        dense[i, list(lengths)] = torch.tensor(list(lengths.values()))
    return dense


@needs_data
def test_distances_equal_networkx_on_real_molecules(molecules):
    disconnected = 0
    for graph, encoding in zip(molecules, structural_encodings(molecules), strict=True):
        n = graph.num_nodes
        expected = networkx_distance(graph)
        disconnected += bool((expected == UNREACHABLE_DISTANCE).any())
        assert encoding.distance.dtype == torch.int16 and encoding.distance.shape == (n * n,)
        assert torch.equal(encoding.distance.view(n, n).long(), expected)
        degree = torch.bincount(graph.edge_index[0], minlength=n)
        assert torch.equal(encoding.degree.long(), degree)
    assert len(molecules) >= 200 and disconnected >= 10


@needs_data
@pytest.mark.parametrize("canonical_paths", [True, False])
def test_next_hop_walks_a_shortest_path(molecules, canonical_paths):
    encodings = structural_encodings(molecules, canonical_paths=canonical_paths)
    for graph, encoding in zip(molecules, encodings, strict=True):
        n = graph.num_nodes
        distance = encoding.distance.view(n, n).long()
        next_hop = encoding.next_hop.view(n, n).long()
        adjacency = torch.zeros(n, n, dtype=torch.bool)
        adjacency[graph.edge_index[0], graph.edge_index[1]] = True
        far = distance > 0
        i, j = far.nonzero(as_tuple=True)
        k = next_hop[i, j]
        assert adjacency[i, k].all()  # each hop is a bond
        assert torch.equal(distance[k, j], distance[i, j] - 1)  # one hop closer: length = d
        assert torch.equal(next_hop.diagonal(), torch.arange(n))
        assert (next_hop[distance == UNREACHABLE_DISTANCE] == NO_EDGE).all()
        # walking d hops from i reaches j
        reachable = distance >= 0
        walker = torch.arange(n).view(n, 1).expand(n, n)
        for hop in range(int(distance.max()) + 1):
            arrived = walker == torch.arange(n)
            assert torch.equal(arrived[reachable], (distance <= hop)[reachable])
            walker = torch.where(reachable, next_hop.clamp(min=0).gather(0, walker), walker)


@needs_data
def test_index_ties_dense_pass_equals_the_level_pass(molecules, monkeypatch):
    fast = structural_encodings(molecules, canonical_paths=False)
    calls = []

    def by_levels(distance, neighbours, local):  # every edge code 0: ties by index alone
        calls.append(len(neighbours))
        zero_codes = [(t, torch.zeros_like(t)) for t in neighbours]
        return graph_paths._next_hop(distance, zero_codes, local)

    monkeypatch.setattr(graph_paths, "_next_hop_by_index", by_levels)
    slow = structural_encodings(molecules, canonical_paths=False)
    assert calls
    assert all(torch.equal(a.next_hop, b.next_hop) for a, b in zip(fast, slow, strict=True))


def test_tiny_molecules_by_hand():
    ethanol, acetic_acid, salt = structural_encodings(
        [mol_graph("CCO"), mol_graph("CC(=O)O"), mol_graph("[Na+].[Cl-]")]
    )
    assert ethanol.degree.tolist() == [1, 2, 1]
    assert ethanol.distance.view(3, 3).tolist() == [[0, 1, 2], [1, 0, 1], [2, 1, 0]]
    assert ethanol.next_hop.view(3, 3).tolist() == [[0, 1, 1], [0, 1, 2], [1, 1, 2]]
    assert acetic_acid.degree.tolist() == [1, 3, 1, 1]
    assert acetic_acid.distance.view(4, 4).tolist() == [
        [0, 1, 2, 2],
        [1, 0, 1, 1],
        [2, 1, 0, 2],
        [2, 1, 2, 0],
    ]
    assert acetic_acid.next_hop.view(4, 4).tolist() == [
        [0, 1, 1, 1],
        [0, 1, 2, 3],
        [1, 1, 2, 1],
        [1, 1, 1, 3],
    ]
    assert salt.degree.tolist() == [0, 0]
    assert salt.distance.view(2, 2).tolist() == [[0, -1], [-1, 0]]
    assert salt.next_hop.view(2, 2).tolist() == [[0, -1], [-1, 1]]


def test_tied_shortest_paths_go_by_bond_features():
    # cyclohexene C1=CCCCC1: atom 3 lies opposite atom 0, via the double bond 0=1 or via 5
    canonical, by_index = (
        structural_encodings([mol_graph("C1=CCCCC1")], canonical_paths=c)[0] for c in (True, False)
    )
    assert canonical.next_hop.view(6, 6)[0, 3] == 5  # single bonds sort before the double
    assert by_index.next_hop.view(6, 6)[0, 3] == 1  # the smaller index
    # the canonical choice does not move with the numbering: atom 0 as atom 5, 5 as 0
    flipped = mol_graph("C1CCCC=C1")  # the same ring, its double bond now 4=5
    assert structural_encodings([flipped])[0].next_hop.view(6, 6)[5, 2] == 0


def test_trace_path_edges_by_hand():
    # acetic acid CC(=O)O: smiles2graph edge rows 0:0->1 1:1->0 2:1->2 3:2->1 4:1->3 5:3->1
    encoding = structural_encodings([mol_graph("CC(=O)O")])[0]
    edge_id = torch.full((1, 4, 4), NO_EDGE)
    edge_id[0, [0, 1, 1, 2, 1, 3], [1, 0, 2, 1, 3, 1]] = torch.arange(6)
    paths = trace_path_edges(encoding.next_hop.view(1, 4, 4).long(), edge_id, max_hops=3)
    assert paths.shape == (1, 4, 4, 3)
    assert paths[0, 0, 2].tolist() == [0, 2, NO_EDGE]  # C0 -> C1 -> O2
    assert paths[0, 2, 3].tolist() == [3, 4, NO_EDGE]  # O2 -> C1 -> O3
    assert paths[0, 3, 0].tolist() == [5, 1, NO_EDGE]
    assert paths[0, 1, 3].tolist() == [4, NO_EDGE, NO_EDGE]
    assert (paths[0].diagonal(dim1=0, dim2=1) == NO_EDGE).all()


def test_trace_path_edges_cuts_long_paths_and_skips_unreachable():
    # octane and a salt in one padded batch: C0 -> C7 is 7 bonds, only the first 3 kept
    octane, salt = mol_graph("CCCCCCCC"), mol_graph("[Na+].[Cl-]")
    encodings_ = structural_encodings([octane, salt])
    next_hop = torch.full((2, 8, 8), NO_EDGE)
    next_hop[0] = encodings_[0].next_hop.view(8, 8).long()
    next_hop[1, :2, :2] = encodings_[1].next_hop.view(2, 2).long()
    edge_id = torch.full((2, 8, 8), NO_EDGE)
    edge_id[0, octane.edge_index[0], octane.edge_index[1]] = torch.arange(14)
    paths = trace_path_edges(next_hop, edge_id, max_hops=3)
    # smiles2graph: bond b is edge rows 2b (forwards) and 2b + 1 (backwards)
    assert paths[0, 0, 7].tolist() == [0, 2, 4]
    assert paths[0, 7, 0].tolist() == [13, 11, 9]
    assert (paths[1] == NO_EDGE).all()
    assert trace_path_edges(next_hop, edge_id, max_hops=0).shape == (2, 8, 8, 0)


def test_directed_edges_are_followed_in_their_direction():
    # 0 -> 1 -> 2 and nothing back: 2 reaches no one
    graph = Data(edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=3)
    encoding = structural_encodings([graph])[0]
    assert encoding.distance.view(3, 3).tolist() == [[0, 1, 2], [-1, 0, 1], [-1, -1, 0]]
    assert encoding.next_hop.view(3, 3).tolist() == [[0, 1, 1], [-1, 1, 2], [-1, -1, 2]]
    assert encoding.degree.tolist() == [1, 1, 0]


def test_transform_on_a_networkx_graph_leaves_the_input_alone():
    data = from_networkx(nx.cycle_graph(5))
    encoded = StructuralEncoding()(data)
    assert "distance" not in data
    assert encoded.distance.view(5, 5)[0].tolist() == [0, 1, 2, 2, 1]
    assert encoded.degree.tolist() == [2] * 5
    assert encoded.next_hop.dtype == torch.int16


def test_empty_and_single_atom_graphs():
    empty = Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=0)
    atom = mol_graph("C")
    out = structural_encodings([empty, atom, empty])
    assert out[0].distance.numel() == 0 and out[0].degree.numel() == 0
    assert out[1].distance.tolist() == [0] and out[1].next_hop.tolist() == [0]


@needs_data
def test_chunks_do_not_change_results(molecules):
    small_chunks = structural_encodings(molecules[:60], max_pairs=2_000)
    one_chunk = structural_encodings(molecules[:60], max_pairs=2**24)
    for a, b in zip(small_chunks, one_chunk, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


class TinyDataset(InMemoryDataset):
    """A PyG in-memory dataset with OGB's processed_dir layout, built from a list of graphs."""

    def __init__(self, root: Path, graphs: list[Data]) -> None:
        self.graphs = graphs
        super().__init__(str(root))
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self) -> list[str]:
        return []

    @property
    def processed_file_names(self) -> list[str]:
        return ["geometric_data_processed.pt"]

    def download(self) -> None:
        pass

    def process(self) -> None:
        self.save(self.graphs, self.processed_paths[0])


@needs_data
def test_encode_dataset_concatenates_in_dataset_order(molecules):
    flat = encode_dataset(molecules[:40], batch_graphs=7, progress=False)
    for g, encoding in enumerate(structural_encodings(molecules[:40])):
        nodes = slice(flat["node_ptr"][g], flat["node_ptr"][g + 1])
        pairs = slice(flat["pair_ptr"][g], flat["pair_ptr"][g + 1])
        assert torch.equal(flat["degree"][nodes], encoding.degree)
        assert torch.equal(flat["distance"][pairs], encoding.distance)
        assert torch.equal(flat["next_hop"][pairs], encoding.next_hop)


@needs_data
def test_encoded_dataset_caches_beside_the_processed_file(molecules, tmp_path, monkeypatch):
    dataset = TinyDataset(tmp_path, molecules[:50])
    encoded = EncodedDataset(dataset, progress=False)
    cache = Path(dataset.processed_dir) / "graphormer_encodings.pt"
    assert cache.exists() and not list(cache.parent.glob("*.tmp*"))
    assert torch.load(cache, weights_only=True)["distance"].dtype == torch.int16
    assert torch.equal(encoded.sizes, torch.tensor([g.num_nodes for g in molecules[:50]]))

    def no_encoding(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(encoded_dataset, "encode_dataset", no_encoding)
    reloaded = EncodedDataset(dataset)
    reference = structural_encodings(molecules[:50])
    item = reloaded[7]
    assert torch.equal(item.x, molecules[7].x)
    assert torch.equal(item.distance, reference[7].distance)
    assert torch.equal(item.next_hop, reference[7].next_hop)

    split = reloaded[torch.tensor([3, 9, 11])]
    assert len(split) == 3 and split.sizes.tolist() == [molecules[i].num_nodes for i in [3, 9, 11]]
    assert torch.equal(split[1].distance, reference[9].distance)
    assert torch.equal(split[1:][0].next_hop, reference[9].next_hop)
    mask = torch.zeros(50, dtype=torch.bool)
    mask[[5, 6]] = True
    assert torch.equal(reloaded.index_select(mask)[1].degree, reference[6].degree)
    with pytest.raises(ValueError, match="index_select"):
        EncodedDataset(dataset[:10])


@needs_data
def test_stale_cache_is_rebuilt(molecules, tmp_path):
    cache = tmp_path / "enc.pt"
    EncodedDataset(molecules[:20], cache_path=cache, progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt = EncodedDataset(molecules[20:45], cache_path=cache, progress=False)
    assert any("re-encoding" in str(w.message) for w in caught)
    assert torch.equal(rebuilt[0].distance, structural_encodings([molecules[20]])[0].distance)
    # a cache from before canonical paths (no version) is rebuilt too, not trusted
    store = torch.load(cache, weights_only=True)
    del store["version"]
    torch.save(store, cache)
    with pytest.warns(UserWarning, match="cache version 1, not 2"):
        EncodedDataset(molecules[20:45], cache_path=cache, progress=False)
    assert "distance" not in molecules[20]  # items are shallow copies


@needs_data
@pytest.mark.parametrize("keep", [0, 300], ids=["empty", "truncated"])
def test_damaged_cache_is_refused_naming_it(molecules, tmp_path, keep):
    cache = tmp_path / "enc.pt"
    EncodedDataset(molecules[:20], cache_path=cache, progress=False)
    cache.write_bytes(cache.read_bytes()[:keep])  # as a killed copy or a full disk leaves it
    with pytest.raises(DataError, match=re.escape(f"{cache} is damaged")) as err:
        EncodedDataset(molecules[:20], cache_path=cache, progress=False)
    assert str(err.value).endswith(f"delete it (rm '{cache}') and run again to rebuild it")
    cache.unlink()
    rebuilt = EncodedDataset(molecules[:20], cache_path=cache, progress=False)
    assert torch.equal(rebuilt[3].distance, structural_encodings([molecules[3]])[0].distance)
