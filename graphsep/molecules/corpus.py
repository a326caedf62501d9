"""A SMILES corpus of any size, featurized once in worker processes and cached in shards.

The corpus is one or many files: csv or tsv with a SMILES column, or ``.smi`` (first field of
each line), each optionally gzipped. Rows stream through in shards of ``shard_size``; each
worker parses and featurizes a shard (:func:`graphsep.molecules.featurize.featurize`, the routine
dataset building and prediction use, its lenient route for molecules RDKit will not sanitize
included) and writes it as one file of compact integer tensors:

==============  ==============  =================================================
``atoms``       ``(V, 9)`` u8   OGB atom features (every vocabulary below 256)
``bonds``       ``(Bd, 2)`` i16 the two atoms of each bond, one row per bond
``bond_feat``   ``(Bd, 3)`` u8  OGB bond features
``node_ptr``    ``(G+1,)`` i64  offsets of each molecule's atoms
``bond_ptr``    ``(G+1,)`` i64  offsets of each molecule's bonds
==============  ==============  =================================================

That is ``9 n + 7 b + 16`` bytes per molecule of ``n`` atoms and ``b`` bonds: 374 B for a
ZINC molecule (20.5 atoms, 22 bonds) with the file headers, 0.59 GB for the 1.58M-molecule
MOSES corpus (measured). Shortest paths are not stored (``2 * 2 n^2`` bytes, 3.6 GB for that
corpus): the collate computes them per batch, about 4,400 molecules/s on one core, 9% of a
training step (``benchmarks/bench_pretrain.py``). Shards are memory-mapped, so the resident
memory stays bounded whatever the corpus size.

A SMILES that gives no graph by ``featurize``'s rules (empty, not SMILES text, unparseable, no
atom or more than ``data.corpus.max_atoms``, a wildcard atom) is skipped, counted and listed (file,
line, SMILES, reason) in ``invalid_smiles.tsv`` beside the shards; it never stops the build. A
build that is interrupted resumes from its finished shards; a worker process that dies stops it
with one line.
"""

from __future__ import annotations

import bisect
import csv
import glob
import gzip
import hashlib
import itertools
import json
import os
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rdkit
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphsep.config import CorpusConfig
from graphsep.files import write_atomically
from graphsep.molecules.featurize import MolGraph, SmilesError, featurize
from graphsep.molecules.table import DataError, file_row
from graphsep.parallel import bounded_map
from graphsep.progress import progress_bar

CACHE_VERSION = 2
"""Bumped whenever the shard layout or the featurization changes: old caches are not reused."""

MANIFEST = "manifest.json"
REPORT = "invalid_smiles.tsv"
HELD_OUT_SEED = 0
"""The held-out molecules are the same whatever the run's seed, so runs compare on one set."""

_READ_CHUNK = 50_000


@dataclass(frozen=True)
class CorpusRow:
    """One SMILES of the corpus and where it came from.

    Args:
        file (int): index of its file in the corpus's file list.
        line (int): its line number in that file (the header being line 1 of a csv/tsv).
        smiles (str): the SMILES, stripped.
    """

    file: int
    line: int
    smiles: str


def _format(path: Path) -> str:
    """``csv``, ``tsv`` or ``smi`` from the file name, ``.gz`` allowed."""
    name = path.name.lower().removesuffix(".gz")
    for kind in ("csv", "tsv", "smi"):
        if name.endswith(f".{kind}"):
            return kind
    raise DataError(
        f"data.corpus.files: {path}: unknown format; expected .csv, .tsv or .smi, optionally .gz"
    )


def resolve_corpus_files(patterns: Sequence[str]) -> list[Path]:
    """Expand the corpus entries (files or glob patterns) into existing files, in order.

    Raises:
        DataError: an entry names no file, or a glob matches none.
    """
    files: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise DataError(f"data.corpus.files: no file matches {pattern!r}")
            files += [Path(m) for m in matches]
        elif Path(pattern).is_file():
            files.append(Path(pattern))
        else:
            raise DataError(f"data.corpus.files: no such file: {pattern}")
    return files


def check_corpus_file(path: Path, smiles_column: str) -> None:
    """Read the head of one corpus file: readable, not empty, with the SMILES column.

    Raises:
        DataError: unknown format, empty or unreadable file, or a missing column (the message
            lists the columns present).
    """
    kind = _format(path)
    try:
        if kind == "smi":
            with _open_text(path) as f:
                empty = not f.readline()
        else:
            columns = pd.read_csv(path, sep="," if kind == "csv" else "\t", nrows=0).columns
            empty = False
    except pd.errors.EmptyDataError:
        empty = True
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(f"data.corpus.files: cannot read {path}: {err}") from None
    if empty:
        raise DataError(f"data.corpus.files: {path} is empty")
    if kind != "smi" and smiles_column not in columns:
        raise DataError(
            f"data.corpus.files: {path}: no SMILES column {smiles_column!r} "
            f"(data.corpus.smiles_column); columns present: {', '.join(map(str, columns))}"
        )


def _open_text(path: Path) -> Any:
    return gzip.open(path, "rt") if path.name.endswith(".gz") else open(path)  # noqa: SIM115


def _file_rows(index: int, path: Path, smiles_column: str) -> Iterator[CorpusRow]:
    """Stream the SMILES of one file; a file unreadable part way raises, naming it."""
    try:
        yield from _read_rows(index, path, smiles_column)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(f"data.corpus.files: cannot read {path} to the end: {err}") from err


