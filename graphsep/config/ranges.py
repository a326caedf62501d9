"""The allowed values of a numeric config key, and the ranges used most."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """The values a numeric key allows: finite numbers between ``low`` and ``high``.

    Args:
        low (float | None): the smallest value; None: no lower bound. (default: None)
        high (float | None): the largest value; None: no upper bound. (default: None)
        open_low (bool): ``low`` itself is excluded. (default: ``False``)
        open_high (bool): ``high`` itself is excluded. (default: ``False``)
    """

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def allows(self, value: float) -> bool:
        """Whether ``value`` is finite and within the bounds."""
        if not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return above and below

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {_number(self.low)}"
        bounds = f"{_number(self.low)}, {_number(self.high)}"
        return f"in {'(' if self.open_low else '['}{bounds}{')' if self.open_high else ']'}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


AT_LEAST_0, AT_LEAST_1, POSITIVE = Range(0), Range(1), Range(0, open_low=True)
PROBABILITY = Range(0, 1, open_high=True)  # a dropout rate: 1 would drop everything
OPEN_FRACTION = Range(0, 1, open_low=True, open_high=True)
