"""Transforms whose hyperparameters are non-negative rates, each named by a field.

Most transforms read one or two numbers from the param group: a learning rate, a decay, a
weight decay, a bound. Each such field holds a :data:`~antigrad.formula.transform.Key`:
the param-group entry to read (a ``str``), or a fixed number. A transform lists its rates
with their default values in :attr:`NonNegativeRates.rates`; the defaults and the
constraints (every rate >= 0) of the entries it reads follow from that one declaration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..formula.transform import Key
from ..validation import non_negative


def key_default(key: Key, value: float) -> dict[str, float]:
    """``{key: value}`` when ``key`` names a param-group entry (a fixed number has none)."""
    return {key: value} if isinstance(key, str) else {}


class NonNegativeRates:
    """Mixin for a :class:`~antigrad.formula.transform.Transform` (listed before it): its
    ``defaults`` and ``constraints`` from :attr:`rates`."""

    # field name -> default value of the param-group entry the field names
    rates: ClassVar[Mapping[str, float]] = {}

    @property
    def defaults(self) -> Mapping[str, Any]:
        return {k: v for field, value in self.rates.items()
                for k, v in key_default(getattr(self, field), value).items()}

    @property
    def constraints(self) -> Mapping[str, Any]:
        return non_negative(self.defaults)
