"""The files of a dataset folder are data, not code: read as tensors only, written atomically.

A dataset folder may come from someone else, and PyG and OGB trust it further than that: PyG's
``fs.torch_load`` retries ``torch.load`` without ``weights_only`` when the safe load fails, PyG's
``Dataset`` reads ``processed/pre_transform.pt`` with ``weights_only=False``, and PyG's ZINC
unpickles its raw ``.pickle`` files as they are; any of them runs the code a crafted file holds.
They also write processed files in place, so a run killed while processing leaves a truncated
file that every later run trips on. :func:`dataset_files` closes both while a dataset is opened,
and graphsep's own cache (:class:`~graphsep.frontends.graph.encoded_dataset.EncodedDataset`) uses
:func:`load_tensors` and :func:`save_atomic` directly.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import io
import os
import pickle
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from unittest import mock

import torch
import torch._utils
import torch_geometric.datasets.zinc
import torch_geometric.io.fs

from graphsep.files import write_atomically, write_failure
from graphsep.molecules.table import DataError

_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def load_tensors(file: str | Path | IO[bytes], map_location: Any = None, **kwargs: Any) -> Any:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers, never code.

    Args:
        file (str | Path | IO[bytes]): the file, or an open binary file.
        map_location (Any): as for ``torch.load``. (default: None)
        **kwargs: more ``torch.load`` arguments (``mmap``).

    Returns:
        Any: what the file holds.

    Raises:
        DataError: the file holds more than tensors and plain containers (refused), or it is
            damaged (truncated, empty, not a torch file); either names the file and how to
            rebuild it.
    """
    name = _file_name(file)
    try:
        return torch.serialization.load(file, map_location, weights_only=True, **kwargs)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise _damaged(name, err) from None
        found = re.search(r"WeightsUnpickler error: (.+?)(\.\s|$)", str(err))
        what = found.group(1) if found else "more than tensors"
        raise DataError(
            f"{name}: refused to load: a dataset file holds only tensors and plain containers, "
            f"this one asks for code ({what}); delete it (rm '{name}') to rebuild it"
        ) from None
    except OSError as err:
        raise DataError(f"cannot read {name}: {err.strerror or err}") from None
    except Exception as err:  # the parser fails on damage with whatever it meets first
        raise _damaged(name, err) from None


def _damaged(name: str, err: Exception) -> DataError:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DataError(
        f"{name} is damaged ({reason[:120]}: empty or truncated by an interrupted run?); "
        f"delete it (rm '{name}') and run again to rebuild it"
    )


def _file_name(file: str | Path | IO[bytes]) -> str:
    """Name a file given by path or open (fsspec's open files carry ``path``)."""
    if isinstance(file, str | os.PathLike):
        return str(file)
    return str(getattr(file, "path", None) or getattr(file, "name", None) or "a dataset file")


