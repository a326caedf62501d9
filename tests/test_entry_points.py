"""The entry points turn bad input into one line and exit status 2; tracebacks on request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
