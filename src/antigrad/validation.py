"""The one validation layer: every argument check of antigrad, and the vocabulary in which
transforms, optimizers, schedules and stopping rules declare their constraints.

One exception policy everywhere: ``TypeError`` for a value of the wrong type, ``ValueError``
for a value of the right type that is out of range, ``UnknownNameError`` (a ValueError) for
a hyperparameter name that nothing reads. Every message names the argument and the value:
``Invalid momentum value: -0.5 (must be >= 0)``, the wording torch.optim uses, followed by
what the value must be.

Constraints are declared, not hand-written: a transform lists ``{key: constraint}`` next to
its defaults (``{"lr": Interval(0)}``), and :func:`check_all` applies them. Any real number
is a number here (``int``, ``float``, NumPy scalars such as ``np.float32(1e-3)``,
``fractions.Fraction``, ...), and so is a one-element tensor, as in torch.optim; ``bool`` is
not.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from .errors import UnknownNameError


class Constraint(Protocol):
    """What a declared hyperparameter must be; :meth:`check` raises if it is not."""

    def check(self, name: str, value: Any) -> Any:
        """``value`` if it satisfies the constraint (as a number, for numbers), else raise
        TypeError (wrong type) or ValueError (wrong value) naming ``name`` and ``value``."""


def number(name: str, value: Any) -> float:
    """``value`` as a float: TypeError if it is not a real number, ValueError if NaN or a
    tensor of more than one element (torch's ``Tensor lr must be 1-element``)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"Invalid {name} value: a tensor of shape {tuple(value.shape)} "
                             f"(Tensor {name} must be 1-element)")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Invalid {name} value: {value!r} (must be a number)")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"Invalid {name} value: {value} (must not be NaN)")
    return value


