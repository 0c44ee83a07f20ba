"""torch's names for the lecture's moment hyperparameters, on the textbook optimizers.

torch's momentum-cycling schedulers (``OneCycleLR``, ``CyclicLR`` with their default
``cycle_momentum=True``) accept an optimizer only when ``"betas"`` or ``"momentum"`` is in
its ``defaults``, and then read and write ``group["betas"]`` (a pair whose first entry they
cycle) or ``group["momentum"]``. The textbook optimizers keep the lecture's names
(``beta1``, ``beta2``, ``gamma``) as the stored keys, so their constructors, their
``param_groups`` and their checkpoints are unchanged; an :class:`Aliased` dict additionally
answers to torch's name, as a view of the same stored values: reading ``group["betas"]``
gives ``(beta1, beta2)``, writing it sets both. Nothing is stored twice, so the two names
can never disagree.

Example::

    >>> g = Betas({"lr": 0.1, "beta1": 0.9, "beta2": 0.999})
    >>> g["betas"] = (0.85, 0.999)
    >>> g["beta1"], "betas" in g, sorted(g)
    (0.85, True, ['beta1', 'beta2', 'lr'])
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import validation as check

__all__ = ["Aliased", "Betas", "Momentum"]

_ABSENT = object()


class Aliased(dict):
    """A param group (or ``defaults``) in which ``alias`` is a view of the keys ``stored``
    (a tuple of their values when there are several, else the one value). Iteration,
    ``len`` and ``items`` show only the stored keys, so ``state_dict`` is unchanged."""

    alias: ClassVar[str]
    stored: ClassVar[tuple[str, ...]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.update(*args, **kwargs)

    # The alias is never a stored key (every write goes through __setitem__), so a stored
    # key is read by dict's own lookup, at C speed: the engine reads a group's
    # hyperparameters every step, and a Python __getitem__ cost ~1 µs a read (64 replicas'
    # groups, ~400 reads a step). Only a missing key comes here.
    def __missing__(self, key: str) -> Any:
        if not self._has_alias(key):
            raise KeyError(key)
        values = tuple(dict.__getitem__(self, k) for k in self.stored)
        return values if len(values) > 1 else values[0]

    def _has_alias(self, key: object) -> bool:
        return key == self.alias and all(dict.__contains__(self, k) for k in self.stored)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or self._has_alias(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key != self.alias:
            dict.__setitem__(self, key, value)
            return
        values = tuple(value) if len(self.stored) > 1 else (value,)
        if len(values) != len(self.stored):
            raise ValueError(f"Invalid {key}: {value!r} (must be a pair {self.stored})")
        for name, v in zip(self.stored, values, strict=True):
            check.in_unit_interval(name, v)
        for name, v in zip(self.stored, values, strict=True):
            dict.__setitem__(self, name, v)

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, _ABSENT)  # a stored key: dict's own lookup
        if value is not _ABSENT:
            return value
        return self[key] if self._has_alias(key) else default

    def update(self, *args: Any, **kwargs: Any) -> None:
        """As ``dict.update``, each value written through :meth:`__setitem__` (so the
        alias sets the stored keys and is never stored itself)."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> Aliased:
        """``group |= values``: as :meth:`update` (dict's own ``|=`` would store the alias)."""
        self.update(other)
        return self

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    @classmethod
    def wrap(cls, group: dict[str, Any]) -> Aliased:
        """``group`` as an aliased dict; a value given under the alias (a group written
        with torch's name) is stored under the lecture's names."""
        return cls(group)


class Betas(Aliased):
    """``group["betas"]`` is ``(beta1, beta2)`` (Adam, AdamSimple, Nadam, AdamW)."""

    alias = "betas"
    stored = ("beta1", "beta2")


class Momentum(Aliased):
    """``group["momentum"]`` is ``gamma`` (Momentum, Nesterov: the velocity's decay;
    RMSprop: the decay of the squared-gradient average, its only moment)."""

    alias = "momentum"
    stored = ("gamma",)
