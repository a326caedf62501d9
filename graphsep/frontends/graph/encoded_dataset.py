"""A graph dataset with its structural encodings cached on disk, computed once for all graphs."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Data

from graphsep.frontends.graph.encodings import (
    MAX_PAIRS,
    StructuralEncodings,
    structural_encodings,
)
from graphsep.frontends.graph.paths import offsets
from graphsep.molecules.files import load_tensors, save_atomic
from graphsep.progress import progress_bar

CACHE_NAME = "graphormer_encodings.pt"
"""File name of the cache that :class:`EncodedDataset` writes into ``dataset.processed_dir``."""

CACHE_VERSION = 2
"""Bumped whenever cached encodings change meaning (2: canonical shortest paths)."""


def encode_dataset(
    dataset: Sequence[Data],
    batch_graphs: int = 4096,
    max_pairs: int = MAX_PAIRS,
    progress: bool = True,
) -> dict[str, Tensor]:
    """Encode a whole dataset in size-sorted batches into flat concatenated tensors.

    Args:
        dataset (Sequence[Data]): an OGB/PyG dataset (or list) of graphs.
        batch_graphs (int): graphs loaded and encoded per step (default 4096).
        max_pairs (int): bound on ``B * N * N`` per chunk, see :func:`structural_encodings`.
        progress (bool): show a progress bar on a terminal (default True).

    Returns:
        dict[str, Tensor]: ``degree``, ``distance``, ``next_hop`` (int16, graphs concatenated in
        dataset order), ``node_ptr`` and ``pair_ptr`` (``(G + 1,)`` long offsets of graph ``g``'s
        nodes and pairs).
    """
    sizes = graph_sizes(dataset)
    order = torch.argsort(sizes, stable=True).tolist()
    encodings: list[StructuralEncodings | None] = [None] * len(order)
    with progress_bar(total=len(order), enabled=progress, unit="graph", desc="encodings") as bar:
        for start in range(0, len(order), batch_graphs):
            ids = order[start : start + batch_graphs]
            batch = structural_encodings([dataset[i] for i in ids], max_pairs)
            for i, encoding in zip(ids, batch, strict=True):
                encodings[i] = encoding
            bar.update(len(ids))
    return {
        **{
            key: _cat_int16([e[k] for e in encodings])
            for k, key in enumerate(StructuralEncodings._fields)
        },
        "node_ptr": offsets(sizes),
        "pair_ptr": offsets(sizes * sizes),
    }


def _cat_int16(parts: list[Tensor]) -> Tensor:
    """Concatenate, keeping int16 for an empty dataset too."""
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.int16)


def graph_sizes(dataset: Sequence[Data]) -> Tensor:
    """Count the nodes per graph, read from the slices of an in-memory PyG dataset when possible.

    Args:
        dataset (Sequence[Data]): an OGB/PyG dataset (or list) of graphs.

    Returns:
        Tensor: ``(G,)`` long node counts.
    """
    slices = getattr(dataset, "slices", None)
    if _is_whole(dataset) and slices is not None and "x" in slices:
        return slices["x"].diff().long()
    return torch.tensor([dataset[i].num_nodes for i in range(len(dataset))], dtype=torch.long)


class EncodedDataset(Dataset):
    """A graph dataset whose items carry cached ``degree``, ``distance`` and ``next_hop``.

    The encodings are computed once by :func:`encode_dataset` and saved (atomically) as one file
    of flat int16 tensors plus offsets, by default
    ``<dataset.processed_dir>/graphormer_encodings.pt`` beside OGB's processed file; a cache
    whose graph sizes disagree with the dataset, or written by another ``CACHE_VERSION``, is
    rebuilt; a damaged one is refused, naming it (:func:`~graphsep.molecules.files.load_tensors`).

    Args:
        dataset (Sequence[Data]): an OGB/PyG dataset (or any indexable sequence of graphs).
        cache_path (str | Path | None): cache file; None = the default beside the processed
            file, or no file at all for a dataset without ``processed_dir`` (default None).
        batch_graphs (int): graphs per encoding step (default 4096).
        progress (bool): show a progress bar on a terminal while encoding (default True).
    """

    def __init__(
        self,
        dataset: Sequence[Data],
        cache_path: str | Path | None = None,
        batch_graphs: int = 4096,
        progress: bool = True,
    ) -> None:
        self.dataset = dataset
        self.cache_path = _default_cache_path(dataset, cache_path)
        self.store = self._load_or_encode(batch_graphs, progress)
        self.indices = torch.arange(len(dataset))
        self.mol_features: Tensor | None = None

    def _load_or_encode(self, batch_graphs: int, progress: bool) -> dict[str, Tensor]:
        """Read the cache if it matches the dataset, else encode and write it."""
        sizes = graph_sizes(self.dataset)
        if self.cache_path is not None and self.cache_path.exists():
            store = load_tensors(self.cache_path)
            version = int(store.get("version", 1))
            if version == CACHE_VERSION and torch.equal(store["node_ptr"].diff(), sizes):
                return store
            problem = (
                f"written by cache version {version}, not {CACHE_VERSION}"
                if version != CACHE_VERSION
                else "graph sizes differ from the dataset's"
            )
            warnings.warn(f"{self.cache_path}: {problem}, re-encoding", stacklevel=3)
        store = encode_dataset(self.dataset, batch_graphs=batch_graphs, progress=progress)
        store["version"] = torch.tensor(CACHE_VERSION)
        if self.cache_path is not None:
            save_atomic(store, self.cache_path)
        return store

    @property
    def sizes(self) -> Tensor:
        """``(len(self),)`` long number of atoms per graph, for a size-bucketed sampler."""
        return self.store["node_ptr"].diff()[self.indices]

    def __len__(self) -> int:
        return self.indices.numel()

    def __getitem__(self, index: Any) -> Data | EncodedDataset:
        """Graph ``index`` with its encodings, or a view for a slice/index tensor/sequence."""
        scalar = index.dim() == 0 if isinstance(index, Tensor) else hasattr(index, "__index__")
        if scalar:
            return self._get(int(self.indices[int(index)]))
        return self.index_select(index)

    def _get(self, graph: int) -> Data:
        """Graph ``graph`` of the wrapped dataset with its three encodings attached."""
        data = copy.copy(self.dataset[graph])  # shallow: never write into a user's list
        node_ptr, pair_ptr = self.store["node_ptr"], self.store["pair_ptr"]
        nodes = slice(int(node_ptr[graph]), int(node_ptr[graph + 1]))
        pairs = slice(int(pair_ptr[graph]), int(pair_ptr[graph + 1]))
        data.degree = self.store["degree"][nodes]
        data.distance = self.store["distance"][pairs]
        data.next_hop = self.store["next_hop"][pairs]
        if self.mol_features is not None:
            data.mol_features = self.mol_features[graph].unsqueeze(0)  # (1, F)
        return data

    def index_select(self, index: Tensor | slice | Sequence[int]) -> EncodedDataset:
        """Return a view on a subset (e.g. OGB's ``split_idx["train"]``) sharing the cached tensors.

        Args:
            index (Tensor | slice | Sequence[int]): positions in this dataset (long or bool).

        Returns:
            EncodedDataset: the subset view.
        """
        if isinstance(index, slice):
            selected = self.indices[index]
        else:
            index = torch.as_tensor(index)
            selected = self.indices[index if index.dtype == torch.bool else index.long()]
        return self._view(indices=selected)

    def with_mol_features(self, values: Tensor) -> EncodedDataset:
        """Return a view whose graphs carry ``mol_features``, row ``i`` for wrapped graph ``i``.

        Args:
            values (Tensor): ``(len(dataset), F)`` float, one row per graph of the wrapped
                dataset (not of this view).
        """
        if values.size(0) != len(self.dataset):
            raise ValueError(
                f"with_mol_features: {values.size(0)} rows for {len(self.dataset)} graphs"
            )
        return self._view(mol_features=values)

    def _view(self, **changes: Any) -> EncodedDataset:
        """Return a view sharing the cached tensors, with ``changes`` to its attributes."""
        view = object.__new__(EncodedDataset)
        view.__dict__.update(self.__dict__, **changes)
        return view

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.dataset!r}, graphs={len(self)})"


def _is_whole(dataset: Sequence[Data]) -> bool:
    """Whether a PyG dataset is not a view (``dataset[split]``) on a larger one."""
    return hasattr(dataset, "len") and dataset.len() == len(dataset)


def _default_cache_path(dataset: Sequence[Data], cache_path: str | Path | None) -> Path | None:
    """Return the explicit path, else ``<processed_dir>/graphormer_encodings.pt`` if any."""
    if cache_path is not None:
        return Path(cache_path)
    processed_dir = getattr(dataset, "processed_dir", None)
    if processed_dir is None:
        return None
    if not _is_whole(dataset):
        # a split's cache would overwrite the whole dataset's under the same name
        raise ValueError(
            f"EncodedDataset: {dataset!r} is a view of {dataset.len()} graphs; wrap the whole "
            "dataset and select the split with index_select, or pass cache_path"
        )
    return Path(processed_dir) / CACHE_NAME
