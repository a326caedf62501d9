"""What a scoring run tells its user: counts of rows scored, failed and warned about, and which.

A failed row is named as the user finds it: ``row N of FILE`` by the line a text editor shows
(:func:`table_rows`), or ``--smiles #N`` for SMILES given as arguments (:mod:`graphsep.cli`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from graphsep.molecules.table import file_row

MAX_SHOWN_FAILURES = 5
"""Failed rows a summary names; the output names every failed row."""


def table_rows(name: str) -> Callable[[int], str]:
    """Name a table's data rows in failure lines, by the line a text editor shows.

    Args:
        name (str): the table's name, e.g. its path.

    Returns:
        Callable[[int], str]: 0-based data row to ``row N of NAME`` (the header is line 1).
    """
    return lambda index: f"row {file_row(index):,} of {name}"


@dataclass
class Summary:
    """Counts of one table's rows scored (predicted or embedded), and the first failures.

    Args:
        predicted (int): rows scored.
        failed (int): rows with an error.
        warned (int): rows scored with a warning (molecules RDKit will not sanitize, scored
            under ``allow_unsanitized``).
        first_failures (list[str]): up to ``MAX_SHOWN_FAILURES`` ``row N of FILE: reason``
            (``--smiles #N: reason`` for SMILES given as arguments).
    """

    predicted: int = 0
    failed: int = 0
    warned: int = 0
    first_failures: list[str] = field(default_factory=list)

    def count(
        self, errors: Sequence[str], warnings: Sequence[str], where: Callable[[int], str]
    ) -> None:
        """Count the next rows of the table, in order.

        Args:
            errors (Sequence[str]): per row its error, empty when scored.
            warnings (Sequence[str]): per row its warning, empty when none.
            where (Callable[[int], str]): names the data row at a 0-based index of the table.
        """
        offset = self.predicted + self.failed
        failed = [i for i, error in enumerate(errors) if error]
        for i in failed[: MAX_SHOWN_FAILURES - len(self.first_failures)]:
            self.first_failures.append(f"{where(offset + i)}: {errors[i]}")
        self.failed += len(failed)
        self.predicted += len(errors) - len(failed)
        self.warned += sum(1 for e, w in zip(errors, warnings, strict=True) if w and not e)
