import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from killed_run import kill_inside_an_epoch
from molecules import SHARED_DATA

from graphsep.config import load_config
from graphsep.core.batchnorm import GlobalBatchNorm1d
from graphsep.images.loaders import load_image_data
from graphsep.tasks.classify.model import build_classifier
from graphsep.tasks.classify.run import correct_and_total
from graphsep.tasks.masked_graph.heads import atom_feature_weights
from graphsep.tasks.masked_graph.run import build_pretrain_model, evaluate, load_pretrain_data
from graphsep.tasks.property.data import load_property_data
from graphsep.tasks.property.model import build_predictor
from graphsep.tasks.property.run import predict
from graphsep.text.loaders import load_text_data
from graphsep.training.checkpoint import CheckpointError, load_checkpoint
from graphsep.training.resume import check_same_run, load_resume_point

pytestmark = pytest.mark.skipif(not SHARED_DATA.exists(), reason="needs ../shared/data")
REPO = Path(__file__).resolve().parents[1]
TINY = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "progress=false"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
BATCHES_PER_EPOCH = {"finetune": 13, "pretrain": 11}  # 1,631 and 1,350 molecules / 128
CONFIGS = {"finetune": "quickstart.yaml", "pretrain": "pretrain_quick.yaml"}


def mode_overrides(data_root, mode):
    if mode == "finetune":
        return [f"data.root={data_root}"]
    return [  # 1,500 ZINC molecules, 150 of them held out
        "data.corpus.max_molecules=1500", "data.corpus.held_out_fraction=0.1",
        f"data.corpus.cache_dir={data_root / 'corpus'}", "data.corpus.num_workers=1",
    ]  # fmt: skip


def train_cmd(data_root, out_dir, *extra, mode="finetune"):
    config = ["--config", f"configs/{CONFIGS[mode]}", *mode_overrides(data_root, mode)]
    return [sys.executable, str(REPO / "train.py"), *config, f"out_dir={out_dir}", *TINY, *extra]


def one_process_scores(data_root, mode, state_dict, *extra):
    """What one process measures of a model: valid and test, or the held-out loss."""
    overrides = [*mode_overrides(data_root, mode), *TINY, *extra]
    cfg = load_config(REPO / "configs" / CONFIGS[mode], overrides)
    cpu = torch.device("cpu")
    if mode == "finetune":
        data = load_property_data(cfg)
        model = build_predictor(cfg, num_tasks=1)
        model.load_state_dict(state_dict)
        return {s: data.task.score(*predict(model, getattr(data, s), data.task, cpu))
                for s in ("valid", "test")}  # fmt: skip
    data = load_pretrain_data(cfg)
    model = build_pretrain_model(cfg.model)
    model.load_state_dict(state_dict)
    weights = atom_feature_weights(cfg.task.masked_graph.atom_type_weight)
    return {"valid": evaluate(model, data.held_out, cpu, weights).loss}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    # build the dataset and the corpus cache once, so that runs below (and two ranks) only read
    for mode in BATCHES_PER_EPOCH:
        cmd = train_cmd(root, root / mode, "train.max_steps=1", "train.epochs=1", mode=mode)
        subprocess.run(cmd, check=True, cwd=REPO, env=ENV, capture_output=True)
    return root


def rows(out_dir):
    out = [json.loads(r) for r in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in {"seconds", "train_seconds"}} for r in out]


def _no_host_reads(*args, **kwargs):
    raise AssertionError("the [CLS] BatchNorm read a tensor back to the host")


def _bn_worker(rank, world, init_file, x, out):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)  # fmt: skip
    torch.manual_seed(0)
    bn = GlobalBatchNorm1d(x.size(1)).train()
    part = x.chunk(world)[rank].clone().requires_grad_()
    item, as_bool = torch.Tensor.item, torch.Tensor.__bool__
    torch.Tensor.item = torch.Tensor.__bool__ = _no_host_reads  # a GPU step would wait there
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated collective
        y = bn(part)
        (y * torch.arange(y.numel()).view_as(y)).sum().backward()
    torch.Tensor.item, torch.Tensor.__bool__ = item, as_bool
    out[rank] = (y.detach(), part.grad, bn.running_mean.clone(), bn.running_var.clone())
    dist.destroy_process_group()


