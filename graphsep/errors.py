"""The base of every error graphsep reports to a user as one clear line, and that reporting.

The entry points (``graphsep`` and ``train.py``) run their work through :func:`report_errors`:
a :class:`GraphsepError` (bad input: a file, row, key, value or checkpoint) becomes one line on
stderr and exit status 2. A traceback would bury the line that says what to fix, so it appears
only on request: ``--debug`` or the environment variable ``GRAPHSEP_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

EXIT_BAD_INPUT = 2
DEBUG_VARIABLE = "GRAPHSEP_DEBUG"


class GraphsepError(Exception):
    """A problem with the user's input (file, config, data, checkpoint); the message names it."""


def debug_requested(flag: bool = False) -> bool:
    """Whether tracebacks were asked for, by ``--debug`` (``flag``) or ``GRAPHSEP_DEBUG``."""
    return flag or os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0")


def report_errors(work: Callable[[], int], prog: str, debug: bool = False) -> int:
    """Run ``work``; a :class:`GraphsepError` becomes one line on stderr and exit status 2.

    Args:
        work (Callable[[], int]): the command; returns its exit status.
        prog (str): the program name that starts the line, e.g. ``"graphsep"``.
        debug (bool, optional): re-raise instead, so that the traceback shows (also when
            ``GRAPHSEP_DEBUG`` is set). (default: False)

    Returns:
        int: ``work``'s status, or 2 after a reported error.
    """
    try:
        return work()
    except GraphsepError as err:
        if debug_requested(debug):
            raise
        line = " ".join(str(err).split("\n"))  # one line, whatever the message holds
        print(f"{prog}: error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
