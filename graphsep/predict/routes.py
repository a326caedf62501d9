"""Which command-line source fits a checkpoint, for the line that refuses another."""

from __future__ import annotations

from typing import Any

SOURCES = {
    "graph": "score SMILES with --input or --smiles",
    "image": "score images with --images",
    "text": "score texts with --texts",
}
"""Per front end, the options that read what its models score."""


def frontend_of(meta: dict[str, Any]) -> str:
    """Return a checkpoint model's front end (graphsep 0.1 checkpoints hold graph models)."""
    return meta.get("config", {}).get("model", {}).get("frontend", "graph")


def wrong_source(meta: dict[str, Any], where: str, needs: str) -> str:
    """Return the message for a checkpoint given to a source it cannot score.

    Args:
        meta (dict[str, Any]): the checkpoint's ``meta.json``.
        where (str): the file to name.
        needs (str): what the source needs, e.g. ``"--images needs an image model"``.
    """
    frontend = frontend_of(meta)
    kind = meta.get("kind", "unknown")
    return (
        f"{where}: a {kind!r} checkpoint of the {frontend} front end; {needs}: {SOURCES[frontend]}"
    )
