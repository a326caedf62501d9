import gzip
import json
import random
import shutil
from dataclasses import replace

import pandas as pd
import pytest
import torch
from molecules import SHARED_DATA, bbbp_graphs, mol_graph
from torch_geometric.data import Data

import train
from graphsep.analysis.split_embeddings import split_embeddings
from graphsep.cli.main import main as graphsep
from graphsep.config import load_config
from graphsep.frontends.graph.batch import GraphBatch
from graphsep.frontends.graph.collate import GraphCollator, collate_graphs
from graphsep.frontends.graph.frontend import graph_encoder
from graphsep.molecules.build import build_dataset
from graphsep.molecules.corpus import PretrainCorpus, load_corpus
from graphsep.molecules.corpus_shards import build_cache, cache_folder
from graphsep.molecules.featurize import featurize
from graphsep.tasks.masked_graph.heads import atom_feature_weights, reconstruction_loss
from graphsep.tasks.masked_graph.masking import MaskSampler, draw_masks, mask_generator
from graphsep.tasks.masked_graph.run import build_pretrain_model, evaluate, load_pretrain_data
from graphsep.tasks.property.data import BUNDLED
from graphsep.tasks.property.model import build_predictor
from graphsep.training.checkpoint import CheckpointError, load_checkpoint
from graphsep.training.init import init_encoder_from
from graphsep.training.optim import build_optimizer
from graphsep.training.sampler import KeyedBatch

ZINC = SHARED_DATA / "pretrain" / "moses_zinc_train.csv.gz"
needs_data = pytest.mark.skipif(not ZINC.exists(), reason="needs ../shared/data")
TINY = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "progress=false"]
NO_DROPOUT = ["model.core.dropout=0", "model.core.attn_dropout=0"]


def small_encoder(norm="sep"):
    cfg = load_config(None, [*TINY, f"model.core.norm={norm}", *NO_DROPOUT])
    return graph_encoder(cfg.model.core, cfg.model.graph).eval()


def one_chunk(smiles):
    return collate_graphs([mol_graph(s) for s in smiles], max_hops=5).chunks[0]


def every_atom_masked(chunk):
    masked = chunk.mask.clone()
    masked[:, 0] = False
    return replace(chunk, masked_atoms=masked)


@pytest.mark.parametrize("norm", ["sep", "share"])
@pytest.mark.parametrize("pair", [("CCO", "CCN"), ("c1ccccc1O", "c1ccncc1O")])
def test_with_every_atom_masked_the_input_carries_no_atom_identity(norm, pair):
    model = small_encoder(norm)
    a, b = (one_chunk([s]) for s in pair)
    assert torch.equal(a.edge_attr, b.edge_attr) and not torch.equal(a.x, b.x)
    masked_a, masked_b = every_atom_masked(a), every_atom_masked(b)
    input_a, input_b = model.frontend.embedding(masked_a), model.frontend.embedding(masked_b)
    assert torch.equal(input_a.tokens, input_b.tokens) and torch.equal(input_a.bias, input_b.bias)
    out_a, out_b = model(GraphBatch([masked_a])), model(GraphBatch([masked_b]))
    assert torch.equal(out_a.tokens[0], out_b.tokens[0])
    unmasked = [model.frontend.embedding(chunk).tokens for chunk in (a, b)]
    assert not torch.equal(*unmasked)  # unmasked: they differ


def test_a_masked_bond_reaches_no_edge_encoding_input():
    model = small_encoder()
    batch = one_chunk(["CC(=O)Nc1ccccc1"])
    src, dst = batch.edge_index
    bond = ((src == 2) & (dst == 4)) | ((src == 4) & (dst == 2))  # C(=O)-N: atoms 1, 3
    assert bond.sum() == 2
    rows = bond.nonzero().squeeze(1)
    assert torch.isin(batch.path_edges[..., 1:], rows).any()  # multi-hop paths run through it

    def edge_bias(edge_attr, masked):
        changed = replace(batch, edge_attr=edge_attr, masked_edges=masked)
        return model.frontend.embedding(changed).bias

    other = batch.edge_attr.clone()
    other[bond] = torch.tensor([1, 3, 1])  # another bond type, stereo and conjugation
    assert torch.equal(edge_bias(batch.edge_attr, bond), edge_bias(other, bond))
    unmasked = torch.zeros_like(bond)
    assert not torch.equal(edge_bias(batch.edge_attr, unmasked), edge_bias(other, unmasked))


