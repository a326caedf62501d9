"""``benchmarks/sepnorm.py`` end to end on one molecule set and one seed, then its resume."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SMALL = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "train.epochs=1",
         "train.max_steps=4", "data.corpus.max_molecules=400"]  # fmt: skip


def _harness(tmp_path: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "benchmarks/sepnorm.py", "--only", "molbbbp", "--seeds", "0",
               "--peers", "gin-virtual", "--work", str(tmp_path / "work"),
               "--results", str(tmp_path / "results"), "--docs", str(tmp_path / "docs"),
               *SMALL]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_the_harness_runs_a_molecule_set_end_to_end_and_resumes_from_its_archive(
    shared_data, tmp_path
):
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "results.md"
    begin = "<!-- begin sepnorm_quick_custom: written by benchmarks/sepnorm.py -->"
    page.write_text(
        f"# Results\n\n{begin}\nold numbers\n<!-- end sepnorm_quick_custom -->\nprose\n"
    )
    first = _harness(tmp_path)
    table = pd.read_csv(tmp_path / "results" / "sepnorm.csv")
    cells = set(zip(table.dataset, table.variant, table.model, table.norm.fillna(""), strict=True))
    assert cells == {
        ("zinc-moses", "pretrain", "graphsep", "share"),
        ("zinc-moses", "pretrain", "graphsep", "sep"),
        ("ogbg-molbbbp", "scratch", "graphsep", "share"),
        ("ogbg-molbbbp", "scratch", "graphsep", "sep"),
        ("ogbg-molbbbp", "finetune", "graphsep", "share"),
        ("ogbg-molbbbp", "finetune", "graphsep", "sep"),
        ("ogbg-molbbbp", "scratch", "gin-virtual", ""),
    }
    bbbp = table[table.dataset == "ogbg-molbbbp"]
    assert bbbp.test.between(0, 1).all() and (bbbp.metric == "rocauc").all()
    assert (bbbp.epochs == 1).all() and table.commit.notna().all()
    ours = table[table.model == "graphsep"]  # every pair analysed, ZINC's on molbbbp's test
    assert ours.uniformity.notna().all() and ours.effective_rank.between(1, 32).all()
    summary = (tmp_path / "results" / "sepnorm_quick.md").read_text()
    assert "| graph | ogbg-molbbbp | finetune | rocauc |" in summary
    assert "| ogbg-molbbbp | rocauc |" in summary  # the peers table
    docs = page.read_text()  # the summary replaced what stood between the markers
    assert summary in docs and "old numbers" not in docs and docs.endswith("prose\n")
    assert (tmp_path / "docs" / "img" / "sepnorm_quick_custom.png").stat().st_size > 1000
    archive = tmp_path / "results" / "runs" / "sepnorm_quick_custom"
    assert (archive / "zinc" / "pretrain" / "sep-s0" / "best" / "model.safetensors").is_file()
    assert "train.py" in first.stdout and "gin_virtual.py" in first.stdout
    # a later session: the work folder is gone, the archive brings every run back
    shutil.rmtree(tmp_path / "work" / "sepnorm")
    second = _harness(tmp_path)
    assert "7 finished run(s) restored" in second.stdout
    assert "train.py" not in second.stdout and "gin_virtual.py" not in second.stdout
    again = pd.read_csv(tmp_path / "results" / "sepnorm.csv")
    pd.testing.assert_frame_equal(again, table)
