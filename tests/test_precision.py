"""``train.precision``: bf16 autocast on CPU trains as fp32 does, while the [CLS] statistics,
the heads' outputs, losses and metrics stay float32; fp16 keeps its loss scale across a resume."""

from __future__ import annotations

import json

import pytest
import torch

import train
from graphsep.config import load_config
from graphsep.core.batchnorm import GlobalBatchNorm1d
from graphsep.core.precision import autocast
from graphsep.tasks.property.data import load_property_data
from graphsep.tasks.property.model import build_predictor
from graphsep.tasks.property.run import FinetuneRun
from graphsep.training.checkpoint import load_checkpoint
from graphsep.training.distributed import DistContext

SMALL = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "progress=false",
         "data.source=bundled"]  # fmt: skip


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def test_the_cls_batchnorm_computes_in_float32_under_bf16_autocast():
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0)) * 2 + 1
    bn, reference = GlobalBatchNorm1d(16).train(), torch.nn.BatchNorm1d(16).train()
    with autocast("bf16", "cpu"):
        y = bn(x)
    assert y.dtype == torch.float32 and bn.running_var.dtype == torch.float32
    torch.testing.assert_close(y, reference(x))  # float32's tolerance, not bfloat16's
    torch.testing.assert_close(bn.running_var, reference.running_var)


def test_a_bf16_model_gives_float32_outputs_close_to_fp32(data_root):
    cfg = load_config("configs/quickstart.yaml", [f"data.root={data_root}", *SMALL])
    batch = next(iter(load_property_data(cfg).valid))
    torch.manual_seed(0)
    model = build_predictor(cfg, 1).eval()
    with torch.no_grad():
        full = model(batch)
        with autocast("bf16", "cpu"):
            low = model(batch)
    assert low.dtype == torch.float32 and low.isfinite().all()
    assert (low - full).abs().max() < 0.05 < 1  # bfloat16 rounding, not another model


def _run(data_root, out_dir, precision, *extra):
    args = ["--config", "configs/quickstart.yaml", f"data.root={data_root}",
            f"out_dir={out_dir}", "train.epochs=1", "train.max_steps=6",
            f"train.precision={precision}", *SMALL, *extra]  # fmt: skip
    assert train.main(args) == 0
    return [json.loads(r) for r in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_bf16_training_follows_fp32_training(data_root, tmp_path):
    full = _run(data_root, tmp_path / "fp32", "fp32")[-1]
    low = _run(data_root, tmp_path / "bf16", "bf16")[-1]
    assert low["train_loss"] == pytest.approx(full["train_loss"], abs=0.01)
    assert low["valid"] == pytest.approx(full["valid"], abs=0.02)
    meta = load_checkpoint(tmp_path / "bf16" / "best").meta
    assert meta["config"]["train"]["precision"] == "bf16"


def test_fp16_keeps_its_loss_scale_in_the_resumable_checkpoint(data_root, tmp_path):
    _run(data_root, tmp_path, "fp16")
    path = tmp_path / "last" / "train_state.pt"
    state = torch.load(path, weights_only=False)
    assert state["scaler"]["scale"] > 0
    state["scaler"]["scale"] = 1024.0  # as if gradients had overflowed: the default is 65536
    torch.save(state, path)
    cfg = load_config("configs/quickstart.yaml", [
        f"data.root={data_root}", f"out_dir={tmp_path}", "train.epochs=1", "train.max_steps=6",
        "train.precision=fp16", "resume=auto", *SMALL,
    ])  # fmt: skip
    run = FinetuneRun(cfg, DistContext(0, 1, torch.device("cpu")))
    assert run.scaler.is_enabled() and run.scaler.get_scale() == 1024.0
    _run(data_root, tmp_path / "fp32", "fp32")  # a run that scales nothing saves no scale
    assert "scaler" not in torch.load(tmp_path / "fp32" / "last" / "train_state.pt",
                                      weights_only=False)  # fmt: skip
