"""A pickle crafted to run code when loaded, for the tests that a dataset folder is data only."""

from __future__ import annotations

from pathlib import Path


class CreatesFile:
    """Unpickling this creates ``path``: proof that code from the file ran.

    Args:
        path (Path): the marker file unpickling creates.
    """

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))