def save_atomic(obj: Any, path: str | Path, *args: Any, **kwargs: Any) -> None:
    """``torch.save`` written whole or not at all (:func:`graphsep.files.write_atomically`).

    A run killed while saving leaves no file under ``path``.

    Args:
        obj (Any): what to save.
        path (str | Path): the file.
        *args: more ``torch.save`` arguments.
        **kwargs: more ``torch.save`` keyword arguments.

    Raises:
        DataError: the folder cannot be written (read-only, no permission, full).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda tmp: _save_to(tmp, obj, *args, **kwargs))
    except OSError as err:
        raise _write_error(path, err) from None


def _save_to(tmp: Path, obj: Any, *args: Any, **kwargs: Any) -> None:
    # through an open file: torch names the records inside after a path's file name, and the
    # temporary name would make every save of the same data differ byte for byte
    with open(tmp, "wb") as f:
        torch.serialization.save(obj, f, *args, **kwargs)


def _write_error(path: str | Path, err: OSError) -> DataError:
    """One line naming what could not be written, and why a dataset folder is written."""
    hint = (
        "; a dataset is processed into files beside its raw files the first time it is "
        "opened: make that folder writable, or copy the dataset folder under a writable root"
    )
    return DataError(f"{write_failure(path, err)}{hint if err.errno in _UNWRITABLE else ''}")


def check_data_root(root: str | Path, writing: bool = False) -> Path:
    """Refuse a data root that is a file or under one, and with ``writing`` one not writable.

    Args:
        root (str | Path): the folder that holds (or will hold) dataset folders; it may not
            exist yet.
        writing (bool): the caller is about to write under it. (default: False)

    Returns:
        Path: ``root``.

    Raises:
        DataError: ``root`` (or the nearest existing folder above it) is a file, or is not
            writable when ``writing``.
    """
    root = Path(root)
    existing = next(p for p in (root, *root.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        where = "is a file" if existing == root else f"lies under {existing}, which is a file"
        raise DataError(f"data root {root} {where}, not a folder; choose a folder")
    effective = os.access in os.supports_effective_ids
    if writing and not os.access(existing, os.W_OK | os.X_OK, effective_ids=effective):
        raise DataError(
            f"cannot write in {existing} (read-only): building a dataset writes its folder "
            f"under the data root {root}; choose a writable root"
        )
    return root


@contextlib.contextmanager
def dataset_files() -> Iterator[None]:
    """Open a PyG/OGB dataset with its files read as data and written atomically.

    Patches, for the duration: ``torch.load`` (OGB's processed file, PyG's
    ``pre_transform.pt``, and PyG's retry without ``weights_only``) to :func:`load_tensors`;
    ``torch.save`` to a path and PyG's ``fs.torch_save`` to :func:`save_atomic`; and ZINC's
    ``pickle.load`` of its raw files to :func:`load_pickled_tensors`. Patching where PyG and
    OGB call, rather than loading the files ourselves, keeps their processing code (and its
    file layout) theirs while covering every file they read; opening a dataset is
    single-threaded, so the patch is seen by nothing else.

    Yields:
        None

    Raises:
        DataError: a refused or damaged file (see :func:`load_tensors`), or a folder that
            processing must write and cannot.
    """
    patches = (
        mock.patch.object(torch, "load", _load_as_data),
        mock.patch.object(torch, "save", _save_to_path_atomic),
        mock.patch.object(torch_geometric.io.fs, "torch_save", save_atomic),
        mock.patch.object(
            torch_geometric.datasets.zinc,
            "pickle",
            types.SimpleNamespace(load=load_pickled_tensors),
        ),
    )
    try:
        with contextlib.ExitStack() as stack:
            for patch in patches:
                stack.enter_context(patch)
            yield
    except OSError as err:
        if err.errno not in _UNWRITABLE:
            raise
        raise _write_error(err.filename or "the dataset folder", err) from None


def _load_as_data(file: Any, map_location: Any = None, *, weights_only: Any = None, **kwargs):
    """``torch.load`` as PyG and OGB call it, with ``weights_only`` always True."""
    del weights_only  # asked False by PyG's retry and pre_transform check: never granted
    return load_tensors(file, map_location, **kwargs)


def _save_to_path_atomic(obj: Any, file: Any, *args: Any, **kwargs: Any) -> None:
    """``torch.save``: atomic to a path, as before to an open file (PyG's in-memory buffer)."""
    if isinstance(file, str | os.PathLike):
        save_atomic(obj, file, *args, **kwargs)
    else:
        torch.serialization.save(obj, file, *args, **kwargs)


def _storage_from_bytes(data: bytes) -> Any:
    return torch.serialization.load(io.BytesIO(data), weights_only=True)


# A tensor pickles as _rebuild_tensor_v2 (storage, offset, size, stride, requires_grad, an
# OrderedDict of hooks); its storage as _load_from_bytes of torch.save bytes, which torch loads
# without weights_only, so they are loaded here with it.
_PICKLE_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
}


class _ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle asks for a global outside ``_PICKLE_GLOBALS``."""


class _TensorUnpickler(pickle.Unpickler):
    """Unpickle containers, numbers and CPU tensors only: what ZINC's raw files hold."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_GLOBALS:
            raise _ForbiddenGlobal(f"{module}.{name}")
        return _PICKLE_GLOBALS[module, name]


def load_pickled_tensors(file: IO[bytes]) -> Any:
    """``pickle.load`` restricted to lists, dicts, numbers and tensors (ZINC's raw files).

    Args:
        file (IO[bytes]): the open pickle file.

    Returns:
        Any: what it holds.

    Raises:
        DataError: the file asks for anything else (code), naming it.
    """
    name = _file_name(file)
    try:
        return _TensorUnpickler(file).load()
    except _ForbiddenGlobal as err:
        raise DataError(
            f"{name}: refused to unpickle: ZINC's raw files hold only lists, dicts, numbers "
            f"and tensors, this one asks for {err}; delete it and fetch PyG's ZINC files again"
        ) from None
    except Exception as err:  # the parser fails on damage with whatever it meets first
        raise _damaged(name, err) from None
