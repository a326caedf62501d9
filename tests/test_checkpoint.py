"""Checkpoints as inputs: every reader refuses a bad one in one line, and a resumed run refuses
data other than the data its checkpoint was trained on."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

import train
from graphsep.cli.main import main as graphsep_main
from graphsep.molecules.build import build_dataset
from graphsep.tasks.property.data import BUNDLED

TINY = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "progress=false"]


def build_bbbp(root: Path, rows: int) -> Path:
    """Build the first ``rows`` rows of the bundled BBBP table as dataset ``mini``; its root."""
    root.mkdir(exist_ok=True)
    source = root / f"bbbp{rows}.csv"
    pd.read_csv(BUNDLED["ogbg-molbbbp"], nrows=rows)[["smiles", "p_np"]].to_csv(source, index=False)
    build_dataset("mini", source, root / "data", task_type="classification", split="random",
                  skip_invalid=True, processes=1, progress=False)  # fmt: skip
    return root / "data"


def run_args(data_root: Path, out_dir: Path, *extra: str) -> list[str]:
    return [
        "--config", "configs/quickstart.yaml", "data.name=mini", "data.source=null",
        f"data.root={data_root}", f"out_dir={out_dir}", "train.epochs=1", "train.max_steps=2",
        *TINY, *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A two-step run on 200 BBBP molecules: its data root and its out_dir (best/, last/)."""
    root = tmp_path_factory.mktemp("checkpoint")
    data_root = build_bbbp(root, 200)
    assert train.main(run_args(data_root, root / "run")) == 0
    return data_root, root / "run"


def edit_meta(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        meta = json.loads((folder / "meta.json").read_text())
        change(meta)
        (folder / "meta.json").write_text(json.dumps(meta))

    return apply


def set_model_key(key: str, value: object) -> Callable[[Path], None]:
    return edit_meta(lambda meta: meta["config"]["model"]["core"].__setitem__(key, value))


def resize_a_weight(folder: Path) -> None:
    weights = load_file(folder / "model.safetensors")
    weights["encoder.frontend.embedding.cls_token"] = torch.zeros(3)  # as if from another model
    save_file(weights, folder / "model.safetensors")


@pytest.mark.parametrize(
    "damage, message",
    [
        (edit_meta(lambda m: m.pop("config")),
         "meta.json: 'config' must be a mapping (the run's config); found no 'config' entry"),
        (edit_meta(lambda m: m.__setitem__("config", [m["config"]])),
         "meta.json: 'config' must be a mapping (the run's config); found a list"),
        (set_model_key("norm", "batch"),
         "meta.json: config: model.core.norm: invalid value 'batch'; choose one of "
         "['sep', 'share']"),
        (set_model_key("num_heads", 5),
         "meta.json: config: model.core.dim (32) must be divisible by model.core.num_heads (5)"),
        (set_model_key("dropout", 2),
         "meta.json: config: model.core.dropout: must be a finite number in [0, 1), got 2.0"),
        (edit_meta(lambda m: m["task"].__setitem__("task_type", "foo")),
         "meta.json: task: task_type: invalid value 'foo'; choose one of "
         "['classification', 'regression']"),
        (resize_a_weight, "the weights do not fit the model"),
    ],
    ids=["no config", "config a list", "norm batch", "heads", "dropout", "task type", "weights"],
)  # fmt: skip
def test_every_reader_refuses_a_bad_checkpoint_in_one_line(
    trained, tmp_path, capsys, damage, message
):
    data_root, run = trained
    best, resumed = tmp_path / "best", tmp_path / "resumed"
    shutil.copytree(run / "best", best)
    shutil.copytree(run, resumed)
    for folder in (best, resumed / "last"):
        damage(folder)

    assert graphsep_main(["predict", "--checkpoint", str(best), "--smiles", "CCO"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"graphsep: error: {best}") and message in err
    assert len(err.splitlines()) == 1
    init = run_args(data_root, tmp_path / "init", f"model.init_from={best}")
    resume = run_args(data_root, resumed, "resume=auto")
    for args in (init, resume):
        assert train.main(args) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def state_of_another_model(state: dict) -> None:
    first = state["optimizer"]["state"][0]
    first["exp_avg"] = torch.zeros(*first["exp_avg"].shape, 2)


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda state: {"epoch": 3, "model": {}},
         "train_state.pt: not a graphsep training state: expected optimizer (dict), scheduler "
         "(dict), rng (list), progress (dict), found ['epoch', 'model']"),
        (lambda state: [1, 2], "train_state.pt: not a graphsep training state"),
        (lambda state: state_of_another_model(state) or state,
         "train_state.pt: does not fit this run: optimizer state 'exp_avg' of parameter 0 has "
         "shape"),
    ],
    ids=["another program's", "a list", "another model's"],
)  # fmt: skip
def test_a_foreign_training_state_is_refused(trained, tmp_path, capsys, write, message):
    data_root, run = trained
    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    file = resumed / "last" / "train_state.pt"
    torch.save(write(torch.load(file, weights_only=True)), file)
    assert train.main(run_args(data_root, resumed, "resume=auto")) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_resume_refuses_data_rebuilt_from_another_table(trained, tmp_path, capsys):
    data_root, run = trained
    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    saved = json.loads((run / "last" / "meta.json").read_text())["data_fingerprint"]
    assert saved["split_sizes"] == {"train": 160, "valid": 20, "test": 20}

    rebuilt = build_bbbp(tmp_path / "same", 200)  # the same table, built again: same data
    assert train.main(run_args(rebuilt, resumed, "resume=auto")) == 0
    other = build_bbbp(tmp_path / "other", 180)
    assert train.main(run_args(other, resumed, "resume=auto")) == 2
    err = capsys.readouterr().err
    assert f"cannot resume from {resumed / 'last'}: the data differs" in err
    assert f"checkpoint sha256 {saved['sha256']}, split_sizes {saved['split_sizes']}" in err
    assert "'train': 144, 'valid': 18, 'test': 18}" in err


