"""Writing files and folders whole or not at all, with the permissions of a plain file.

Everything graphsep writes for a user to keep (prediction tables, checkpoints, cache shards)
goes first to a hidden temporary sibling of its final name, in the same folder, and is renamed
into place once complete: a crash, a kill or a full disk never leaves half a file under the
final name, and what was there before stays as it was. The temporary sibling is created with
the process's default mode (not ``tempfile``'s private 0600 file / 0700 folder, which would
survive the rename), so the result honours the umask like any file a user creates. A kill
leaves its temporary sibling behind (no ``finally`` runs); :func:`remove_leftovers` clears those
of a path that one process writes at a time.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from graphsep.errors import GraphsepError

_TEMPORARY = re.compile(r"\.[0-9a-f]{8}\.(?P<name>.+)")  # temporary_sibling's names


def _sibling_name(path: Path) -> Path:
    return path.with_name(f".{uuid.uuid4().hex[:8]}.{path.name}")


class WriteError(GraphsepError, OSError):
    """A file or folder that could not be written; the message names it and the reason."""


def write_failure(path: str | os.PathLike, err: OSError) -> WriteError:
    """Return the one-line error for ``err`` raised while writing ``path`` (its errno kept)."""
    if isinstance(err, WriteError):
        return err
    if err.errno == errno.ENOSPC:
        failure = WriteError(f"no space left on device while writing {path}")
    else:
        reason = err.strerror or str(err).strip().splitlines()[0]
        failure = WriteError(f"cannot write {path}: {reason}")
    failure.errno = err.errno  # callers may explain a read-only folder
    return failure


@contextlib.contextmanager
def temporary_sibling(path: str | os.PathLike, folder: bool = False) -> Iterator[Path]:
    """Yield a fresh hidden path beside ``path`` to write into; it is gone on exit.

    The caller renames it onto ``path`` when complete (:func:`publish`); whatever is still
    there on exit, after a failure or an interruption, is removed. An ``OSError`` inside the
    block becomes a :class:`WriteError` naming ``path``.

    Args:
        path (str | os.PathLike): the final name.
        folder (bool, optional): create the sibling as an empty folder. (default: False)

    Yields:
        Path: ``.<hex>.<name>`` in the same folder; it keeps ``path``'s suffixes, which
        decide the compression of a table.
    """
    path = Path(path)
    tmp = _sibling_name(path)
    try:
        if folder:
            tmp.mkdir()
        yield tmp
    except OSError as err:
        raise write_failure(path, err) from err
    finally:
        _remove(tmp)


def remove_leftovers(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of ``path`` that killed writers left behind.

    Only for a path that one process writes at a time (a run's checkpoints): another
    process's sibling still being written would be removed too.

    Args:
        path (str | os.PathLike): the final name whose leftovers go.

    Returns:
        list[Path]: what was removed.
    """
    path = Path(path)
    removed = []
    for sibling in path.parent.glob(".*"):
        match = _TEMPORARY.fullmatch(sibling.name)
        if match and match["name"] == path.name:
            _remove(sibling)
            removed.append(sibling)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):  # never created, or gone with its folder
            path.unlink()


def fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, path: str | os.PathLike, previous: Path | None = None) -> None:
    """Rename the finished ``tmp`` onto ``path`` and make the rename durable.

    A file at ``path`` is replaced in one rename. A folder cannot be renamed onto: the one at
    ``path`` moves aside first, to ``previous`` (replacing what was there) to be kept, else to
    a temporary sibling removed once ``tmp`` is in place.

    Args:
        tmp (Path): the complete file or folder.
        path (str | os.PathLike): its final name.
        previous (Path | None, optional): where a replaced folder is kept. (default: None)
    """
    path = Path(path)
    if tmp.is_file():
        fsync(tmp)
    aside = None
    if path.is_dir() and not path.is_symlink():
        aside = previous or _sibling_name(path)
        _remove(aside)
        os.replace(path, aside)
    os.replace(tmp, path)
    fsync(path.parent)
    if aside is not None and previous is None:
        _remove(aside)


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file whole or not at all: ``write(tmp)`` then rename ``tmp`` onto ``path``.

    Args:
        path (str | os.PathLike): the final file.
        write (Callable[[Path], None]): writes the whole content to the path it is given.

    Returns:
        Path: ``path``.

    Raises:
        WriteError: the file cannot be written (no space left, no permission, ...); ``path``
            is then as it was.
    """
    with temporary_sibling(path) as tmp:
        write(tmp)
        publish(tmp, path)
    return Path(path)


@contextlib.contextmanager
def made_once(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` while checking for ``path`` and making it.

    Processes that start together (torchrun ranks, runs side by side) then make a cache once:
    the first makes it inside the block, the others wait at the lock and find it made.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cached_text(path: Path, make: Callable[[], str]) -> str:
    """Return the text of ``path``, making it with ``make()`` and writing it first if absent.

    Made once under :func:`made_once`: that matters where ``make`` is not deterministic, as
    tokenizer training is not.
    """
    with made_once(path):
        if path.is_file():
            return path.read_text()
        text = make()
        write_atomically(path, lambda tmp: tmp.write_text(text))
        return text