@pytest.mark.parametrize("scale, offset", [(2.0, 1.0), (0.05, 30.0)], ids=["centred", "far"])
def test_cls_batchnorm_statistics_span_all_processes(tmp_path, scale, offset):
    # "far": vectors far from 0 with a small spread, where float32 E[x^2] - E[x]^2 cancels
    x = torch.randn(8, 5, generator=torch.Generator().manual_seed(0)) * scale + offset
    out = mp.Manager().dict()
    mp.spawn(_bn_worker, args=(2, tmp_path / "init", x, out), nprocs=2)
    whole = x.clone().requires_grad_()
    bn = torch.nn.BatchNorm1d(5).train()
    y = bn(whole)
    weights = torch.cat([torch.arange(20).view(4, 5)] * 2)
    (y * weights).sum().backward()
    close = {"atol": 1e-4, "rtol": 1e-4}  # float32 rounding of x - mean at |x| = 30
    torch.testing.assert_close(torch.cat([out[0][0], out[1][0]]), y.detach(), **close)
    grad_scale = {"atol": 1e-4 * whole.grad.abs().max().item(), "rtol": 1e-4}
    torch.testing.assert_close(torch.cat([out[0][1], out[1][1]]), whole.grad, **grad_scale)
    torch.testing.assert_close(out[0][2], bn.running_mean)
    torch.testing.assert_close(out[0][3], bn.running_var, **close)


@pytest.mark.parametrize("mode", ["finetune", "pretrain"])
def test_torchrun_two_processes_write_one_log_and_one_checkpoint(data_root, tmp_path, mode):
    out_dir = tmp_path / "ddp"
    # evaluation batches of up to 96 graphs, several per split: each rank scores its share
    extra = ["train.epochs=2", "train.batch_size=128", "train.eval_batch_size=96"]
    cmd = train_cmd(data_root, out_dir, *extra, mode=mode)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", *cmd[1:]]
    done = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["epoch"] for r in rows(out_dir)] == [1, 2]
    results = json.loads((out_dir / "results.json").read_text())
    assert results["processes"] == 2 and results["steps"] == 2 * BATCHES_PER_EPOCH[mode]
    best = load_checkpoint(out_dir / "best")
    assert best.meta["kind"] == {"finetune": "property", "pretrain": "pretrain"}[mode]
    assert sorted(p.name for p in out_dir.iterdir() if p.is_dir()) == ["best", "last", "last.prev"]
    # the ranks' gathered scores are the whole split's (held-out masks follow the batches)
    for split, score in one_process_scores(data_root, mode, best.state_dict, *extra).items():
        assert score == pytest.approx(results[split], rel=1e-6), split


CLASSIFY = {  # config, data slice fixture, loader, a tiny model and evaluation batches
    "images": ("fmnist_finetune_quick.yaml", "fmnist_slice", load_image_data,
               ["model.core.dim=32", "model.core.depth=1", "train.eval_batch_size=96"]),
    # a frozen encoder: DDP sees the head's parameters only, none left without a gradient
    "image probe": ("fmnist_finetune_quick.yaml", "fmnist_slice", load_image_data,
                    ["model.core.dim=32", "model.core.depth=1", "train.eval_batch_size=96",
                     "task.classify.probe=true"]),
    # one text per evaluation batch: no padding, so that one process computes exactly what the
    # ranks did (padding changes [CLS] only by rounding, enough to flip a near-tied review)
    "texts": ("imdb_finetune_quick.yaml", "imdb_slice", load_text_data,
              ["model.core.dim=32", "model.core.depth=1", "model.text.vocab_size=2000",
               "model.text.max_length=128", "train.eval_batch_size=1"]),
}  # fmt: skip


@pytest.mark.parametrize("domain", sorted(CLASSIFY))
def test_torchrun_classifies_images_and_texts_scoring_whole_splits(domain, request, tmp_path):
    config, slice_fixture, load, tiny = CLASSIFY[domain]
    overrides = [*request.getfixturevalue(slice_fixture), *tiny, "progress=false",
                 "train.epochs=1", "train.batch_size=64"]  # fmt: skip
    out_dir = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           str(REPO / "train.py"), "--config", f"configs/{config}", *overrides,
           f"out_dir={out_dir}"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["epoch"] for r in rows(out_dir)] == [1]
    results = json.loads((out_dir / "results.json").read_text())
    assert results["processes"] == 2
    # the two ranks' counts add up to one process's accuracy over the whole split
    cfg = load_config(REPO / "configs" / config, overrides)
    data = load(cfg)
    model = build_classifier(cfg, data.num_classes)
    model.load_state_dict(load_checkpoint(out_dir / "best").state_dict)
    for split in ("valid", "test"):
        correct, total = correct_and_total(model, getattr(data, split), torch.device("cpu"))
        assert correct / total == pytest.approx(results[split], abs=1e-9), split


