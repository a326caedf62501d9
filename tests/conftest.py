"""Shared fixtures: the real data beside the checkout (``../shared/data``)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
