"""The featurized cache of a SMILES corpus: shards written by worker processes, and a manifest.

Rows stream through in shards of ``shard_size``; each worker parses and featurizes a shard
(:func:`graphsep.molecules.featurize.featurize`, the routine dataset building and prediction
use, its lenient route for molecules RDKit will not sanitize included) and writes it as one file
of compact integer tensors:

==============  ==============  =================================================
``atoms``       ``(V, 9)`` u8   OGB atom features (every vocabulary below 256)
``bonds``       ``(Bd, 2)`` i16 the two atoms of each bond, one row per bond
``bond_feat``   ``(Bd, 3)`` u8  OGB bond features
``node_ptr``    ``(G+1,)`` i64  offsets of each molecule's atoms
``bond_ptr``    ``(G+1,)`` i64  offsets of each molecule's bonds
==============  ==============  =================================================

That is ``9 n + 7 b + 16`` bytes per molecule of ``n`` atoms and ``b`` bonds. Shortest paths are
not stored (``2 * 2 n^2`` bytes, far more than the graph): the collate computes them per batch,
a small share of a training step (``docs/results.md``).

A SMILES that gives no graph by ``featurize``'s rules (empty, not SMILES text, unparseable, no
atom or more than ``data.corpus.max_atoms``, a wildcard atom) is skipped, counted and listed (file,
line, SMILES, reason) in ``invalid_smiles.tsv`` beside the shards; it never stops the build. A
build that is interrupted resumes from its finished shards; a worker process that dies stops it
with one line. The manifest, written last, lists the shards and marks the cache complete.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rdkit
import torch
from torch import Tensor
from tqdm.auto import tqdm

from graphsep.config import CorpusConfig
from graphsep.files import write_atomically
from graphsep.molecules.corpus_rows import CorpusRow, iter_corpus
from graphsep.molecules.featurize import MolGraph, SmilesError, featurize
from graphsep.molecules.table import DataError
from graphsep.parallel import bounded_map
from graphsep.progress import progress_bar

CACHE_VERSION = 2
"""Bumped whenever the shard layout or the featurization changes: old caches are not reused."""

MANIFEST = "manifest.json"
REPORT = "invalid_smiles.tsv"


@dataclass
class ShardJob:
    """One shard to featurize and write, sent to a worker process.

    Args:
        index (int): shard number.
        folder (str): the cache folder.
        rows (list[CorpusRow]): its SMILES.
        files (list[str]): the corpus files (for the report).
        max_atoms (int): larger molecules are skipped.
    """

    index: int
    folder: str
    rows: list[CorpusRow]
    files: list[str]
    max_atoms: int

    @property
    def path(self) -> Path:
        """The shard's tensor file."""
        return shard_path(Path(self.folder), self.index)


def shard_path(folder: Path, index: int) -> Path:
    """``<folder>/shard-00012.pt``; its summary is the same name with ``.json``.

    Args:
        folder (Path): the cache folder.
        index (int): the shard number.

    Returns:
        Path: the shard's tensor file.
    """
    return folder / f"shard-{index:05d}.pt"


def _pack(graphs: list[MolGraph]) -> dict[str, Tensor]:
    """Concatenate graphs into the compact shard tensors (see the module docstring)."""

    def cat(parts: list[np.ndarray], width: int, dtype: type) -> Tensor:
        empty = np.zeros((0, width), dtype=dtype)  # a shard whose every SMILES failed
        return torch.from_numpy(np.concatenate([empty, *parts]).astype(dtype))

    def offsets(counts: list[int]) -> Tensor:
        return torch.tensor([0, *itertools.accumulate(counts)], dtype=torch.long)

    return {
        "atoms": cat([g.node_feat for g in graphs], 9, np.uint8),
        "bonds": cat([g.bonds for g in graphs], 2, np.int16),
        "bond_feat": cat([g.bond_feat for g in graphs], 3, np.uint8),
        "node_ptr": offsets([g.num_nodes for g in graphs]),
        "bond_ptr": offsets([len(g.bonds) for g in graphs]),
    }


def featurize_shard(job: ShardJob) -> dict[str, Any]:
    """Featurize one shard, write its tensors then its summary; return the summary.

    The summary (``.json``) is written last: a shard counts as done only when it exists.

    Args:
        job (ShardJob): the shard.

    Returns:
        dict[str, Any]: its index, file name, rows, molecules, bytes and invalid rows (file,
        line, SMILES, reason).
    """
    graphs, invalid = [], []
    for row in job.rows:
        try:
            graphs.append(featurize(row.smiles, job.max_atoms))
        except SmilesError as err:
            invalid.append([job.files[row.file], row.line, row.smiles, err.reason])
    tensors = _pack(graphs)
    write_atomically(job.path, lambda tmp: torch.save(tensors, tmp))
    summary = {
        "index": job.index, "file": job.path.name, "rows": len(job.rows),
        "molecules": len(graphs), "bytes": job.path.stat().st_size, "invalid": invalid,
    }  # fmt: skip
    write_atomically(job.path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(summary)))
    return summary