@pytest.mark.parametrize("mode", ["finetune", "pretrain"])
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(data_root, tmp_path, mode):
    extra = ("train.epochs=2", "train.batch_size=128", "train.checkpoint_every=3")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(train_cmd(data_root, whole, *extra, mode=mode), check=True, cwd=REPO, env=ENV,
                   capture_output=True)  # fmt: skip

    stopped_at = kill_inside_an_epoch(train_cmd(data_root, killed, *extra, mode=mode), killed,
                                      ENV, 120)  # fmt: skip
    assert 0 < stopped_at["batch_in_epoch"] < BATCHES_PER_EPOCH[mode]  # killed inside an epoch

    resume = {"finetune": "resume=auto", "pretrain": "--resume"}[mode]  # both spellings
    resumed = train_cmd(data_root, killed, *extra, resume, mode=mode)
    subprocess.run(resumed, check=True, cwd=REPO, env=ENV, capture_output=True)
    assert rows(killed) == rows(whole)
    a, b = load_checkpoint(whole / "last").state_dict, load_checkpoint(killed / "last").state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ctrl_c_stops_with_the_last_checkpoint_intact(data_root, tmp_path):
    # batches of 32: about 100 steps, so a run cannot end before this test sees step 2's
    # checkpoint, even on a loaded machine
    extra = ("train.epochs=2", "train.batch_size=32", "train.checkpoint_every=2")
    out_dir = tmp_path / "run"
    command = train_cmd(data_root, out_dir, *extra)
    proc = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    meta = out_dir / "last" / "meta.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not meta.exists():
        time.sleep(0.02)
    step = json.loads(meta.read_text())["progress"]["step"] if meta.exists() else None
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, f"signalled at step {step}; exit {proc.returncode}: {stderr}"
    assert "the last good checkpoint is intact" in stderr
    assert load_checkpoint(out_dir / "last").meta["progress"]["step"] > 0
    resumed = subprocess.run(train_cmd(data_root, out_dir, *extra, "resume=auto"), cwd=REPO,
                             env=ENV, capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert [r["epoch"] for r in rows(out_dir)] == [1, 2]


def test_truncated_last_checkpoint_falls_back_to_the_previous_one(data_root, tmp_path):
    out_dir = tmp_path / "run"
    subprocess.run(train_cmd(data_root, out_dir, "train.epochs=2", "train.batch_size=512"),
                   check=True, cwd=REPO, env=ENV, capture_output=True)  # fmt: skip
    weights = out_dir / "last" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.warns(UserWarning, match="corrupt or truncated weights"):
        ckpt, state = load_resume_point(out_dir / "last")
    assert ckpt.path == out_dir / "last.prev" and state["progress"]["epoch"] == 2

    cfg = load_config("configs/quickstart.yaml", [*TINY, "model.core.norm=share"])
    with pytest.raises(CheckpointError, match=r"model.core.norm \(checkpoint 'sep', now 'share'\)"):
        check_same_run(ckpt.meta["config"], cfg, ckpt.path)
    # a key added after the checkpoint was written counts as its default, not as a change
    older, same = ckpt.meta["config"], [*TINY, "train.epochs=2", "train.batch_size=512"]
    del older["task"]["mae"]
    check_same_run(older, load_config("configs/quickstart.yaml", same), ckpt.path)
    changed = load_config("configs/quickstart.yaml", [*same, "task.mae.mask_ratio=0.5"])
    with pytest.raises(CheckpointError, match=r"task.mae.mask_ratio \(checkpoint 0.75, now 0.5\)"):
        check_same_run(older, changed, ckpt.path)


def _children(pid):
    """PIDs of the processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the ranks through /proc")
def test_a_rank_killed_mid_run_ends_the_whole_run(data_root, tmp_path):
    out_dir = tmp_path / "ddp"
    cmd = train_cmd(data_root, out_dir, "train.epochs=50", "train.batch_size=128")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", *cmd[1:]]
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not (out_dir / "last").exists():
        time.sleep(0.1)
    ranks = _children(proc.pid)
    assert len(ranks) == 2 and proc.poll() is None  # training, past the first epoch
    os.kill(ranks[1], signal.SIGKILL)
    try:
        returncode = proc.wait(timeout=60)  # the other rank must not hang
    finally:
        proc.kill()
    assert returncode != 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in ranks)
