"""What only a CUDA GPU can check: pinned batches, and training steps in each precision there.

Run by ``benchmarks/gpu_check.py`` (``pytest -m cuda``) on a machine with a GPU; skipped here.
"""

from __future__ import annotations

import json

import pytest
import torch

import train
from graphsep.config import load_config
from graphsep.tasks.property.data import load_property_data

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
SMALL = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "progress=false",
         "data.source=bundled"]  # fmt: skip


def test_a_pinned_batch_holds_every_tensor_in_pinned_memory(tmp_path):
    cfg = load_config("configs/quickstart.yaml", [f"data.root={tmp_path}", *SMALL])
    batch = next(iter(load_property_data(cfg).valid)).pin_memory()
    tensors = [batch.y] + [getattr(c, f) for c in batch.chunks for f in ("x", "mask")]
    assert all(t.is_pinned() for t in tensors)
    moved = batch.to("cuda", non_blocking=True)
    assert moved.chunks[0].x.is_cuda and torch.equal(moved.y.cpu(), batch.y)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_on_cuda_in_each_precision(tmp_path, precision):
    args = ["--config", "configs/quickstart.yaml", f"data.root={tmp_path / 'data'}",
            f"out_dir={tmp_path / 'run'}", "device=cuda", "train.epochs=1",
            f"train.precision={precision}", *SMALL]  # fmt: skip
    assert train.main(args) == 0
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["train_loss"] < 0.7 and 0 <= row["valid"] <= 1