def _read_summary(job: ShardJob) -> dict[str, Any] | None:
    """Return the summary of a shard finished by an earlier, interrupted build, if any."""
    summary = job.path.with_suffix(".json")
    if summary.is_file() and job.path.is_file():
        return json.loads(summary.read_text())
    return None


def _shard_jobs(files: Sequence[Path], cfg: CorpusConfig, folder: Path) -> Iterator[ShardJob]:
    """Cut the corpus rows into shards of ``cfg.shard_size``, read lazily as the workers ask."""
    rows = iter_corpus(files, cfg.smiles_column, cfg.max_molecules)
    names = [str(f) for f in files]
    for index in itertools.count():
        shard = list(itertools.islice(rows, cfg.shard_size))
        if not shard:
            return
        yield ShardJob(index, str(folder), shard, names, cfg.max_atoms)


def _shard_summary(job: ShardJob) -> dict[str, Any]:
    """Featurize a shard, unless an earlier, interrupted build finished it; its summary."""
    return _read_summary(job) or featurize_shard(job)


def _run_jobs(jobs: Iterator[ShardJob], workers: int, bar: tqdm) -> list[dict[str, Any]]:
    """Featurize every shard not already done, in order; at most ``2 * workers`` in flight."""
    summaries: list[dict[str, Any]] = []
    for summary in bounded_map(_shard_summary, jobs, workers if workers > 1 else 0):
        summaries.append(summary)
        bar.update(summary["rows"])
    return summaries


def cache_folder(files: Sequence[Path], cfg: CorpusConfig) -> Path:
    """Return the corpus's cache folder: its first file's name and a hash of its identity.

    The hash covers each file's path, size and modification time, the options that change the
    content (column, max_molecules, max_atoms, shard_size), the cache version and RDKit's.

    Args:
        files (Sequence[Path]): the corpus files.
        cfg (CorpusConfig): ``data.corpus``.

    Returns:
        Path: ``<cfg.cache_dir>/<first file's stem>-<hash>``.
    """
    identity = {
        "files": [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files],
        "smiles_column": cfg.smiles_column, "max_molecules": cfg.max_molecules,
        "max_atoms": cfg.max_atoms, "shard_size": cfg.shard_size,
        "version": CACHE_VERSION, "rdkit": rdkit.__version__,
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:12]
    stem = files[0].name.split(".")[0]
    return Path(cfg.cache_dir) / f"{stem}-{digest}"


def _write_report(folder: Path, summaries: list[dict[str, Any]]) -> Path:
    """Write the skipped SMILES of every shard to ``invalid_smiles.tsv``; return its path."""
    report = folder / REPORT
    with open(report, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["file", "line", "smiles", "reason"])
        for summary in summaries:
            writer.writerows(summary["invalid"])
    return report


def build_cache(
    files: Sequence[Path], cfg: CorpusConfig, folder: Path, progress: bool = True
) -> dict[str, Any]:
    """Featurize the corpus into ``folder``; write and return its manifest.

    Args:
        files (Sequence[Path]): the corpus files, checked.
        cfg (CorpusConfig): ``data.corpus``.
        folder (Path): the cache folder (:func:`cache_folder`).
        progress (bool): show a progress bar on a terminal. (default: True)

    Returns:
        dict[str, Any]: the manifest: rows, molecules, invalid rows, bytes and the shards.

    Raises:
        DataError: the corpus holds no row, or no row gave a molecule (the report lists why).
        GraphsepError: a worker process died; the finished shards are kept for the next build.
    """
    folder.mkdir(parents=True, exist_ok=True)
    workers = cfg.num_workers or os.cpu_count() or 1
    total = cfg.max_molecules or None
    with progress_bar(total=total, enabled=progress, unit="mol", desc="featurize") as bar:
        summaries = _run_jobs(_shard_jobs(files, cfg, folder), workers, bar)
    rows = sum(s["rows"] for s in summaries)
    if rows == 0:
        raise DataError(f"data.corpus.files: no SMILES rows in {', '.join(map(str, files))}")
    report = _write_report(folder, summaries)
    molecules = sum(s["molecules"] for s in summaries)
    if molecules == 0:
        raise DataError(
            f"data.corpus.files: none of the {rows:,} SMILES gave a molecule; reasons in {report}"
        )
    manifest = {
        "version": CACHE_VERSION, "files": [str(f) for f in files],
        "config": asdict(cfg), "rows": rows, "molecules": molecules,
        "invalid": rows - molecules, "bytes": sum(s["bytes"] for s in summaries),
        "shards": [{"file": s["file"], "molecules": s["molecules"]} for s in summaries],
    }  # fmt: skip
    write_atomically(folder / MANIFEST, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))
    return manifest
