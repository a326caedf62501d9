"""``graphsep embed``: [CLS] vectors of a real (tiny) BBBP model to .npy and .parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_predict import LARGER, SMALL, train_tiny_checkpoint

from graphsep.cli.main import main
from graphsep.predict.predictor import Predictor

BROKEN = "C1CC"
REASON = "cannot parse SMILES 'C1CC': unclosed ring for input: 'C1CC'"
SMILES = [SMALL, BROKEN, *LARGER]  # the unparseable one is row 3 of the file
DIM = 32  # the tiny model's width


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_checkpoint(tmp_path_factory.mktemp("embed"))


@pytest.fixture(scope="module")
def expected(checkpoint: Path) -> np.ndarray:
    """What the library gives for ``SMILES``: the CLI must write exactly these vectors."""
    return Predictor.from_checkpoint(checkpoint, device="cpu").embed(SMILES)


@pytest.fixture
def table(tmp_path: Path) -> Path:
    source = tmp_path / "in.csv"
    ids = [f"m{i}" for i in range(len(SMILES))]
    pd.DataFrame({"id": ids, "smiles": SMILES}).to_csv(source, index=False)
    return source


def embed(checkpoint: Path, *args: str) -> int:
    return main(["embed", "--checkpoint", str(checkpoint), *args])


def test_npy_holds_one_row_per_input_row_and_lists_the_failed_one(
    checkpoint, expected, table, tmp_path, capsys
):
    out = tmp_path / "emb.npy"
    assert embed(checkpoint, "--input", str(table), "--output", str(out)) == 0

    vectors = np.load(out)
    assert vectors.shape == (len(SMILES), DIM) and vectors.dtype == np.float32
    assert np.isnan(vectors).all(axis=1).tolist() == [False, True, False, False, False, False]
    np.testing.assert_array_equal(vectors, expected)  # NaN rows compare equal
    listing = tmp_path / "emb.errors.csv"
    failed = pd.read_csv(listing, keep_default_na=False)
    assert failed.to_dict("records") == [{"index": 1, "row": f"row 3 of {table}", "error": REASON}]
    err = capsys.readouterr().err
    assert f"graphsep: row 3 of {table}: {REASON}\n" in err
    assert f"graphsep: 5 embedded, 1 failed (reasons in {listing})\n" in err

    # a run where nothing fails leaves no listing, not even the earlier run's
    table.write_text("smiles\nCCO\nCCN\n")
    assert embed(checkpoint, "--input", str(table), "--output", str(out)) == 0
    assert np.load(out).shape == (2, DIM)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.npy", "in.csv"]


def test_parquet_keeps_the_input_columns_and_names_the_failed_row(
    checkpoint, expected, table, tmp_path, capsys
):
    out = tmp_path / "emb.parquet"
    assert embed(checkpoint, "--input", str(table), "--output", str(out), "--chunk-size", "4") == 0

    frame = pd.read_parquet(out)
    dims = [f"cls_{i}" for i in range(DIM)]
    assert list(frame.columns) == ["id", "smiles", *dims, "error", "warning"]
    assert frame["smiles"].tolist() == SMILES
    assert (frame[dims].dtypes == np.float32).all()
    np.testing.assert_array_equal(frame[dims].to_numpy(), expected)
    assert frame["error"].tolist() == ["", REASON, "", "", "", ""]
    assert frame["warning"].tolist() == [""] * len(SMILES)
    err = capsys.readouterr().err
    assert f"graphsep: row 3 of {table}: {REASON}\n" in err
    assert f"graphsep: 5 embedded, 1 failed (reasons in {out})\n" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.parquet", "in.csv"]


@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
def test_smiles_arguments_are_named_by_position(checkpoint, expected, tmp_path, capsys, suffix):
    out = tmp_path / f"emb{suffix}"
    assert embed(checkpoint, "--smiles", SMALL, BROKEN, "--output", str(out)) == 0
    vectors = np.load(out) if suffix == ".npy" else pd.read_parquet(out).filter(like="cls_")
    # batched apart from the other four, so equal to float32 rounding
    np.testing.assert_allclose(np.asarray(vectors), expected[:2], rtol=1e-5, atol=1e-6)
    assert f"graphsep: --smiles #2: {REASON}\n" in capsys.readouterr().err


def test_nothing_embedded_is_an_error(checkpoint, tmp_path, capsys):
    out = tmp_path / "emb.npy"
    assert embed(checkpoint, "--smiles", BROKEN, "xyz", "--output", str(out)) == 2
    assert np.isnan(np.load(out)).all() and np.load(out).shape == (2, DIM)
    assert "graphsep: error: no molecule could be embedded" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["emb.csv", "emb", "-"])
def test_an_unknown_suffix_is_refused_before_the_model_loads(tmp_path, capsys, name):
    out = name if name == "-" else str(tmp_path / name)
    missing = tmp_path / "no-checkpoint"  # never read: the output is refused first
    assert embed(missing, "--smiles", SMALL, "--output", out) == 2
    assert capsys.readouterr().err == (
        f"graphsep: error: cannot write {out}: embeddings are written to a file ending in "
        ".npy or .parquet\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_listing_of_failed_rows_never_replaces_the_input(checkpoint, tmp_path, capsys):
    source = tmp_path / "emb.errors.csv"  # where emb.npy's failed rows would be listed
    source.write_text("smiles\nCCO\nC1CC\n")
    out = tmp_path / "emb.npy"
    assert embed(checkpoint, "--input", str(source), "--output", str(out)) == 2
    assert f"the output {source} is the input file" in capsys.readouterr().err
    assert source.read_text() == "smiles\nCCO\nC1CC\n" and not out.exists()
