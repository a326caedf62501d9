"""Kill a training run inside an epoch, resume it, and compare with an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from graphsep.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]


def kill_inside_an_epoch(command: list[str], out_dir: Path, env: dict, timeout: float) -> dict:
    """Start ``command``, SIGKILL it once its ``last`` checkpoint lies inside an epoch.

    Returns:
        dict: the killed run's last ``progress`` (its ``batch_in_epoch`` is checked by callers).
    """
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    meta = out_dir / "last" / "meta.json"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if meta.exists() and json.loads(meta.read_text())["progress"]["batch_in_epoch"] > 0:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return json.loads(meta.read_text())["progress"]


def assert_resume_is_exact(args: list[str], tmp_path: Path, timeout: float = 180) -> None:
    """Run ``train.py args`` whole, then killed (SIGKILL) mid-epoch and resumed: same weights.

    ``args`` must set ``train.checkpoint_every`` so that a ``last`` checkpoint falls inside an
    epoch.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}

    def command(out_dir: Path, *extra: str) -> list[str]:
        return [sys.executable, str(REPO / "train.py"), *args, f"out_dir={out_dir}", *extra]

    subprocess.run(command(tmp_path / "whole"), check=True, cwd=REPO, env=env,
                   capture_output=True)  # fmt: skip
    stopped_at = kill_inside_an_epoch(command(tmp_path / "killed"), tmp_path / "killed", env,
                                      timeout)  # fmt: skip
    assert stopped_at["batch_in_epoch"] > 0  # inside an epoch
    subprocess.run(command(tmp_path / "killed", "resume=auto"), check=True, cwd=REPO, env=env,
                   capture_output=True)  # fmt: skip
    a = load_checkpoint(tmp_path / "whole" / "last").state_dict
    b = load_checkpoint(tmp_path / "killed" / "last").state_dict
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
