from dataclasses import fields, replace

import networkx as nx
import pytest
import torch
from molecules import SHARED_DATA, bbbp_graphs, mol_graph, permute_graph
from sklearn.metrics import roc_auc_score
from torch_geometric.utils import from_networkx

from graphsep.core import ClsHead, ClsPredictor, CoreConfig
from graphsep.frontends.graph.collate import collate_graphs
from graphsep.frontends.graph.config import GraphConfig
from graphsep.frontends.graph.encodings import StructuralEncoding
from graphsep.frontends.graph.frontend import graph_encoder
from graphsep.training.optim import build_optimizer

pytestmark = pytest.mark.skipif(not SHARED_DATA.exists(), reason="needs ../shared/data")
NORMS = ["sep", "share"]


def small_model(norm: str, **overrides) -> ClsPredictor:
    """A seeded width-32 graph model; ``overrides`` are ``CoreConfig`` or ``GraphConfig`` keys."""
    torch.manual_seed(0)
    core_keys = {f.name for f in fields(CoreConfig)}
    core = {k: v for k, v in overrides.items() if k in core_keys}
    graph = {k: v for k, v in overrides.items() if k not in core_keys}
    core = CoreConfig(**{"dim": 32, "depth": 2, "num_heads": 4, "norm": norm, **core})
    encoder = graph_encoder(core, GraphConfig(**graph))
    return ClsPredictor(encoder, ClsHead(encoder.dim, num_outputs=1))


