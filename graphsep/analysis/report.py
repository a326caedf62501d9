"""``graphsep analyze``'s work: measure and draw the [CLS] embeddings of some checkpoints.

For each checkpoint, the [CLS] vectors of a split of its own data, or of the data given
(:func:`~graphsep.analysis.split_embeddings.split_embeddings`), are measured
(:func:`~graphsep.analysis.geometry.geometry`) and projected; the spectra of all of them are
overlaid in one figure, so checkpoints trained with SepNorm and ShareNorm compare at a glance.
Written into one folder::

    analysis.json        split, data given (or null), and per checkpoint: path, name, front
                         end, task, norm, rows, dim, uniformity, effective_rank,
                         anisotropy, mean_norm, singular_values
    spectrum.png         the singular-value spectra, overlaid
    projection-<i>.png   checkpoint i's embeddings on their two principal components, by label
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from graphsep.analysis.geometry import geometry, singular_spectrum
from graphsep.analysis.plots import plot_projection, plot_spectra
from graphsep.analysis.split_embeddings import split_embeddings
from graphsep.files import write_atomically

CHECKPOINT_FOLDERS = {"best", "last", "last.prev"}
"""Folder names a run gives its checkpoints: a checkpoint is named by its run's folder."""


def checkpoint_name(path: Path) -> str:
    """Return a short name for a checkpoint: its run's folder for ``<run>/best``, else its own."""
    path = path.resolve()
    return path.parent.name if path.name in CHECKPOINT_FOLDERS else path.name


def analyze(
    checkpoints: list[str | Path],
    out_dir: str | Path,
    split: str = "test",
    data: str | Path | None = None,
) -> dict:
    """Measure and draw the [CLS] embeddings of ``split`` of each checkpoint into ``out_dir``.

    ``data`` replaces each checkpoint's own data (see
    :func:`~graphsep.analysis.split_embeddings.split_embeddings`).

    Returns:
        dict: the content of ``analysis.json``.

    Raises:
        CheckpointError, ValueError: as :func:`split_embeddings` and :func:`geometry`, naming
            the checkpoint.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    spectra = {}
    for index, path in enumerate(map(Path, checkpoints)):
        embedded = split_embeddings(path, split, data)
        vectors = torch.from_numpy(embedded.cls)
        try:
            measures = geometry(vectors)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
        name = f"{embedded.norm} ({checkpoint_name(path)})"
        values = singular_spectrum(vectors).numpy()
        spectra[name] = values
        plot_projection(embedded.cls, embedded.labels, out / f"projection-{index}.png",
                        f"{name}: {embedded.frontend} {embedded.kind}, {split}")  # fmt: skip
        entries.append({
            "path": str(path), "name": name, "frontend": embedded.frontend,
            "kind": embedded.kind, "norm": embedded.norm, **measures,
            "singular_values": [round(float(v), 6) for v in values],
        })  # fmt: skip
    plot_spectra(spectra, out / "spectrum.png", f"[CLS] singular values, {split} split")
    report = {"split": split, "data": None if data is None else str(data), "checkpoints": entries}
    text = json.dumps(report, indent=1) + "\n"
    write_atomically(out / "analysis.json", lambda tmp: tmp.write_text(text))
    return report