def test_masks_are_per_molecule_reproducible_and_change_across_epochs():
    smiles = ["CCO", "c1ccccc1CC(=O)O", "CCN(CC)CC", "[Na+].[Cl-]", "CC(=O)Nc1ccccc1"]
    batch = collate_graphs([mol_graph(s) for s in smiles], max_hops=5)
    sampler = MaskSampler(atom_rate=0.15, bond_rate=0.3, seed=3)
    masks = sampler(batch, epoch=1, batch_index=5).chunks[0]
    again = sampler(batch, epoch=1, batch_index=5).chunks[0]
    fields = ("masked_atoms", "masked_edges", "masked_bonds")
    assert all(torch.equal(getattr(masks, k), getattr(again, k)) for k in fields)
    for other in (
        sampler(batch, 2, 5),
        sampler(batch, 1, 6),
        MaskSampler(0.15, 0.3, 4)(batch, 1, 5),
    ):
        other = other.chunks[0]
        assert not torch.equal(masks.masked_atoms, other.masked_atoms) or not torch.equal(
            masks.masked_edges, other.masked_edges
        )
    # round(rate * n), at least one, per molecule; never [CLS] or padding
    assert masks.masked_atoms.sum(1).tolist() == [1, 2, 1, 1, 2]
    assert not masks.masked_atoms[:, 0].any() and not masks.masked_atoms[~masks.mask].any()
    # a masked bond hides both directions; the targets are one edge per masked bond
    src, dst = masks.edge_index
    edges = masks.masked_edges
    hidden = set(zip(src[edges].tolist(), dst[edges].tolist(), strict=True))
    assert all((d, s) in hidden for s, d in hidden)
    assert masks.masked_bonds.numel() == len(hidden) // 2 == 1 + 3 + 2 + 0 + 3
    assert edges[masks.masked_bonds].all()
    assert batch.chunks[0].masked_atoms is None  # the sampler returns a copy


def test_mask_rate_one_half_masks_half_of_a_large_molecule():
    chunk = draw_masks(one_chunk(["C" * 40]), 0.5, 0.5, mask_generator(0, 1, 0))
    # 39 bonds: round(19.5) = 20
    assert chunk.masked_atoms.sum() == 20 and chunk.masked_bonds.numel() == 20


def with_masks_of(whole, masked):
    """The one-chunk batch ``whole`` hiding what the chunks of ``masked`` hide."""
    chunk = whole.chunks[0]
    slots = chunk.mask.size(1)
    atoms, edge_offset, bonds = [], 0, []
    for part in masked.chunks:
        atoms.append(torch.nn.functional.pad(part.masked_atoms, (0, slots - part.mask.size(1))))
        bonds.append(part.masked_bonds + edge_offset)
        edge_offset += part.edge_attr.size(0)
    edges = torch.cat([part.masked_edges for part in masked.chunks])
    chunk = replace(
        chunk, masked_atoms=torch.cat(atoms), masked_edges=edges, masked_bonds=torch.cat(bonds)
    )
    return replace(whole, chunks=[chunk])


