"""A step's scalars for each row of a bucket, computed once per distinct input.

A row (:class:`~antigrad.engine.buckets.Row`) is the parameters of one param group that
share scalar state; each step its scalars (bias corrections, decayed rates) come from
:meth:`Chain.scalars(group, state, fresh) <antigrad.formula.transform.Chain.scalars>`,
which by the transforms' contract reads only the param-group keys they declare
(:attr:`Chain.hyperparameters`), the row's scalar state and ``fresh``. The lab's replicas
step 64 param groups that differ only in their lr (3 values), so 61 of 64 such calls
repeat one made before in the same step. Rows whose inputs are *exactly* equal share one:

- a hyperparameter's value counts as equal only when interchangeable in any arithmetic: a
  ``float`` equal in value and, for zeros, in sign (0.0 and -0.0 differ); an ``int``,
  ``bool``, ``str`` or None of the same type and value; a tuple of such. Any other value (a
  tensor lr, a list, a float subclass) makes the row compute its own;
- the same for the scalar state (``step`` counts) and ``fresh``.

Finding a group's key reads its values at C level and compares them with those of the last
step by identity; only a replaced value costs a Python call per value.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from ..formula.transform import Chain, ScalarState

_NONE = type(None)
_PLAIN = (int, bool, str, _NONE)


def exact(value: Any) -> Hashable | None:
    """A key that two values share only if they are interchangeable in any arithmetic
    (see the module docstring); None if ``value`` has none."""
    kind = type(value)
    if kind is float:
        return value if value else (kind, math.copysign(1.0, value))
    if kind in _PLAIN:
        return kind, value
    if kind is tuple:
        parts = tuple(map(exact, value))
        return None if any(p is None for p in parts) else (kind, parts)
    return None


_FLOAT = frozenset({float})


def state_key(state: Mapping[str, Any]) -> tuple | None:
    """The exact key of a row's scalar state (its values' :func:`exact` keys, in order);
    None if a value has none. Nonzero floats (step counts after the first step) are their
    own keys: that case is recognised with C-level calls, not one Python call a value."""
    values = tuple(state.values())
    if _FLOAT.issuperset(map(type, values)) and 0.0 not in values:  # (-0.0 == 0.0 too)
        return values
    keys = tuple(map(exact, values))
    return None if None in keys else keys


class RowScalars:
    """The scalars of a bucket's rows (one :class:`Chain`), with each param group's key
    kept from step to step."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        reads = sorted(chain.hyperparameters)
        self._reads = operator.itemgetter(*reads) if reads else None
        self._single = len(reads) == 1
        # group index -> (the values read, by identity; their key or None)
        self._keys: dict[int, tuple[Any, Hashable | None]] = {}

    def compute(self, groups: Sequence[Mapping[str, Any]], rows: Sequence[Any],
                moving: Any, names: Sequence[str]) -> list[dict[str, float]]:
        """Each row's scalars, advancing its scalar state (its own copy): rows in
        ``moving`` compute them, once per distinct input; the others get zeros
        (``names``)."""
        done: dict[Hashable, tuple[dict[str, float], ScalarState]] = {}
        out = []
        for r, row in enumerate(rows):
            if r not in moving:
                out.append(dict.fromkeys(names, 0.0))
                continue
            key = self._key(groups, row)
            found = done.get(key) if key is not None else None
            if found is not None:
                row.state.update(found[1])  # equal before, so equal after
                out.append(found[0])
                continue
            scalars = self.chain.scalars(groups[row.group], row.state, row.fresh)
            if key is not None:
                done[key] = (scalars, row.state)
            out.append(scalars)
        return out

    def _key(self, groups: Sequence[Mapping[str, Any]], row: Any) -> Hashable | None:
        group = self._group_key(row.group, groups[row.group])
        if group is None:
            return None
        state = state_key(row.state)
        return None if state is None else (group, row.fresh, state)

    def _group_key(self, index: int, group: Mapping[str, Any]) -> Hashable | None:
        """The exact key of the values ``group`` holds for the chain's hyperparameters;
        kept while they are the same objects."""
        if self._reads is None:
            return ()
        try:
            values = self._reads(group)
        except KeyError:  # a key missing: the chain's own call reports it
            return None
        kept = self._keys.get(index)
        if kept is not None and (kept[0] is values if self._single else
                                 all(map(operator.is_, values, kept[0]))):
            return kept[1]
        key = exact(values) if self._single else exact(tuple(values))
        self._keys[index] = (values, key)
        return key
