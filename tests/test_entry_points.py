"""The entry points turn bad input into one line and exit status 2; tracebacks on request."""

from __future__ import annotations

from pathlib import Path

import pytest

import train
from graphsep.cli import main
from graphsep.config import ConfigError
from graphsep.data.table import DataError

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
