"""Argument checks of the schedules: a TypeError or ValueError naming the argument."""

from __future__ import annotations

import math
from typing import Any


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Invalid {name}: {value!r} (must be an integer)")
    if value < low:
        raise ValueError(f"Invalid {name}: {value} (must be >= {low})")
    return value


def _check_float(name: str, value: Any, low: float, high: float = math.inf,
                 low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Invalid {name}: {value!r} (must be a number)")
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok or math.isnan(value):
        lo = "(" if low_open else "["
        raise ValueError(f"Invalid {name}: {value} (must be in {lo}{low:g}, {high:g}])")
    return float(value)