def warmed_up(model: ClsPredictor, graphs) -> ClsPredictor:
    """Run training batches so BatchNorm running stats are not the trivial init."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(collate_graphs(graphs, max_hops=5))
    return model.eval()


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("local_layers", [0, 2])
def test_atom_order_does_not_change_the_cls_output(norm, local_layers):
    graphs = bbbp_graphs(64)
    model = warmed_up(small_model(norm, local_layers=local_layers), graphs[:8])
    generator = torch.Generator().manual_seed(1)
    perms = [torch.randperm(g.num_nodes, generator=generator) for g in graphs]
    identity = [torch.arange(g.num_nodes) for g in graphs]

    def cls_output(orders, canonical_paths=True):
        pairs = zip(graphs, orders, strict=True)
        renumbered = [permute_graph(g, order, canonical_paths) for g, order in pairs]
        with torch.no_grad():
            return model.embed(collate_graphs(renumbered, max_hops=5))

    torch.testing.assert_close(cls_output(identity), cls_output(perms), atol=1e-5, rtol=1e-5)
    # ties broken by atom index alone (as Graphormer's Floyd-Warshall does) change the output on
    # rings whose bonds differ (C1=CCCCC1), so these molecules do test tied paths
    moved = cls_output(identity, False) - cls_output(perms, False)
    assert moved.abs().amax(dim=1).gt(1e-4).sum() >= 8  # 12 (sep) and 13 (share) when written


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("local_layers", [0, 2])
def test_padding_does_not_change_a_graphs_output(norm, local_layers):
    graphs = bbbp_graphs(16)
    model = warmed_up(small_model(norm, local_layers=local_layers), graphs)
    small = min(graphs, key=lambda g: g.num_nodes)
    larger = sorted(graphs, key=lambda g: -g.num_nodes)[:5]
    with torch.no_grad():
        alone = model(collate_graphs([small], max_hops=5))
        batched = model(collate_graphs([*larger, small], max_hops=5))[-1:]
    assert max(g.num_nodes for g in larger) > small.num_nodes + 10
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("local_layers", [0, 2])
def test_every_parameter_gets_a_gradient(norm, local_layers):
    graphs = bbbp_graphs(6) + [mol_graph("[Na+].[Cl-]", 0.0)]
    model = small_model(norm, local_layers=local_layers).train()
    batch = collate_graphs(graphs, max_hops=5)
    chunk = batch.chunks[0]
    chunk.masked_atoms = torch.zeros_like(chunk.mask)
    chunk.masked_atoms[:, 1] = True
    chunk.masked_edges = torch.zeros(chunk.edge_attr.size(0), dtype=torch.bool)
    chunk.masked_edges[::7] = True
    out = model.encoder(batch)
    (model.head(out.cls).sum() + out.tokens[0][chunk.mask].sum()).backward()
    grads = dict(model.named_parameters())
    # Block 0's [CLS] input is the same learned vector for every graph (as in ViT/MAE), so its
    # BatchNorm outputs beta alone and gamma's gradient is zero up to rounding.
    constant_input = "encoder.core.blocks.0.norm1.cls_norm.weight"
    if norm == "sep":
        assert grads.pop(constant_input).grad.abs().max() < 1e-5
    missing = [n for n, p in grads.items() if p.grad is None or not p.grad.any()]
    assert missing == []


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("local_layers", [0, 2])
def test_a_chunked_batch_encodes_as_the_whole_batch(norm, local_layers):
    graphs = bbbp_graphs(40)
    order = torch.argsort(torch.tensor([g.num_nodes for g in graphs]), stable=True)
    whole = collate_graphs(graphs, max_hops=5)
    chunked = collate_graphs(graphs, max_hops=5, chunks=4)
    assert len(whole.chunks) == 1
    assert [c.num_graphs for c in chunked.chunks] == [10, 10, 10, 10]
    assert chunked.chunks[0].mask.size(1) < whole.chunks[0].mask.size(1)  # pads less
    torch.testing.assert_close(chunked.y, whole.y[order])
    models = [
        small_model(norm, dropout=0.0, attn_dropout=0.0, local_layers=local_layers)
        for _ in range(2)
    ]
    # train mode: the [CLS] BatchNorm normalizes over all 40 graphs, chunked or not
    torch.testing.assert_close(
        models[1].train()(chunked), models[0].train()(whole)[order], atol=1e-5, rtol=1e-4
    )
    state = [m.state_dict() for m in models]  # running statistics included
    for key in state[0]:
        torch.testing.assert_close(state[1][key], state[0][key], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(
        models[1].eval()(chunked), models[0].eval()(whole)[order], atol=1e-5, rtol=1e-4
    )


def test_a_non_molecular_graph_with_continuous_features_trains():
    graphs = []
    for seed in range(24):
        g = nx.connected_watts_strogatz_graph(12 + seed % 6, 4, 0.3, seed=seed)
        for node in g.nodes:
            g.nodes[node]["x"] = [float(g.degree[node]), float(seed % 2)]
        for u, v in g.edges:
            g.edges[u, v]["edge_attr"] = [1.0]
        data = from_networkx(g, group_node_attrs=["x"], group_edge_attrs=["edge_attr"])
        data.y = torch.tensor([[float(seed % 2)]])
        graphs.append(StructuralEncoding()(data))
    model = small_model(
        "sep",
        node_kind="continuous",
        node_dims=[2],
        edge_kind="continuous",
        edge_dims=[1],
        max_hops=3,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = collate_graphs(graphs, max_hops=3)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch.y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("norm", NORMS)
def test_small_model_overfits_64_bbbp_molecules(norm):
    graphs = bbbp_graphs(64, start=100)
    model = small_model(norm, dropout=0.0, attn_dropout=0.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    batches = [collate_graphs(graphs[i : i + 32], max_hops=5) for i in (0, 32)]
    model.train()
    for step in range(100):
        batch = batches[step % 2]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch.y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        scores = torch.cat([model(b) for b in batches]).squeeze(1)
    labels = torch.cat([b.y for b in batches]).squeeze(1)
    assert roc_auc_score(labels.numpy(), scores.numpy()) >= 0.95


def test_weight_decay_reaches_only_the_core_and_head_matrices():
    model = small_model("sep")
    optimizer = build_optimizer(model, 1e-3, 0.01)
    decayed, kept = optimizer.param_groups
    assert decayed["weight_decay"] == 0.01 and kept["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed_names = {names[id(p)] for p in decayed["params"]}
    block = ("attn.qkv.weight", "attn.proj.weight", "mlp.fc1.weight", "mlp.fc2.weight")
    depth = len(model.encoder.core.blocks)
    core = {f"encoder.core.blocks.{i}.{w}" for i in range(depth) for w in block}
    assert decayed_names == core | {"head.net.0.weight", "head.net.3.weight"}
    # the front end (lookup tables, per-hop mixing), norms, biases and tokens are not decayed
    kept_names = {names[id(p)] for p in kept["params"]}
    assert "encoder.frontend.embedding.edge_encoding.hop_weight" in kept_names
    assert "encoder.frontend.embedding.cls_token" in kept_names


def test_local_layers_change_the_output_and_hide_masked_bonds():
    graphs = bbbp_graphs(8)
    batch = collate_graphs(graphs, max_hops=5)
    plain = small_model("share").eval()
    local = small_model("share", local_layers=2).eval()
    with torch.no_grad():
        assert not torch.allclose(plain.embed(batch), local.embed(batch), atol=1e-3)
    # a masked bond's own features must not reach any token through the GINE messages
    chunk = batch.chunks[0]
    masked = torch.zeros(chunk.edge_attr.size(0), dtype=torch.bool)
    masked[::5] = True
    changed = chunk.edge_attr.clone()
    changed[masked, 0] = (changed[masked, 0] + 1) % 5  # another bond type

    def tokens(edge_attr, masked_edges):
        chunks = [replace(chunk, edge_attr=edge_attr, masked_edges=masked_edges)]
        return local.encoder(replace(batch, chunks=chunks)).tokens[0]

    with torch.no_grad():
        before = tokens(chunk.edge_attr, masked)
        after = tokens(changed, masked)
        unmasked = tokens(changed, None)
    torch.testing.assert_close(before, after)
    assert not torch.allclose(before, unmasked, atol=1e-4)


def test_local_layer_matrices_are_decayed_and_their_bond_tables_are_not():
    model = small_model("sep", local_layers=1)
    decayed, kept = build_optimizer(model, 1e-3, 0.01).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    decayed_names = {names[id(p)] for p in decayed["params"]}
    kept_names = {names[id(p)] for p in kept["params"]}
    local = "encoder.frontend.local"
    assert {f"{local}.convs.0.nn.0.weight", f"{local}.convs.0.nn.2.weight"} <= decayed_names
    assert f"{local}.bond_encoders.0.embeddings.0.weight" in kept_names
    assert f"{local}.mask_bond" in kept_names