def test_a_checkpoint_without_a_fingerprint_still_resumes(trained, tmp_path):
    data_root, run = trained
    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    edit_meta(lambda meta: meta.pop("data_fingerprint"))(resumed / "last")  # an older graphsep's
    with pytest.warns(UserWarning, match="records no data fingerprint"):
        assert train.main(run_args(data_root, resumed, "resume=auto")) == 0


def read_rows(out_dir: Path) -> list[dict]:
    """The run's metrics rows without their timings."""
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]


def test_patience_stops_a_stalled_run_and_a_resume_without_it_trains_on_exactly(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data_root, stopped, full = trained[0], tmp_path / "stopped", tmp_path / "full"
    eight = ["train.max_steps=0", "train.epochs=8", "train.batch_size=32"]
    assert train.main(run_args(data_root, stopped, *eight, "train.patience=1")) == 0
    rows = read_rows(stopped)
    best = [max(rows[: i + 1], key=lambda r: r["valid"])["epoch"] for i in range(len(rows))]
    assert len(rows) < 8 and rows[-1]["epoch"] - best[-1] == 1  # the first stall ends it
    assert all(r["epoch"] == b for r, b in zip(rows[:-1], best[:-1], strict=True))
    results = json.loads((stopped / "results.json").read_text())
    assert results["best_epoch"] == best[-1] and results["epochs_run"] == len(rows)
    out = capsys.readouterr().out
    assert f"stopped after epoch {len(rows)}: no better value in the 1 epochs" in out

    again = run_args(data_root, stopped, *eight, "train.patience=1", "resume=auto")
    assert train.main(again) == 0 and len(read_rows(stopped)) == len(rows)  # nothing more
    assert train.main(run_args(data_root, stopped, *eight, "resume=auto")) == 0  # patience 0
    assert train.main(run_args(data_root, full, *eight)) == 0
    assert len(rows) < len(read_rows(full)) and read_rows(stopped) == read_rows(full)
