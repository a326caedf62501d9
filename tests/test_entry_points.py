"""The entry points turn bad input into one line and exit status 2; tracebacks on request."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import graphsep.cli.train
import train
from graphsep.cli.main import main
from graphsep.config import ConfigError
from graphsep.molecules.table import DataError

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = str(REPO / "configs" / "quickstart.yaml")


def test_train_reports_bad_input_in_one_line(capsys):
    assert train.main(["--config", QUICKSTART, "model.nrom=sep"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("train.py: error: command line: unknown key 'model.nrom'")
    assert main(["train", "--config", QUICKSTART, "model.nrom=sep"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphsep: error: command line: unknown key 'model.nrom'")


@pytest.mark.parametrize("entry", ["train.py", "graphsep train"])
def test_an_interrupted_run_says_its_checkpoint_is_intact(monkeypatch, capsys, entry):
    def interrupt(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(graphsep.cli.train, "run_task", interrupt)
    argv = ["--config", QUICKSTART]
    assert (train.main(argv) if entry == "train.py" else main(["train", *argv])) == 130
    assert capsys.readouterr().err == (
        "interrupted: the last good checkpoint is intact under out_dir\n"
    )


def test_debug_flag_or_variable_shows_the_traceback(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="model.nrom"):
        train.main(["--debug", "--config", QUICKSTART, "model.nrom=sep"])
    build = ["data", "build", "mine", "--source", str(tmp_path / "gone.csv")]
    build += ["--root", str(tmp_path), "--task", "regression"]
    with pytest.raises(DataError, match="no such table"):
        main(["--debug", *build])
    assert main(build) == 2
    monkeypatch.setenv("GRAPHSEP_DEBUG", "1")
    with pytest.raises(DataError, match="no such table"):
        main(build)
    monkeypatch.setenv("GRAPHSEP_DEBUG", "0")
    assert main(build) == 2


def test_progress_in_a_log_file_is_one_line_per_epoch(tmp_path):
    log = tmp_path / "train.log"
    command = [
        sys.executable, "train.py", "--config", QUICKSTART, f"data.root={tmp_path / 'data'}",
        f"out_dir={tmp_path / 'run'}", "train.epochs=2", "train.batch_size=256",
        "model.core.dim=16", "model.core.depth=1", "model.core.num_heads=2", "progress=true",
    ]  # fmt: skip
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, timeout=300)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text  # no bar redraws in a file
    assert len([line for line in text.splitlines() if line.startswith("epoch ")]) == 2


def test_graphsep_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    listed = re.findall(r"^    (\w+) ", capsys.readouterr().out, re.MULTILINE)
    assert listed == ["train", "data", "predict", "embed", "analyze", "plot"]


def test_graphsep_train_is_train_py(tmp_path, capsys):
    tiny = [
        f"data.root={tmp_path / 'data'}", "train.epochs=1", "train.max_steps=2",
        "model.core.dim=16", "model.core.depth=1", "model.core.num_heads=2", "progress=false",
    ]  # fmt: skip
    assert train.main(["--config", QUICKSTART, *tiny, f"out_dir={tmp_path / 'script'}"]) == 0
    script = capsys.readouterr().out.splitlines()[-1]
    # options among the overrides, as train.py reads them
    command = ["train", *tiny[:3], "--config", QUICKSTART, *tiny[3:], f"out_dir={tmp_path / 'cli'}"]
    assert main(command) == 0
    cli = capsys.readouterr().out.splitlines()[-1]
    assert cli.startswith("best epoch 1: valid rocauc 0.") and cli.endswith(f"-> {tmp_path}/cli")
    assert cli.replace("/cli", "/script") == script
    results = [
        json.loads((tmp_path / run / "results.json").read_text()) for run in ("cli", "script")
    ]
    for run in results:
        del run["hours"]  # the only field that differs: wall time
    assert results[0] == results[1] and results[0]["steps"] == 2
    assert json.loads((tmp_path / "cli" / "best" / "meta.json").read_text())["kind"] == "property"
