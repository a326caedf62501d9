import functools
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from molecules import SHARED_DATA

import train
from graphsep.config import RANGES, Config, config_to_dict, load_config, valid_keys
from graphsep.molecules.recipes import find_recipe
from graphsep.molecules.zinc import ZINC_SUBSET
from graphsep.tasks.property.data import bucket_loader, load_property_data
from graphsep.tasks.property.model import build_predictor
from graphsep.tasks.property.run import FinetuneRun, predict
from graphsep.training.checkpoint import load_checkpoint
from graphsep.training.distributed import DistContext

pytestmark = pytest.mark.skipif(not SHARED_DATA.exists(), reason="needs ../shared/data")
REPO = Path(__file__).resolve().parents[1]
SMALL = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "progress=false"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def quick_args(data_root, out_dir, *extra):
    return [
        "--config", "configs/quickstart.yaml", f"data.root={data_root}", f"out_dir={out_dir}",
        "train.epochs=2", "train.batch_size=512", *SMALL, *extra,
    ]  # fmt: skip


def test_train_writes_metrics_results_and_a_checkpoint_that_reloads(data_root, tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert train.main(quick_args(data_root, out_dir)) == 0
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[-1]["step"] == 8 and all(0.0 <= r["valid"] <= 1.0 for r in rows)
    results = json.loads((out_dir / "results.json").read_text())
    best = max(rows, key=lambda r: r["valid"])
    assert results["best_epoch"] == best["epoch"] and results["test"] == best["test"]

    ckpt = load_checkpoint(out_dir / "best")
    assert ckpt.meta["task"]["names"] == ["p_np"]
    assert ckpt.meta["config"]["model"]["core"]["dim"] == 32
    cfg = load_config("configs/quickstart.yaml", [f"data.root={data_root}", *SMALL])
    data = load_property_data(cfg)
    model = build_predictor(cfg, num_tasks=1)
    model.load_state_dict(ckpt.state_dict)
    scores, labels = predict(model, data.test, data.task, torch.device("cpu"))
    assert data.task.score(scores, labels) == pytest.approx(results["test"], abs=1e-12)
    # under DDP a rank may have no share of a small split: empty, not a crash
    last_rank = DistContext(99, 100, torch.device("cpu"))  # 204 graphs: fewer than 100 batches
    valid = data.valid.dataset
    empty = bucket_loader(valid, valid.sizes, 256, False, cfg, last_rank, even_shards=False)
    scores, labels = predict(model, empty, data.task, torch.device("cpu"))
    assert scores.shape == labels.shape == (0, 1)


def test_the_best_checkpoint_reloads_to_the_trained_models_predictions(data_root, tmp_path):
    # one epoch: the best epoch is the last, so the model in memory is the one saved
    cfg = load_config("configs/quickstart.yaml", [
        f"data.root={data_root}", f"out_dir={tmp_path / 'run'}", "train.epochs=1",
        "train.batch_size=512", *SMALL,
    ])  # fmt: skip
    run = FinetuneRun(cfg, DistContext(0, 1, torch.device("cpu")))
    run.fit()
    trained, _ = predict(run.model, run.data.test, run.task, torch.device("cpu"))
    reloaded_model = build_predictor(cfg, num_tasks=1)
    reloaded_model.load_state_dict(load_checkpoint(tmp_path / "run" / "best").state_dict)
    reloaded, _ = predict(reloaded_model, run.data.test, run.task, torch.device("cpu"))
    assert trained.shape == (len(run.data.test.dataset), 1)
    assert np.array_equal(trained, reloaded)


def test_a_new_run_in_a_used_out_dir_keeps_the_old_rows_apart(data_root, tmp_path):
    out_dir = tmp_path / "run"
    assert train.main(quick_args(data_root, out_dir, "train.epochs=1", "seed=1")) == 0
    first = (out_dir / "metrics.jsonl").read_text()
    assert train.main(quick_args(data_root, out_dir, "train.epochs=1", "seed=2")) == 0
    assert (out_dir / "metrics.jsonl.prev").read_text() == first  # kept, not mixed in
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    results = json.loads((out_dir / "results.json").read_text())
    assert len(rows) == 1 and results["test"] == rows[0]["test"] and results["seed"] == 2
    assert json.loads(first)["test"] != rows[0]["test"]


@pytest.fixture(scope="module")
def earlier_run(data_root, tmp_path_factory):
    """An out_dir holding a finished one-epoch run: best/ and last/ a diverging run must keep."""
    out_dir = tmp_path_factory.mktemp("earlier") / "run"
    assert train.main(quick_args(data_root, out_dir, "train.epochs=1")) == 0
    return out_dir


@pytest.mark.parametrize(
    "steps, what",
    [
        (1, "its predictions on the valid split are not finite"),  # before OGB's metric sees them
        (2, "the model's weights are no longer finite"),
        (3, "the loss is nan"),
    ],
)
def test_a_diverging_run_stops_at_once_and_saves_nothing(
    data_root, earlier_run, tmp_path, capsys, steps, what
):
    out_dir = tmp_path / "run"
    shutil.copytree(earlier_run, out_dir)
    last_meta = (out_dir / "last" / "meta.json").read_text()
    best = load_checkpoint(out_dir / "best").state_dict
    huge_lr = quick_args(data_root, out_dir, "train.lr=1e6", f"train.max_steps={steps}")
    assert train.main(huge_lr) == 2
    err = capsys.readouterr().err
    assert f"error: training diverged at step {steps} (epoch 1): {what}; likely causes: " in err
    assert "train.lr=1e+06 too high, or non-finite labels in the data" in err
    assert "Traceback" not in err
    kept = load_checkpoint(out_dir / "best").state_dict
    assert all(torch.equal(best[k], kept[k]) for k in best)
    assert all(t.isfinite().all() for t in kept.values() if t.is_floating_point())
    assert (out_dir / "last" / "meta.json").read_text() == last_meta


def test_runs_are_deterministic_on_cpu(data_root, tmp_path):
    for name in ("a", "b"):
        assert train.main(quick_args(data_root, tmp_path / name, "train.epochs=1")) == 0
    a = load_checkpoint(tmp_path / "a" / "best").state_dict
    b = load_checkpoint(tmp_path / "b" / "best").state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["model.core.nrom=sep"],
         "unknown key 'model.core.nrom' (did you mean 'model.core.norm'?)"),
        (["model.core.norm=batch"],
         "model.core.norm: invalid value 'batch'; choose one of ['sep', 'share']"),
        (["model.core.num_heads=3"],
         "model.core.dim (32) must be divisible by model.core.num_heads (3)"),
        (["train.epochs=many"], "key 'train.epochs'"),
        (["data.bucket_size_multiplier=0"], "data.bucket_size_multiplier: must be >= 1, got 0"),
        (["data.batch_chunks=0"], "data.batch_chunks: must be >= 1, got 0"),
        (["model.graph.local_layers=-1"], "model.graph.local_layers: must be >= 0, got -1"),
        (["train.lr=-1"], "train.lr: must be a finite number >= 0, got -1.0"),
        (["train.lr=nan"], "train.lr: must be a finite number >= 0, got nan"),
        (["train.lr=1e400"], "train.lr: must be a finite number >= 0, got inf"),
        (["train.weight_decay=-0.1"], "train.weight_decay: must be a finite number >= 0, got -0.1"),
        (["train.eval_batch_size=0"], "train.eval_batch_size: must be >= 1, got 0"),
        (["train.max_steps=-1"], "train.max_steps: must be >= 0, got -1"),
        (["model.core.dropout=2"],
         "model.core.dropout: must be a finite number in [0, 1), got 2.0"),
        (["model.graph.node_dims=[119,0]"], "model.graph.node_dims[1]: must be >= 1, got 0"),
        (["model.graph.node_kind=continuous"],
         "model.graph.node_dims: model.graph.node_kind=continuous takes one"),
        (["seed=-1"], "seed: must be in [0, 4294967295], got -1"),
        (["data.num_workers=-1"], "data.num_workers: must be >= 0, got -1"),
        (["device=foo"], "device: invalid value 'foo'; choose auto, cpu, cuda or cuda:N"),
        (["resume=yes"], "resume: invalid value True (YAML reads yes, true and on as True); "
                         "choose one of ['no', 'auto'] (false and off mean no)"),
        (["resume=later"], "resume: invalid value 'later'; choose one of ['no', 'auto']"),
        (["data.name=ogbg-molnothing", "data.source=null"], "ogbg-molnothing"),
        (["model.init_from=configs"], "configs is not a graphsep checkpoint"),
        # the dataset's atoms and bonds against the model's feature sizes (a ZINC model's here)
        (["model.graph.node_dims=[28]", "model.graph.edge_dims=[4]"],
         "model.graph.node_dims=[28] reads 1 categorical node feature(s), the data has 9; "
         "model.graph.edge_dims=[4] reads 1 categorical edge feature(s), the data has 3"),
        (["model.graph.node_dims=[50,5,12,12,10,6,6,2,2]"],
         "model.graph.node_dims[0]=50 embeds values 0 to 49, the data's node feature 0 spans "
         "0 to 52"),
        (["model.graph.node_kind=continuous", "model.graph.node_dims=[3]"],
         "model.graph.node_dims=[3] reads 3 continuous node feature(s), the data has 9"),
    ],
)  # fmt: skip
def test_bad_input_stops_before_training_with_its_name(data_root, tmp_path, capsys, extra, message):
    assert train.main(quick_args(data_root, tmp_path / "run", *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_every_numeric_key_has_its_range():
    defaults = config_to_dict(Config())

    def is_numeric(value):
        if isinstance(value, list):  # node_dims, edge_dims; data.corpus.files holds paths
            return bool(value) and all(is_numeric(v) for v in value)
        return isinstance(value, int | float) and not isinstance(value, bool)

    numeric = [
        k for k in valid_keys() if is_numeric(functools.reduce(dict.get, k.split("."), defaults))
    ]
    assert {"seed", "train.lr", "model.graph.node_dims"} <= set(numeric)
    assert sorted(set(numeric) - set(RANGES)) == []


@pytest.mark.parametrize(
    "given, read", [("no", "no"), ("false", "no"), ("off", "no"), ("auto", "auto")]
)
def test_resume_reads_yaml_booleans_as_no(tmp_path, given, read):
    config = tmp_path / "run.yaml"
    config.write_text(f"resume: {given}\n")
    assert load_config(config).resume == read
    assert load_config(None, [f"resume={given}"]).resume == read


def test_missing_config_file_and_unwritable_out_dir(tmp_path, capsys):
    assert train.main(["--config", "configs/nope.yaml"]) == 2
    assert "config file not found: configs/nope.yaml" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert train.main(["--config", "configs/quickstart.yaml", f"out_dir={blocker}/run"]) == 2
    assert f"out_dir={blocker}/run is not writable" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        ("model: [sep, share\n", "not valid YAML"),
        ("- model.core.norm=sep\n", "expected a mapping of keys, got list"),
        (
            "model:\n  core:\n    nrom: sep\n",
            "unknown key 'model.core.nrom' (did you mean 'model.core.norm'?)",
        ),
        ("train:\n  epochs: many\n", "key 'train.epochs'"),
        ("resume: yes\n", "resume: invalid value True (YAML reads yes, true and on as True)"),
        (gzip.compress(b"model:\n  norm: sep\n"), "not a YAML text file (byte 1 is not UTF-8"),
    ],
)
def test_a_bad_config_file_is_named_with_its_problem(tmp_path, capsys, content, message):
    config = tmp_path / "bad.yaml"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert train.main(["--config", str(config), f"out_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert f"{config}:" in err and message in err
    assert not (tmp_path / "run").exists()


def test_a_data_root_that_is_not_a_dataset(tmp_path, capsys):
    (tmp_path / "ogbg_molbbbp").mkdir()
    args = ["--config", "configs/quickstart.yaml", f"data.root={tmp_path}", *SMALL]
    assert train.main([*args, f"out_dir={tmp_path / 'run'}"]) == 2
    assert "is not a dataset" in capsys.readouterr().err


def test_bucket_size_multiplier_one_gives_random_batches(data_root, tmp_path):
    assert train.main(quick_args(data_root, tmp_path / "run", "train.max_steps=1")) == 0

    def mean_padded_atoms(multiplier):
        cfg = load_config("configs/quickstart.yaml", [
            f"data.root={data_root}", "train.batch_size=32", *SMALL,
            f"data.bucket_size_multiplier={multiplier}",
        ])  # fmt: skip
        loader = load_property_data(cfg).train
        loader.batch_sampler.set_epoch(1)
        slots = [loader.dataset.sizes[batch].max().item() for batch in loader.batch_sampler]
        return sum(slots) / len(slots)

    bucketed, random = mean_padded_atoms(50), mean_padded_atoms(1)
    assert random > 1.5 * bucketed  # BBBP, batches of 32: 42.9 against 23.4 atoms


def test_chunked_random_batches_pad_little_and_train(data_root, tmp_path):
    chunked = ["data.bucket_size_multiplier=1", "data.batch_chunks=4"]
    assert train.main(quick_args(data_root, tmp_path / "run", "train.max_steps=2", *chunked)) == 0
    cfg = load_config("configs/quickstart.yaml", [
        f"data.root={data_root}", "train.batch_size=32", *SMALL, *chunked,
    ])  # fmt: skip
    loader = load_property_data(cfg).train
    loader.batch_sampler.set_epoch(1)
    padded = real = 0
    for batch in loader:
        assert len(batch.chunks) == 4 and batch.y.size(0) == batch.num_graphs
        padded += sum(c.mask[:, 1:].numel() for c in batch.chunks)
        real += sum(int(c.num_nodes.sum()) for c in batch.chunks)
    assert real == int(loader.dataset.sizes.sum())  # every training graph, once
    assert padded < 1.5 * real  # 1.2x here; one tensor per random batch of 32 pads to 1.9x


@pytest.mark.parametrize(
    "path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda path: path.stem
)
def test_every_shipped_config_loads_and_names_a_known_dataset(path):
    cfg = load_config(path)
    assert cfg.data.bucket_size_multiplier == 1  # random batches for the [CLS] BatchNorm
    if cfg.task.name == "masked_graph":
        assert cfg.data.corpus.files
    elif cfg.model.frontend == "image":
        assert cfg.data.images.train.startswith("../shared/data/images/")
    elif cfg.model.frontend == "text":
        assert cfg.data.text.path.startswith("../shared/data/text/")
    else:
        assert cfg.data.name in ZINC_SUBSET or find_recipe(cfg.data.name) is not None
