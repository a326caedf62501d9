"""Shared fixtures: the real data beside the checkout (``../shared/data``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphsep.images.sources import load_split

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; tests that need it skip cleanly where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def moleculenet(shared_data: Path) -> Path:
    """The MoleculeNet tables (SMILES + labels) that OGB's ``ogbg-mol*`` sets come from."""
    return shared_data / "moleculenet"


@pytest.fixture(scope="session")
def fmnist_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The first 2,000 training and 500 test images of Fashion-MNIST as .npz files (overrides)."""
    fmnist = shared_data / "images" / "fashion-mnist"
    folder = tmp_path_factory.mktemp("fmnist")
    overrides = []
    for split, prefix, rows in (("train", "train", 2000), ("test", "t10k", 500)):
        data = load_split(fmnist / f"{prefix}-images-idx3-ubyte.gz",
                          fmnist / f"{prefix}-labels-idx1-ubyte.gz")  # fmt: skip
        path = folder / f"{split}.npz"
        np.savez(path, images=data.images[:rows, ..., 0], labels=data.labels[:rows])
        overrides.append(f"data.images.{split}={path}")
    return overrides


@pytest.fixture(scope="session")
def imdb_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """2,000 IMDB reviews (balanced, shuffled) as a .csv.gz and a tokenizer folder (overrides)."""
    folder = tmp_path_factory.mktemp("imdb")
    frame = pd.read_csv(shared_data / "text" / "imdb_train.csv.gz").sample(n=2000, random_state=0)
    frame.to_csv(folder / "imdb.csv.gz", index=False)
    return [f"data.text.path={folder / 'imdb.csv.gz'}", f"data.text.cache_dir={folder}"]
