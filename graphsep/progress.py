"""Progress bars on a terminal, and none in a log.

A tqdm bar redraws itself with carriage returns; written to a file (CI, ``nohup``, a scheduler)
every redraw becomes a line of its own. So a bar shows only where its stream is a terminal
(tqdm's ``disable=None``), or in a notebook; elsewhere the per-epoch lines that the engine
prints are the log. ``progress=false`` silences bars everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress_bar(iterable: Iterable | None = None, enabled: bool = True, **kwargs: Any) -> tqdm:
    """Return a tqdm bar shown only on a terminal (or notebook), and only when ``enabled``.

    Args:
        iterable (Iterable | None): what to iterate, as for ``tqdm``. (default: None)
        enabled (bool): False hides the bar wherever it would go. (default: True)
        **kwargs: more ``tqdm`` arguments (``total``, ``desc``, ``unit``, ``leave``).

    Returns:
        tqdm: the bar (a no-op one when hidden).
    """
    return tqdm(iterable, disable=None if enabled else True, **kwargs)
