"""A SMILES corpus of any size as a dataset of molecular graphs, for masked-graph pretraining.

:func:`load_corpus` checks the corpus files (:mod:`graphsep.molecules.corpus_rows`), featurizes
them once unless cached (:mod:`graphsep.molecules.corpus_shards`) and opens the cache as a
:class:`PretrainCorpus`. Shards are memory-mapped, so the resident memory stays bounded whatever
the corpus size. :func:`split_held_out` draws the molecules held out for evaluation.
"""

from __future__ import annotations

import bisect
import itertools
import json
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Data

from graphsep.config import CorpusConfig
from graphsep.molecules.corpus_rows import check_corpus_file, resolve_corpus_files
from graphsep.molecules.corpus_shards import MANIFEST, REPORT, build_cache, cache_folder
from graphsep.molecules.table import DataError

HELD_OUT_SEED = 0
"""The held-out molecules are the same whatever the run's seed, so runs compare on one set."""


class PretrainCorpus(Dataset):
    """The molecules of a built cache, as PyG graphs in OGB's layout, shards memory-mapped.

    Items carry ``x (n, 9)``, ``edge_index (2, 2b)`` (each bond both ways, as OGB stores it),
    ``edge_attr (2b, 3)`` (long) and ``num_nodes``; the collate adds the structural encodings.

    Args:
        folder (str | Path): a cache folder written by
            :func:`~graphsep.molecules.corpus_shards.build_cache`.
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

    Args:
        cfg (CorpusConfig): ``data.corpus``.
        progress (bool): show a progress bar on a terminal while featurizing. (default: True)

    Returns:
        PretrainCorpus: the featurized corpus.

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
