"""The [CLS] analysis: its measures on sets of known shape, ``graphsep analyze`` on real runs."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from test_predict import train_tiny_checkpoint

import train
from graphsep.analysis.curves import plot_curves, read_run, run_labels
from graphsep.analysis.geometry import anisotropy, effective_rank, singular_spectrum, uniformity
from graphsep.analysis.split_embeddings import split_embeddings
from graphsep.cli.main import main as graphsep

TINY = ["model.core.dim=32", "model.core.depth=1", "model.core.num_heads=4", "progress=false",
        "train.epochs=1", "train.max_steps=8"]  # fmt: skip


def test_the_measures_match_their_definitions_on_small_sets():
    x = torch.randn(40, 8, generator=torch.Generator().manual_seed(0)).double()
    unit = x / x.norm(dim=1, keepdim=True)
    pairs = list(itertools.combinations(range(40), 2))
    cosines = [float(unit[i] @ unit[j]) for i, j in pairs]
    assert anisotropy(x) == pytest.approx(np.mean(cosines), abs=1e-12)
    gaussian = [math.exp(-2 * float((unit[i] - unit[j]).pow(2).sum())) for i, j in pairs]
    assert uniformity(x) == pytest.approx(math.log(np.mean(gaussian)), abs=1e-9)


def test_the_measures_tell_a_narrow_cone_from_a_spread_cloud():
    generator = torch.Generator().manual_seed(0)
    spread = torch.randn(3000, 16, generator=generator)
    cone = spread * 0.2 + torch.eye(16)[0] * 3  # every vector near the first axis
    low_rank = torch.randn(3000, 3, generator=generator) @ torch.randn(3, 16, generator=generator)
    assert uniformity(spread) < uniformity(cone) - 1  # lower: more uniform
    assert anisotropy(spread) == pytest.approx(0, abs=0.01) and anisotropy(cone) > 0.8
    assert effective_rank(singular_spectrum(spread)) > 15
    assert effective_rank(singular_spectrum(low_rank)) < 3.01
    assert effective_rank(singular_spectrum(cone)) < effective_rank(singular_spectrum(spread))


def _png_size(path):
    with Image.open(path) as image:
        return image.size


def test_analyze_sep_and_share_image_checkpoints(fmnist_slice, tmp_path, capsys):
    runs = {}
    for norm in ("share", "sep"):
        runs[norm] = tmp_path / norm
        args = ["--config", "configs/fmnist_finetune_quick.yaml", *fmnist_slice, *TINY,
                f"model.core.norm={norm}", f"out_dir={runs[norm]}"]  # fmt: skip
        assert train.main(args) == 0
    out = tmp_path / "analysis"
    checkpoints = [str(runs[n] / "best") for n in ("share", "sep")]
    assert graphsep(["analyze", "--checkpoint", *checkpoints, "--out", str(out)]) == 0
    report = json.loads((out / "analysis.json").read_text())
    assert report["split"] == "test"
    assert [e["name"] for e in report["checkpoints"]] == ["share (share)", "sep (sep)"]
    for entry in report["checkpoints"]:
        assert (entry["rows"], entry["dim"], entry["kind"]) == (500, 32, "classify")
        assert len(entry["singular_values"]) == 32 and entry["effective_rank"] <= 32
    assert "uniformity" in capsys.readouterr().err
    for name in ("spectrum.png", "projection-0.png", "projection-1.png"):
        assert min(_png_size(out / name)) > 100
    curves = tmp_path / "curves.png"
    assert graphsep(["plot", str(runs["share"]), str(runs["sep"]), "--out", str(curves)]) == 0
    assert "train_loss, valid, test of 2 run(s)" in capsys.readouterr().err
    assert min(_png_size(curves)) > 100
    # the analysed vectors are the test images' [CLS], as graphsep embed gives them
    test_file = fmnist_slice[1].split("=", 1)[1]
    assert graphsep(["embed", "--checkpoint", checkpoints[1], "--images", test_file,
                     "--output", str(tmp_path / "emb.npy")]) == 0  # fmt: skip
    embedded = split_embeddings(checkpoints[1])
    np.testing.assert_allclose(embedded.cls, np.load(tmp_path / "emb.npy"), atol=1e-5)
    np.testing.assert_array_equal(embedded.labels, np.load(test_file)["labels"])
    given = split_embeddings(checkpoints[1], data=test_file)  # the same file, given: read whole
    np.testing.assert_allclose(given.cls, embedded.cls, atol=1e-5)
    np.testing.assert_array_equal(given.labels, embedded.labels)


def test_analyze_a_text_mlm_checkpoint_with_its_own_tokenizer(imdb_slice, tmp_path, capsys):
    run = tmp_path / "mlm"
    assert train.main(["--config", "configs/imdb_mlm_quick.yaml", *imdb_slice, *TINY,
                       "model.text.vocab_size=2000", "model.text.max_length=128",
                       f"out_dir={run}"]) == 0  # fmt: skip
    embedded = split_embeddings(run / "best", "valid")
    assert embedded.cls.shape == (200, 32) and embedded.kind == "mlm"
    assert sorted(np.unique(embedded.labels)) == [0, 1]
    table = imdb_slice[0].split("=", 1)[1]  # given as --data: split as the recipe splits tables
    given = split_embeddings(run / "best", "valid", table)
    np.testing.assert_allclose(given.cls, embedded.cls, atol=1e-5)
    with pytest.raises(ValueError, match="split 'train': choose one of valid, test"):
        split_embeddings(run / "best", "train")
    assert graphsep(["plot", str(run), "--out", str(tmp_path / "curves.png")]) == 0
    assert "train_loss, heldout_loss of 1 run(s)" in capsys.readouterr().err
    assert min(_png_size(tmp_path / "curves.png")) > 100


def test_analyze_a_molecule_property_checkpoint(tmp_path, capsys):
    best = train_tiny_checkpoint(tmp_path)
    embedded = split_embeddings(best, "test")
    assert (embedded.frontend, embedded.kind, embedded.norm) == ("graph", "property", "sep")
    (test_rows,) = tmp_path.glob("data/bbbp300/split/*/test.csv.gz")
    assert embedded.cls.shape == (len(pd.read_csv(test_rows, header=None)), 32)
    assert embedded.labels.shape == (len(embedded.cls), 1)  # one task, p_np
    assert (
        graphsep(["plot", str(best.parent / "metrics.jsonl"), "--out", str(tmp_path / "c.png")])
        == 0
    )
    assert "train_loss, valid, test of 1 run(s)" in capsys.readouterr().err
    assert min(_png_size(tmp_path / "c.png")) > 100


def test_plot_labels_runs_by_the_shortest_telling_tail_and_names_bad_runs(tmp_path, capsys):
    rows = [{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.5}]
    runs = [tmp_path / stage / "sep-s0" for stage in ("finetune", "scratch")]
    for run in runs:
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run_labels(runs) == ["finetune/sep-s0", "scratch/sep-s0"]
    assert run_labels([runs[0], runs[0].parent / "share-s0"]) == ["sep-s0", "share-s0"]
    assert plot_curves({"a": read_run(runs[0])}, tmp_path / "a.png") == ["train_loss"]
    out = str(tmp_path / "b.png")
    assert graphsep(["plot", str(tmp_path), "--out", out]) == 2
    assert f"{tmp_path}: no metrics.jsonl (not a run folder?)" in capsys.readouterr().err
    (runs[1] / "metrics.jsonl").write_text("{not json\n" + json.dumps(rows[1]) + "\n")
    assert graphsep(["plot", str(runs[1]), "--out", out]) == 2
    assert "metrics.jsonl, line 1: not a JSON row" in capsys.readouterr().err
    (runs[1] / "metrics.jsonl").write_text("")
    assert graphsep(["plot", str(runs[1]), "--out", out]) == 2
    assert "no finished epoch yet" in capsys.readouterr().err
    assert not (tmp_path / "b.png").exists()
