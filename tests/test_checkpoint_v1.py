"""A checkpoint written by graphsep 0.1 (flat config, the graph model's own weight names) loads.

``fixtures/checkpoint_v1`` is the ``best/`` folder of a 3-step molbbbp run of main at b075950
(width 16, one block, one local layer); ``checkpoint_v1_predictions.csv`` is what that
commit's ``graphsep predict`` wrote for four molecules.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from graphsep.config import ConfigError, config_from_dict, config_to_dict, load_config
from graphsep.config.legacy import upgrade_config
from graphsep.predict.predictor import Predictor
from graphsep.tasks.property.model import build_predictor
from graphsep.training.checkpoint import load_checkpoint
from graphsep.training.init import init_encoder_from

FIXTURES = Path(__file__).parent / "fixtures"
V1 = FIXTURES / "checkpoint_v1"
SMALL = [
    "model.core.dim=16", "model.core.depth=1", "model.core.num_heads=2",
    "model.graph.local_layers=1",
]  # fmt: skip


def test_a_v1_checkpoint_predicts_what_it_predicted_when_written():
    expected = pd.read_csv(FIXTURES / "checkpoint_v1_predictions.csv")
    predictor = Predictor.from_checkpoint(V1, device="cpu")
    scored = predictor.predict(expected["smiles"].tolist())
    assert (scored["error"] == "").all()
    # the CSV holds 6 decimals; weights loaded under a wrong name would move them by ~1e-3
    assert (scored["p_np"] - expected["p_np"]).abs().max() <= 5e-7


def test_a_v1_checkpoints_config_reads_as_todays():
    ckpt = load_checkpoint(V1)
    config = ckpt.meta["config"]
    assert config["model"]["core"]["dim"] == 16 and config["model"]["graph"]["local_layers"] == 1
    assert config["task"]["name"] == "property"
    assert config["task"]["property"] == {"head_dropout": 0.1}
    assert config["task"]["masked_graph"]["atom_type_weight"] == 3.0
    assert "mode" not in config and "pretrain" not in config
    assert config["data"]["corpus"]["max_atoms"] == 128  # from pretrain.max_atoms
    assert any(k.startswith("encoder.frontend.local.") for k in ckpt.state_dict)
    assert any(k.startswith("encoder.core.blocks.0.") for k in ckpt.state_dict)


def test_a_v1_checkpoint_starts_todays_finetuning():
    cfg = load_config("configs/quickstart.yaml", [*SMALL, f"model.init_from={V1}"])
    torch.manual_seed(0)
    model = build_predictor(cfg, num_tasks=1)
    init_encoder_from(model, str(V1), cfg.model)
    saved = load_checkpoint(V1).state_dict
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(value, saved[f"encoder.{name}"]), name


@pytest.mark.parametrize(
    ("override", "place"),
    [
        ("model.dim=64", "'model.dim' has moved to 'model.core.dim'"),
        ("model.local_layers=2", "'model.local_layers' has moved to 'model.graph.local_layers'"),
        ("model.head_dropout=0", "'model.head_dropout' has moved to 'task.property.head_dropout'"),
        ("mode=pretrain", "'mode' has moved to 'task.name' (mode=finetune is task.name=property"),
        ("pretrain.corpus=[a.csv]", "'pretrain.corpus' has moved to 'data.corpus.files'"),
        ("pretrain.atom_mask_rate=0.2", "has moved to 'task.masked_graph.atom_mask_rate'"),
        ("data.text.tokenizer_dir=x", "'data.text.tokenizer_dir' has moved to 'data.text.cache"),
    ],
)
def test_an_old_flat_key_names_its_new_place(override, place):
    with pytest.raises(ConfigError, match="command line") as err:
        load_config("configs/quickstart.yaml", [override])
    assert place in str(err.value)


def test_an_old_flat_section_in_a_yaml_file_names_the_new_place(tmp_path):
    config = tmp_path / "old.yaml"
    config.write_text("mode: finetune\nmodel:\n  dim: 32\n")
    with pytest.raises(ConfigError, match="has moved to"):
        load_config(config)
    config.write_text("pretrain:\n  max_atoms: 64\n")
    with pytest.raises(ConfigError, match="'pretrain.max_atoms' has moved to 'data.corpus"):
        load_config(config)


def test_a_checkpoint_config_with_a_renamed_key_reads_under_the_new_name():
    saved = config_to_dict(load_config("configs/imdb_finetune_quick.yaml"))
    del saved["data"]["text"]["cache_dir"]
    saved["data"]["text"]["tokenizer_dir"] = "old/cache"
    cfg = config_from_dict(upgrade_config(saved), "meta.json", run=False)
    assert cfg.data.text.cache_dir == "old/cache"
