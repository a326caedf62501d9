"""What graphsep writes: whole or not at all, with a plain file's permissions, disk full named."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

from graphsep.config import Config, config_to_dict
from graphsep.files import WriteError, write_atomically
from graphsep.training.checkpoint import load_checkpoint, save_checkpoint
from graphsep.training.resume import load_resume_point

STATE = {"weight": torch.arange(6.0).view(2, 3)}
META = {"kind": "test", "config": config_to_dict(Config())}


def train_state(step: int) -> dict:
    return {"optimizer": {}, "scheduler": {}, "rng": [], "progress": {"step": step}}


@pytest.fixture
def umask():
    before = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(before)


@pytest.mark.parametrize(("mask", "folder", "file"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_checkpoints_honour_the_umask(tmp_path, umask, mask, folder, file):
    umask(mask)
    path = save_checkpoint(tmp_path / "run" / "last", STATE, META, train_state(0))
    assert path.stat().st_mode & 0o777 == folder
    assert {p.name: p.stat().st_mode & 0o777 for p in path.iterdir()} == {
        "model.safetensors": file, "meta.json": file, "train_state.pt": file,
    }  # fmt: skip


def full_disk_after(limit: int):
    """A ``Path.write_bytes`` that writes ``limit`` bytes, then fails as a full disk does."""

    def write_bytes(self: Path, data: bytes) -> int:
        with open(self, "wb") as f:
            f.write(data[:limit])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    return write_bytes


def test_a_full_disk_during_a_checkpoint_is_one_line_and_resume_uses_the_last_whole_one(
    tmp_path, monkeypatch
):
    last = tmp_path / "last"
    save_checkpoint(last, STATE, {**META, "epoch": 1}, train_state(1))
    save_checkpoint(last, STATE, {**META, "epoch": 2}, train_state(2), keep_previous=True)
    monkeypatch.setattr(Path, "write_bytes", full_disk_after(100))
    bigger = {"weight": torch.zeros(1000)}
    with pytest.raises(WriteError, match=f"^no space left on device while writing {last}$"):
        save_checkpoint(last, bigger, {**META, "epoch": 3}, train_state(3), keep_previous=True)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last", "last.prev"]  # no temporary
    ckpt, state = load_resume_point(last)
    assert (ckpt.meta["epoch"], state["progress"]["step"]) == (2, 2)
    assert torch.equal(load_checkpoint(last).state_dict["weight"], STATE["weight"])


def test_a_failed_file_write_keeps_what_was_there(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old\n")

    def write(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError, match="no space left on device while writing"):
        write_atomically(path, write)
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["table.csv"]


def test_a_killed_save_confuses_no_resume_and_its_leftover_goes_at_the_next_save(tmp_path):
    last = tmp_path / "last"
    save_checkpoint(last, STATE, {**META, "epoch": 1}, train_state(1))
    killed = tmp_path / ".0badf00d.last"  # as a save killed part way leaves its folder
    killed.mkdir()
    (killed / "model.safetensors").write_bytes(b"half")
    (tmp_path / ".notes.last").write_text("not graphsep's")
    ckpt, state = load_resume_point(last)
    assert (ckpt.meta["epoch"], state["progress"]["step"]) == (1, 1)
    save_checkpoint(last, STATE, {**META, "epoch": 2}, train_state(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.last", "last"]
    assert load_resume_point(last)[0].meta["epoch"] == 2