def _read_rows(index: int, path: Path, smiles_column: str) -> Iterator[CorpusRow]:
    """Stream the SMILES of one file; blank lines of a .smi file are skipped."""
    kind = _format(path)
    if kind == "smi":
        with _open_text(path) as f:
            for line, text in enumerate(f, start=1):
                if text.strip():
                    yield CorpusRow(index, line, text.split(maxsplit=1)[0])
        return
    chunks = pd.read_csv(
        path, sep="," if kind == "csv" else "\t", usecols=[smiles_column], dtype=str,
        keep_default_na=False, chunksize=_READ_CHUNK,
    )  # fmt: skip
    start = 0
    for chunk in chunks:
        for offset, smiles in enumerate(chunk[smiles_column].str.strip()):
            yield CorpusRow(index, file_row(start + offset), smiles)
        start += len(chunk)


def iter_corpus(
    files: Sequence[Path], smiles_column: str, max_rows: int = 0
) -> Iterator[CorpusRow]:
    """Stream every SMILES of the corpus, file after file, the first ``max_rows`` if > 0.

    Raises:
        DataError: a file that turns out unreadable part way (e.g. a truncated gzip).
    """
    rows = itertools.chain.from_iterable(
        _file_rows(i, path, smiles_column) for i, path in enumerate(files)
    )
    if max_rows:
        rows = itertools.islice(rows, max_rows)
    yield from rows


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
    """``<folder>/shard-00012.pt``; its summary is the same name with ``.json``."""
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


class PretrainCorpus(Dataset):
    """The molecules of a built cache, as PyG graphs in OGB's layout, shards memory-mapped.

    Items carry ``x (n, 9)``, ``edge_index (2, 2b)`` (each bond both ways, as OGB stores it),
    ``edge_attr (2b, 3)`` (long) and ``num_nodes``; the collate adds the structural encodings.

    Args:
        folder (str | Path): a cache folder written by :func:`build_cache`.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / MANIFEST).read_text())
        self.shards = [self._open(s["file"]) for s in self.manifest["shards"]]
        counts = [s["molecules"] for s in self.manifest["shards"]]
        self.shard_start = [0, *itertools.accumulate(counts)]
        self.sizes = torch.cat([s["node_ptr"].diff() for s in self.shards])  # (G,)

    def _open(self, name: str) -> dict[str, Tensor]:
        try:
            return torch.load(self.folder / name, mmap=True, weights_only=True)
        except (OSError, RuntimeError, pickle.UnpicklingError) as err:
            raise DataError(
                f"{self.folder / name}: unreadable cache shard ({err}); delete {self.folder} "
                "to featurize the corpus again"
            ) from err

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started by spawn map the shards again instead of copying them
        return {"folder": self.folder}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["folder"])

    def __len__(self) -> int:
        return self.shard_start[-1]

    def __getitem__(self, index: int) -> Data:
        """Molecule ``index`` of the corpus (in corpus order, skipped rows left out)."""
        if not 0 <= index < len(self):
            raise IndexError(f"molecule {index} of a corpus of {len(self)}")
        shard_index = bisect.bisect_right(self.shard_start, index) - 1
        shard, local = self.shards[shard_index], index - self.shard_start[shard_index]
        n0, n1 = shard["node_ptr"][local : local + 2].tolist()
        b0, b1 = shard["bond_ptr"][local : local + 2].tolist()
        bonds = shard["bonds"][b0:b1].long()  # (b, 2)
        both_ways = torch.stack([bonds, bonds.flip(1)], dim=1).reshape(-1, 2)  # (2b, 2)
        return Data(
            x=shard["atoms"][n0:n1].long(),
            edge_index=both_ways.T.contiguous(),
            edge_attr=shard["bond_feat"][b0:b1].long().repeat_interleave(2, dim=0),
            num_nodes=n1 - n0,
        )

    def bytes_per_molecule(self) -> float:
        """Cache size on disk over the number of molecules."""
        return self.manifest["bytes"] / max(len(self), 1)

    @property
    def report(self) -> Path:
        """The list of skipped SMILES (file, line, SMILES, reason)."""
        return self.folder / REPORT


def load_corpus(cfg: CorpusConfig, progress: bool = True) -> PretrainCorpus:
    """Check the corpus files, featurize them unless cached, and open the cache.

    Raises:
        DataError: missing, empty or unreadable files, a missing SMILES column, or a corpus
            without any usable molecule; all but the last before any featurization starts.
    """
    files = resolve_corpus_files(cfg.files)
    for path in files:
        check_corpus_file(path, cfg.smiles_column)
    folder = cache_folder(files, cfg)
    if not (folder / MANIFEST).is_file():
        build_cache(files, cfg, folder, progress)
    return PretrainCorpus(folder)


def split_held_out(
    num_molecules: int, fraction: float, cap: int = 0, seed: int = HELD_OUT_SEED
) -> tuple[Tensor, Tensor]:
    """Draw the held-out molecules: ``fraction`` of the corpus (at least one), at most ``cap``.

    Args:
        num_molecules (int): corpus size.
        fraction (float): share held out, in ``(0, 1)``.
        cap (int): most molecules held out; 0: no cap.
        seed (int): seed of the draw. (default: :data:`HELD_OUT_SEED`)

    Returns:
        tuple[Tensor, Tensor]: sorted training and held-out indices.

    Raises:
        DataError: fewer than two molecules, so that one side would be empty.
    """
    if num_molecules < 2:
        raise DataError(
            f"data.corpus.files: {num_molecules} molecule(s): too few to train and hold some out"
        )
    count = max(1, round(num_molecules * fraction))
    count = min(count, cap or count, num_molecules - 1)
    order = torch.randperm(num_molecules, generator=torch.Generator().manual_seed(seed))
    return order[count:].sort().values, order[:count].sort().values
