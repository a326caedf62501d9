"""One bounded, ordered parallel map, used wherever graphsep spreads work over processes.

Dataset building, prediction and the pretraining corpus all featurize molecules in worker
processes through :func:`bounded_map`: results come back in input order, only a window of items
is in flight (so memory stays bounded for any input), and a worker that dies (the out-of-memory
killer, ``kill -9``) stops the run with a :class:`~graphsep.errors.GraphsepError` instead of
leaving the parent waiting forever, as ``multiprocessing.Pool`` does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from graphsep.errors import GraphsepError

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    processes: int,
    window: int | None = None,
    what: str = "featurization",
) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in order, computed in worker processes.

    Items are read lazily: at most ``window`` of them are submitted ahead of the result being
    yielded, and the next one is submitted before a result is handed over, so the workers keep
    busy while the caller uses it.

    Args:
        fn (Callable[[T], R]): a picklable function (module level, or a ``functools.partial``
            of one).
        items (Iterable[T]): its arguments; each is pickled to a worker.
        processes (int): worker processes; 0 runs ``fn`` in this process, lazily.
        window (int | None): items in flight at most; None: two per process. (default: None)
        what (str): the job's name in the error message. (default: ``"featurization"``)

    Yields:
        R: each result, in the order of ``items``.

    Raises:
        GraphsepError: a worker process died (killed by a signal or the out-of-memory killer).
            An exception raised by ``fn`` itself propagates unchanged.
    """
    if processes < 1:
        yield from map(fn, items)
        return
    items = iter(items)
    window = max(1, window or 2 * processes)
    pool = ProcessPoolExecutor(processes)
    try:
        pending: deque[Future] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) == window:
                break
        while pending:
            result = pending.popleft().result()
            for item in items:  # one more in flight, if any is left
                pending.append(pool.submit(fn, item))
                break
            yield result
    except BrokenProcessPool:
        raise GraphsepError(
            f"{what} stopped: a worker process died abruptly (killed by a signal, e.g. by the "
            "out-of-memory killer)"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