def integer(name: str, value: Any) -> int:
    """``value`` as an int: TypeError unless it is an integer (``bool`` is not one)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"Invalid {name} value: {value!r} (must be an integer)")
    return int(value)


_BRACKETS = {"both": "[]", "left": "[)", "right": "(]", "neither": "()"}


@dataclass(frozen=True)
class Interval:
    """A real number (an integer with ``integer=True``) from ``low`` to ``high``; ``None``
    leaves that side open-ended, ``closed`` says which ends belong ("both", "left",
    "right", "neither")."""

    low: float | None = 0.0
    high: float | None = None
    closed: str = "both"
    integer: bool = False

    def __post_init__(self) -> None:
        if self.closed not in _BRACKETS:
            raise ValueError(f"Invalid closed value: {self.closed!r} (must be one of "
                             f"{', '.join(map(repr, _BRACKETS))})")

    def check(self, name: str, value: Any) -> float | int:
        v = integer(name, value) if self.integer else number(name, value)
        if not self.contains(v):
            raise ValueError(f"Invalid {name} value: {value} (must be {self})")
        return v

    def contains(self, v: float) -> bool:
        low_ok = self.low is None or v > self.low or (
            v == self.low and self.closed in ("both", "left"))
        high_ok = self.high is None or v < self.high or (
            v == self.high and self.closed in ("both", "right"))
        return low_ok and high_ok

    def __str__(self) -> str:
        kind = "an integer " if self.integer else ""
        left, right = _BRACKETS[self.closed]
        low, high = (_shown(v, self.integer) for v in (self.low, self.high))
        if self.high is None and self.low is not None:
            return f"{kind}{'>=' if left == '[' else '>'} {low}"
        if self.low is None and self.high is not None:
            return f"{kind}{'<=' if right == ']' else '<'} {high}"
        if self.low is None:
            return "an integer" if self.integer else "a number"
        return f"{kind}in {left}{low}, {high}{right}"


def _shown(bound: float | None, integer: bool) -> str:
    """A bound as a message writes it: 1000 for an integer, 0.001 or 1e+10 for a number."""
    if bound is None:
        return ""
    return str(int(bound)) if integer else f"{bound:g}"


@dataclass(frozen=True)
class OneOf:
    """One of a few allowed values (compared with ``==``)."""

    options: tuple[Any, ...]

    def check(self, name: str, value: Any) -> Any:
        if not any(value is o or (type(value) is type(o) and value == o) for o in self.options):
            raise ValueError(f"Invalid {name} value: {value!r} (must be one of "
                             f"{', '.join(map(repr, self.options))})")
        return value


@dataclass(frozen=True)
class Flag:
    """``True`` or ``False`` (or ``None`` too, with ``optional``: torch's "not chosen")."""

    optional: bool = False

    def check(self, name: str, value: Any) -> Any:
        if not (isinstance(value, bool) or (self.optional and value is None)):
            raise TypeError(f"Invalid {name} value: {value!r} (must be True or False"
                            f"{' or None' if self.optional else ''})")
        return value


@dataclass(frozen=True)
class Pair:
    """Two numbers, each in ``each``, both plain numbers or both tensors (torch's rule for
    ``betas``); messages as torch's: ``Invalid beta parameter at index 0: 1.0``."""

    each: Interval = Interval(0.0, 1.0, "left")

    def check(self, name: str, value: Any) -> tuple[Any, Any]:
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            kind = TypeError if not isinstance(value, (tuple, list)) else ValueError
            raise kind(f"Invalid {name} value: {value!r} (must be a pair of numbers)")
        element = name[:-1] if name.endswith("s") else name
        for index, item in enumerate(value):
            v = number(f"{element}{index + 1}", item)
            if not self.each.contains(v):
                raise ValueError(f"Invalid {element} parameter at index {index}: {item} "
                                 f"({element}{index + 1} must be {self.each})")
        if isinstance(value[0], torch.Tensor) != isinstance(value[1], torch.Tensor):
            raise ValueError(f"Invalid {name} value: {value!r} ({name} must be either both "
                             f"floats or both Tensors)")
        return value[0], value[1]


@dataclass(frozen=True)
class Instance:
    """An instance of one of ``types`` (``None`` too with ``optional``); ``what`` says it
    in words, e.g. "a str"."""

    types: tuple[type, ...]
    what: str
    optional: bool = False

    def check(self, name: str, value: Any) -> Any:
        if not (isinstance(value, self.types) or (self.optional and value is None)):
            raise TypeError(f"Invalid {name} value: {value!r} (must be {self.what}"
                            f"{' or None' if self.optional else ''})")
        return value


@dataclass(frozen=True)
class OrNone:
    """``None`` ("not used"), or a value that satisfies ``constraint``."""

    constraint: Constraint

    def check(self, name: str, value: Any) -> Any:
        return None if value is None else self.constraint.check(name, value)


NON_NEGATIVE = Interval(0.0)
POSITIVE = Interval(0.0, None, "neither")
UNIT = Interval(0.0, 1.0, "left")          # a decay rate or momentum, [0, 1)
COUNT = Interval(1, None, integer=True)    # 1, 2, 3, ...


def non_negative(*keys: Any) -> dict[str, Constraint]:
    """``{key: NON_NEGATIVE}`` for each key that names a param-group entry (a ``str``; a
    mapping's keys): how most transforms declare their rates and epsilons."""
    names = [k for group in keys for k in (group if isinstance(group, Mapping) else [group])]
    return {k: NON_NEGATIVE for k in names if isinstance(k, str)}


def check_all(constraints: Mapping[str, Constraint], values: Mapping[str, Any]) -> None:
    """Check every value of ``values`` that ``constraints`` declares (others are left)."""
    for name, constraint in constraints.items():
        if name in values:
            constraint.check(name, values[name])


def refuse_unknown(given: Iterable[str], known: Iterable[str],
                   kind: str = "hyperparameter") -> None:
    """UnknownNameError for the first name of ``given`` not in ``known``, with the nearest
    known name (``unknown hyperparameter 'lrr' (did you mean 'lr'?)``)."""
    choices = sorted(known)
    for name in given:
        if name not in choices:
            raise UnknownNameError(kind, name, choices)


def at_least(name: str, value: Any, low: float = 0.0) -> float:
    """``value`` >= ``low`` (a number; see :func:`number`)."""
    return Interval(low).check(name, value)


def positive(name: str, value: Any) -> float:
    """``value`` > 0."""
    return POSITIVE.check(name, value)


def count(name: str, value: Any, low: int = 1) -> int:
    """An integer >= ``low``: TypeError if not an integer, ValueError if below."""
    return Interval(low, integer=True).check(name, value)


def in_unit_interval(name: str, value: Any, closed: bool = False) -> float:
    """``value`` in [0, 1), or [0, 1] with ``closed``."""
    return Interval(0.0, 1.0, "both" if closed else "left").check(name, value)


def one_of(name: str, value: Any, options: Iterable[Any]) -> Any:
    return OneOf(tuple(options)).check(name, value)




def no_tensor_with_foreach(foreach: Any, capturable: Any, **values: Any) -> None:
    """torch's Adam/AdamW refuse a tensor lr or betas with foreach=True and capturable=False."""
    if not foreach or capturable:
        return
    for name, value in values.items():
        items = enumerate(value) if isinstance(value, (tuple, list)) else ((None, value),)
        for index, item in items:
            if isinstance(item, torch.Tensor):
                what = name if index is None else f"{name}[{index}]"
                raise ValueError(f"Invalid {what} value: a tensor with foreach=True ({what} as "
                                 f"a Tensor is not supported for capturable=False and "
                                 f"foreach=True, as in torch.optim; pass a float or "
                                 f"foreach=False)")


def fused_options(group: dict[str, Any]) -> None:
    """torch.optim refuses ``fused=True`` together with ``foreach=True`` (RuntimeError)."""
    if group.get("fused") and group.get("foreach"):
        raise RuntimeError("Invalid fused value: True with foreach=True (`fused` and `foreach` "
                           "cannot be `True` together: torch.optim runs one or the other)")


def fused_device(p: torch.Tensor) -> None:
    """With ``fused=True`` torch.optim accepts only floating-point parameters on devices with
    fused kernels, and raises RuntimeError at the first step otherwise (a meta tensor, say)."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
        devices = _get_fused_kernels_supported_devices()
    except ImportError:  # an older torch: its documented list
        devices = ["mps", "cuda", "xpu", "hpu", "cpu", "mtia"]
    if p.device.type not in devices or not torch.is_floating_point(p):
        raise RuntimeError(f"Invalid fused value: True for a parameter of dtype {p.dtype} on "
                           f"device {p.device.type} (`fused=True` requires all the params to "
                           f"be floating point Tensors of supported devices: {devices})")