@pytest.mark.parametrize("norm", ["sep", "share"])
def test_a_chunked_batch_reconstructs_as_the_whole_batch(norm):
    graphs = bbbp_graphs(24)
    order = torch.argsort(torch.tensor([g.num_nodes for g in graphs]), stable=True)
    chunked = collate_graphs(graphs, max_hops=5, chunks=3)
    whole = collate_graphs([graphs[i] for i in order], max_hops=5)  # the chunks' graph order
    edges = torch.cat([c.edge_attr for c in chunked.chunks])
    assert torch.equal(whole.chunks[0].edge_attr, edges)
    chunked = MaskSampler(0.3, 0.3, seed=1)(chunked, epoch=1, batch_index=0)
    assert len(chunked.chunks) == 3
    whole = with_masks_of(whole, chunked)
    cfg = load_config(None, [*TINY, f"model.core.norm={norm}", *NO_DROPOUT])
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(build_pretrain_model(cfg.model).train())  # [CLS] BatchNorm: batch stats
    weights = atom_feature_weights(3.0)
    rec_chunked, rec_whole = models[0](chunked), models[1](whole)
    for a, b in zip(rec_chunked.atom_logits + rec_chunked.bond_logits,
                    rec_whole.atom_logits + rec_whole.bond_logits, strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert torch.equal(rec_chunked.atom_targets, rec_whole.atom_targets)
    assert torch.equal(rec_chunked.bond_targets, rec_whole.bond_targets)
    loss_chunked, _ = reconstruction_loss(rec_chunked, weights)
    loss_whole, _ = reconstruction_loss(rec_whole, weights)
    torch.testing.assert_close(loss_chunked, loss_whole, atol=1e-6, rtol=1e-5)
    loss_chunked.backward()
    loss_whole.backward()
    for (name, p), q in zip(models[0].named_parameters(), models[1].parameters(), strict=True):
        if p.grad is not None or q.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.fixture(scope="module")
def zinc_args(tmp_path_factory):
    cache = tmp_path_factory.mktemp("pretrain_cache")
    return [
        "task.name=masked_graph", f"data.corpus.files=[{ZINC}]", "data.corpus.max_molecules=3000",
        f"data.corpus.cache_dir={cache}", "data.corpus.num_workers=1",
        "data.corpus.held_out_fraction=0.1",
    ]  # fmt: skip


@needs_data
def test_masked_atom_type_accuracy_rises_above_the_majority_class(zinc_args):
    overrides = [
        *zinc_args, "model.core.dim=64", "model.core.depth=1", "model.core.num_heads=4",
        "progress=false",
        "model.core.dropout=0", "model.core.attn_dropout=0", "train.batch_size=64",
    ]  # fmt: skip
    cfg = load_config(None, overrides)
    torch.manual_seed(0)
    data = load_pretrain_data(cfg)
    assert len(data.train.dataset) == 2700 and len(data.held_out.dataset) == 300
    model = build_pretrain_model(cfg.model)
    optimizer = build_optimizer(model, 3e-3, 0.0)
    weights = atom_feature_weights(3.0)
    for epoch in (1, 2, 3, 4):  # 4 x 43 = 172 steps
        data.train.batch_sampler.set_epoch(epoch)
        for batch in data.train:  # masked at collation (rates 0.15 by default)
            loss, _ = reconstruction_loss(model(batch), weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    scores = evaluate(model, data.held_out, torch.device("cpu"), weights)
    assert scores.majority["atom_type"] == pytest.approx(0.75, abs=0.03)  # mostly carbon
    # measured: atom type 0.744 after one epoch, 0.844 after four; bond type 0.971 (majority 0.535)
    assert scores.accuracy["atom_type"] > scores.majority["atom_type"] + 0.07
    assert scores.accuracy["bond_type"] > scores.majority["bond_type"] + 0.35


@needs_data
def test_pretraining_paths_do_not_depend_on_bond_types(zinc_args):
    # masks are drawn after collation: a path chosen by bond type would hint at a masked bond
    ring = mol_graph("C1=CCCCC1")
    ring = Data(x=ring.x, edge_index=ring.edge_index, edge_attr=ring.edge_attr, num_nodes=6)
    saturated = ring.clone()  # the same ring, every bond now reads as the first bond type
    saturated.edge_attr = torch.zeros_like(ring.edge_attr)
    data = load_pretrain_data(load_config(None, [*zinc_args, *TINY, "data.batch_chunks=1"]))
    for collate in (data.train.collate_fn, data.held_out.collate_fn):
        paths = [collate(KeyedBatch([g], 1, 0)).chunks[0].path_edges for g in (ring, saturated)]
        assert torch.equal(*paths)
    # finetuning's paths do go by bond type (so that they do not go by atom order)
    finetune = [collate_graphs([g], max_hops=5).chunks[0].path_edges for g in (ring, saturated)]
    assert not torch.equal(*finetune)


@pytest.fixture(scope="module")
def pretrained(zinc_args, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("pretrained") / "run"
    args = [
        "--config", "configs/pretrain_quick.yaml", *zinc_args, *TINY, f"out_dir={out_dir}",
        "train.epochs=2", "train.batch_size=512",  # 6 steps per epoch
    ]  # fmt: skip
    assert train.main(args) == 0
    return out_dir


@pytest.fixture(scope="module")
def bbbp_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@needs_data
def test_pretrain_writes_metrics_and_a_checkpoint_finetuning_starts_from(
    pretrained, bbbp_root, tmp_path
):
    rows = [json.loads(r) for r in (pretrained / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["step"] == 12
    assert set(rows[0]["accuracy"]) >= {"atom_type", "chirality", "bond_type", "conjugated"}
    results = json.loads((pretrained / "results.json").read_text())
    assert results["valid"] == min(r["heldout_loss"] for r in rows)
    assert results["molecules"] == 3000 and results["heldout_molecules"] == 300
    saved = load_checkpoint(pretrained / "best")
    assert saved.meta["kind"] == "pretrain" and saved.meta["corpus"]["molecules"] == 3000
    assert any(k.startswith("atom_head.") for k in saved.state_dict)

    finetune = [
        "--config", "configs/quickstart.yaml", *TINY, f"data.root={bbbp_root}",
        f"model.init_from={pretrained / 'best'}", "train.epochs=1", "train.max_steps=3",
    ]  # fmt: skip
    assert train.main([*finetune, f"out_dir={tmp_path / 'finetuned'}"]) == 0
    assert (tmp_path / "finetuned" / "best").is_dir()
    # a resumed run's weights come from its own checkpoint: init_from may be gone by then
    shutil.copytree(pretrained / "best", tmp_path / "init")
    resumable = [*finetune, f"model.init_from={tmp_path / 'init'}", "resume=auto"]
    assert train.main([*resumable, f"out_dir={tmp_path / 'resumed'}"]) == 0
    shutil.rmtree(tmp_path / "init")
    assert train.main([*resumable, f"out_dir={tmp_path / 'resumed'}"]) == 0

    # through train.main: at lr 0 the finetuned encoder's weights are still the pretrained ones
    assert train.main([*finetune, "train.lr=0", f"out_dir={tmp_path / 'frozen'}"]) == 0
    frozen = load_checkpoint(tmp_path / "frozen" / "best").state_dict
    encoder = build_predictor(load_config("configs/quickstart.yaml", TINY), 1).encoder
    names = [f"encoder.{name}" for name, _ in encoder.named_parameters()]
    assert len(names) > 10 and all(torch.equal(frozen[n], saved.state_dict[n]) for n in names)


@needs_data
@pytest.mark.parametrize(
    "override, named",
    [
        ("model.core.norm=share", "model.core.norm (checkpoint 'sep', config 'share')"),
        ("model.core.cls_norm=ln", "model.core.cls_norm (checkpoint 'bn', config 'ln')"),
        ("model.core.dim=64", "model.core.dim (checkpoint 32, config 64)"),
        ("model.graph.local_layers=1", "model.graph.local_layers (checkpoint 0, config 1)"),
    ],
)
def test_init_from_a_different_architecture_names_the_keys(pretrained, override, named):
    cfg = load_config("configs/quickstart.yaml", [*TINY, override])
    model = build_predictor(cfg, num_tasks=1)
    with pytest.raises(CheckpointError, match="architecture differs") as err:
        init_encoder_from(model, str(pretrained / "best"), cfg.model)
    assert named in str(err.value)


@needs_data
def test_a_checkpoint_written_before_local_layers_existed_still_initialises(pretrained, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(pretrained / "best", old)
    meta = json.loads((old / "meta.json").read_text())
    del meta["config"]["model"]["graph"]["local_layers"]
    (old / "meta.json").write_text(json.dumps(meta))
    cfg = load_config("configs/quickstart.yaml", TINY)
    model = build_predictor(cfg, num_tasks=1)
    init_encoder_from(model, str(old), cfg.model)  # the missing key reads as its default, 0
    saved = load_checkpoint(old).state_dict["encoder.frontend.embedding.cls_token"]
    torch.testing.assert_close(model.encoder.frontend.embedding.cls_token.detach(), saved)


@needs_data
def test_finetune_with_a_mismatching_init_from_stops_naming_the_keys(
    pretrained, bbbp_root, tmp_path, capsys
):
    args = [
        "--config", "configs/quickstart.yaml", *TINY, "model.core.norm=share", "model.core.depth=2",
        f"model.init_from={pretrained / 'best'}", f"out_dir={tmp_path / 'run'}",
        f"data.root={bbbp_root}",
    ]  # fmt: skip
    assert train.main(args) == 2
    err = capsys.readouterr().err
    assert "model.core.norm (checkpoint 'sep', config 'share')" in err
    assert "model.core.depth (checkpoint 1, config 2)" in err


def test_a_corpus_of_several_shards_and_formats_lists_bad_smiles(tmp_path):
    csv = tmp_path / "part-1.csv"
    csv.write_text("id,smi\n1,CCO\n2,C1CC\n3,\n4,c1ccccc1O\n")
    smi = tmp_path / "part-2.smi.gz"
    with gzip.open(smi, "wt") as f:
        f.write("CC(=O)O acetic\n\nnot_a_smiles\n[Na+].[Cl-]\n" + "C" * 30 + "\n")
    cfg = load_config(None, [
        "task.name=masked_graph", f"data.corpus.files=[{csv},{tmp_path}/*.smi.gz]",
        "data.corpus.smiles_column=smi",
        "data.corpus.shard_size=2", "data.corpus.num_workers=1", "data.corpus.max_atoms=20",
        f"data.corpus.cache_dir={tmp_path / 'cache'}",
    ])  # fmt: skip
    corpus = load_corpus(cfg.data.corpus, progress=False)
    assert corpus.manifest["rows"] == 8 and len(corpus) == 4 and len(corpus.manifest["shards"]) == 4
    report = corpus.report.read_text().splitlines()
    assert report[0] == "file\tline\tsmiles\treason"
    bad = [line.split("\t")[:3] for line in report[1:]]
    assert bad == [[str(csv), "3", "C1CC"], [str(csv), "4", ""], [str(smi), "3", "not_a_smiles"],
                   [str(smi), "5", "C" * 30]]  # fmt: skip
    assert report[-1].endswith("30 atoms, more than max_atoms=20")
    for index, smiles in enumerate(["CCO", "c1ccccc1O", "CC(=O)O", "[Na+].[Cl-]"]):
        want, got = featurize(smiles).to_ogb_dict(), corpus[index]
        assert torch.equal(got.x, torch.from_numpy(want["node_feat"]))
        assert torch.equal(got.edge_index, torch.from_numpy(want["edge_index"]))
        assert torch.equal(got.edge_attr, torch.from_numpy(want["edge_feat"]))
    assert corpus.sizes.tolist() == [3, 7, 4, 2]
    # a second load reuses the cache; an interrupted build resumes from its finished shards
    folder = cache_folder([csv, smi], cfg.data.corpus)
    assert PretrainCorpus(folder).manifest == corpus.manifest
    (folder / "manifest.json").unlink()
    (folder / "shard-00001.pt").unlink()
    assert build_cache([csv, smi], cfg.data.corpus, folder, progress=False) == corpus.manifest


def test_the_corpus_keeps_and_skips_molecules_by_the_one_rule_set(tmp_path):
    csv = tmp_path / "corpus.csv"
    csv.write_text("SMILES\nCCO\n*CC\nCC O\nC(C)(C)(C)(C)C\nCC[*:1]\n")
    cfg = load_config(None, ["task.name=masked_graph", f"data.corpus.files=[{csv}]",
                             "data.corpus.num_workers=1",
                             f"data.corpus.cache_dir={tmp_path / 'cache'}"])  # fmt: skip
    corpus = load_corpus(cfg.data.corpus, progress=False)
    # a molecule RDKit will not sanitize is kept, featurized leniently as for OGB's datasets
    assert corpus.sizes.tolist() == [3, 6]
    assert torch.equal(corpus[1].x, torch.from_numpy(featurize("C(C)(C)(C)(C)C").node_feat))
    reasons = [line.split("\t") for line in corpus.report.read_text().splitlines()[1:]]
    assert [(r[1], r[3]) for r in reasons] == [
        ("3", "atom 0 (*) is not an element of the featurizer's vocabulary (wildcard or "
              "attachment point)"),
        ("4", "whitespace inside SMILES 'CC O' at position 3"),
        ("6", "atom 2 (*) is not an element of the featurizer's vocabulary (wildcard or "
              "attachment point)"),
    ]  # fmt: skip


def test_a_corrupt_gzip_corpus_is_named(tmp_path, capsys):
    not_gzip = tmp_path / "plain.csv.gz"
    not_gzip.write_text("SMILES\nCCO\n")
    truncated = tmp_path / "cut.csv.gz"
    chains = random.Random(0).choices("CNO", k=20 * 100_000)  # ~0.5 MB compressed
    rows = "".join(f"{''.join(chains[i : i + 20])}\n" for i in range(0, len(chains), 20))
    truncated.write_bytes(gzip.compress(f"SMILES\n{rows}".encode())[:200_000])  # cut part way
    for path, message in [(not_gzip, f"cannot read {not_gzip}"),
                          (truncated, f"cannot read {truncated} to the end")]:  # fmt: skip
        args = [
            "task.name=masked_graph", f"data.corpus.files=[{path}]", "data.corpus.num_workers=1",
            f"data.corpus.cache_dir={tmp_path / 'c'}", f"out_dir={tmp_path / 'run'}", *TINY,
        ]  # fmt: skip
        assert train.main(args) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.parametrize(
    "content, overrides, message",
    [
        ("", [], "is empty"),
        ("SMILES\n", [], "no SMILES rows in"),
        ("SMILES\nC1CC\nxyz\n", [], "none of the 2 SMILES gave a molecule; reasons in"),
        ("smi,name\nCCO,ethanol\n", [], "no SMILES column 'SMILES' (data.corpus.smiles_column); "
         "columns present: smi, name"),
        ("SMILES\nCCO\n", ["task.masked_graph.atom_mask_rate=1.5"],
         "task.masked_graph.atom_mask_rate: must be a finite number in (0, 1), got 1.5"),
        ("SMILES\nCCO\n", ["task.masked_graph.bond_mask_rate=0"],
         "task.masked_graph.bond_mask_rate: must be a finite number in (0, 1), got 0.0"),
        ("SMILES\nCCO\n", ["data.corpus.files=[]"], "data.corpus.files: no SMILES file given"),
        ("SMILES\nCCO\n", ["data.corpus.files=[nowhere/*.csv]"], "no file matches 'nowhere/*.csv'"),
        ("SMILES\nCCO\n", ["model.graph.node_kind=continuous", "model.graph.node_dims=[9]"],
         "model.graph.node_kind and model.graph.edge_kind"),
    ],
)  # fmt: skip
def test_bad_pretraining_input_stops_with_its_name(tmp_path, capsys, content, overrides, message):
    corpus = tmp_path / "corpus.csv"
    corpus.write_text(content)
    args = [
        "task.name=masked_graph", f"data.corpus.files=[{corpus}]",
        f"data.corpus.cache_dir={tmp_path / 'c'}",
        "data.corpus.num_workers=1", f"out_dir={tmp_path / 'run'}", *TINY, *overrides,
    ]  # fmt: skip
    assert train.main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


@needs_data
def test_analyze_a_pretrained_encoder_on_a_dataset_folder_given(pretrained, tmp_path, capsys):
    rows = pd.read_csv(BUNDLED["ogbg-molbbbp"], nrows=300)[["smiles", "p_np"]]
    rows.to_csv(tmp_path / "bbbp300.csv", index=False)
    folder = build_dataset("bbbp300", tmp_path / "bbbp300.csv", tmp_path / "data",
                           task_type="classification", split="random", skip_invalid=True,
                           processes=1, progress=False)  # fmt: skip
    best, out = str(pretrained / "best"), str(tmp_path / "analysis")
    assert graphsep(["analyze", "--checkpoint", best, "--out", out]) == 2
    assert "has no labelled split of its own" in capsys.readouterr().err
    assert graphsep(["analyze", "--checkpoint", best, "--data", str(tmp_path), "--out", out]) == 2
    assert f"{tmp_path}: not a dataset folder (no RELEASE_v1.txt)" in capsys.readouterr().err
    assert graphsep(["analyze", "--checkpoint", best, "--data", str(folder), "--out", out]) == 0
    report = json.loads((tmp_path / "analysis" / "analysis.json").read_text())
    assert report["data"] == str(folder) and report["checkpoints"][0]["kind"] == "pretrain"
    embedded = split_embeddings(best, "test", folder)
    test_rows = pd.read_csv(folder / "split" / "random" / "test.csv.gz", header=None)[0]
    labels = pd.read_csv(folder / "mapping" / "mol.csv.gz")["p_np"].to_numpy()[test_rows]
    assert embedded.cls.shape == (len(test_rows), 32) == (report["checkpoints"][0]["rows"], 32)
    assert sorted(embedded.labels[:, 0]) == sorted(labels)  # the loader orders by size


@needs_data
def test_collating_in_worker_processes_changes_no_number(zinc_args, tmp_path):
    rows = {}
    for workers in (0, 2):  # shortest paths in workers; masks keyed by epoch and batch
        out_dir = tmp_path / f"workers{workers}"
        args = ["--config", "configs/pretrain_quick.yaml", *zinc_args, *TINY,
                f"out_dir={out_dir}", f"data.num_workers={workers}", "train.epochs=1",
                "train.max_steps=4", "train.batch_size=256"]  # fmt: skip
        assert train.main(args) == 0
        row = json.loads((out_dir / "metrics.jsonl").read_text().splitlines()[-1])
        rows[workers] = {k: v for k, v in row.items() if "seconds" not in k}
    assert rows[0] == rows[2]


@needs_data
def test_masks_are_drawn_at_collation_from_the_batch_key(zinc_args):
    cfg = load_config("configs/pretrain_quick.yaml", [*zinc_args, *TINY, "data.batch_chunks=2"])
    data = load_pretrain_data(cfg)
    sampler, masking = data.train.batch_sampler, cfg.task.masked_graph
    sampler.set_epoch(3, start_batch=2)  # resumed mid-epoch: positions count from the start
    loaded = next(iter(data.train))
    ids = next(iter(sampler))
    assert (ids.epoch, ids.position) == (3, 2)
    plain = GraphCollator(cfg.model.graph.max_hops, 2, canonical_paths=False)
    expected = MaskSampler(masking.atom_mask_rate, masking.bond_mask_rate, cfg.seed)(
        plain([data.train.dataset[i] for i in ids]), 3, 2
    )
    for got, want in zip(loaded.chunks, expected.chunks, strict=True):
        assert got.masked_atoms.any() and torch.equal(got.masked_atoms, want.masked_atoms)
        assert torch.equal(got.masked_bonds, want.masked_bonds)
    held_out = next(iter(data.held_out))  # fixed masks: epoch 0 at every evaluation
    assert held_out.chunks[0].masked_atoms is not None
    assert torch.equal(next(iter(data.held_out)).chunks[0].masked_atoms,
                       held_out.chunks[0].masked_atoms)  # fmt: skip
