"""The lecture's optimizers, one registry: name -> factory ``(params, lr) -> Optimizer``.

Each name stands for a class (``"module:Class"``, imported on first use) built as
``Class(params, lr=lr, **kwargs)``; the lecture's methods are ``antigrad.textbook``'s exact
formulas.

:func:`get_optimizer` also reads any optimizer written as text (``antigrad compare -o``)::

    NAME[(key=value, ...)][@SCHEDULE[(key=value, ...)]]

where ``NAME`` is a registry name (``adam``), ``antigrad:Class`` (the torch-compatible
classes and the second-order methods), ``torch:Class`` (``torch.optim``), or any
``module:attribute`` entry point naming an optimizer class, an ``antigrad.chain(...)``
(run by :class:`~antigrad.ChainOptimizer`) or a factory ``f(params, lr=..., **kwargs)``
returning an optimizer or a chain. Values are Python literals, read safely
(:mod:`~antigrad.lab.spec_text`); ``lr=`` sets the centre of the lr grid; ``@SCHEDULE`` is
a :mod:`~antigrad.lab.schedules` schedule. Unknown names and keys raise before any work,
naming the nearest valid one.

=============  =====  ==========================
name           SPEC   class
=============  =====  ==========================
sgd            L3/L5  textbook.SGD
momentum       L7     textbook.Momentum
nesterov       L8     textbook.Nesterov
adagrad        L9     textbook.AdaGrad
rmsprop        L10    textbook.RMSprop
adam-simple    L11    textbook.AdamSimple
adam           L12    textbook.Adam
nadam          L13    textbook.Nadam
adamw          L14    textbook.AdamW
=============  =====  ==========================

Example::

    >>> import torch
    >>> from antigrad.lab.optimizers import get_optimizer
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> opt = get_optimizer("momentum").build([w], lr=0.1)
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..entry_points import is_entry_point, load_entry_point
from ..errors import ConfigError, EntryPointError, UnknownNameError
from .schedules import ScheduleSpec, parse_schedule
from .spec_text import parse_call, split_top_level

__all__ = ["OptimizerSpec", "LECTURE_OPTIMIZERS", "get_optimizer", "optimizer_names",
           "register_optimizer", "needs_closure"]


@dataclass
class OptimizerSpec:
    """How to build one optimizer by name.

    Attributes:
        name: registry name (``"adam"``).
        label: display name (``"Adam"``).
        lecture: the SPEC section (``"L12"``).
        target: ``"module:Class"``, built as ``Class(params, lr=lr, **kwargs)``.
        family: ``"sgd"`` (one step size for all axes), ``"momentum"`` (the same, with a
            velocity) or ``"adaptive"`` (per-axis step sizes).
        default_lr: a sensible learning rate for standardized data; the centre of the grid.
        kwargs: extra keyword arguments for :attr:`target`.
        schedule: the lr schedule of every run, or ``None`` (a constant lr).
    """

    name: str
    label: str
    lecture: str
    target: str
    family: str = "sgd"
    default_lr: float = 0.1
    kwargs: dict[str, Any] = field(default_factory=dict)
    schedule: ScheduleSpec | None = None

    def resolve(self) -> Any:
        """What :attr:`target` names: an optimizer class, a chain or a factory."""
        return load_entry_point(self.target, "optimizer")

    def build(self, params: Iterable[torch.Tensor], lr: float,
              **overrides: Any) -> torch.optim.Optimizer:
        """``Optimizer(params, lr=lr, **kwargs, **overrides)`` (a chain runs in a
        :class:`~antigrad.ChainOptimizer`; a factory's result is checked)."""
        if not (isinstance(lr, int | float) and lr > 0 and lr == lr and lr != float("inf")):
            raise ValueError(f"Invalid lr: {lr!r} (must be a finite number > 0)")
        return _instantiate(self.resolve(), self.target, params, lr,
                            {**self.kwargs, **overrides})

    def build_schedule(self, optimizer: torch.optim.Optimizer, steps: int,
                       lr: float | list[float]) -> Any | None:
        """This spec's scheduler for a run of ``steps`` steps, or ``None`` (``lr``: the
        run's lr, or one per param group)."""
        return None if self.schedule is None else self.schedule.build(optimizer, steps, lr)

    def check(self) -> None:
        """Build once on a throw-away parameter: a bad key or value raises
        :class:`~antigrad.errors.ConfigError` (field ``optimizers``) before any work."""
        _check_keys(self)
        try:
            self.build([torch.nn.Parameter(torch.zeros(2))], self.default_lr)
        except EntryPointError:
            raise
        except (TypeError, ValueError) as err:
            raise ConfigError("optimizers", f"optimizer {self.name!r}: {err}") from None


_T = "antigrad.textbook:"

#: The lecture's first-order methods in the lecture's order.
LECTURE_OPTIMIZERS: dict[str, OptimizerSpec] = {s.name: s for s in [
    OptimizerSpec("sgd", "SGD", "L5", _T + "SGD", default_lr=1.0),
    OptimizerSpec("momentum", "Momentum", "L7", _T + "Momentum", "momentum", 0.05),
    OptimizerSpec("nesterov", "Nesterov", "L8", _T + "Nesterov", "momentum", 0.05),
    OptimizerSpec("adagrad", "AdaGrad", "L9", _T + "AdaGrad", "adaptive", 0.05),
    OptimizerSpec("rmsprop", "RMSprop", "L10", _T + "RMSprop", "adaptive", 5e-3),
    OptimizerSpec("adam-simple", "Adam (simple)", "L11", _T + "AdamSimple", "adaptive", 5e-3),
    OptimizerSpec("adam", "Adam", "L12", _T + "Adam", "adaptive", 5e-3),
    OptimizerSpec("nadam", "Nadam", "L13", _T + "Nadam", "adaptive", 5e-3),
    OptimizerSpec("adamw", "AdamW", "L14", _T + "AdamW", "adaptive", 5e-3),
]}


def optimizer_names() -> list[str]:
    """Registered optimizer names, lecture order first."""
    return list(LECTURE_OPTIMIZERS)


def get_optimizer(name: str) -> OptimizerSpec:
    """The :class:`OptimizerSpec` called ``name``, or the one its text describes (see the
    module doc, checked by building it once); unknown names list the valid ones."""
    if name in LECTURE_OPTIMIZERS:
        return LECTURE_OPTIMIZERS[name]
    if not isinstance(name, str) or not name.strip():
        raise UnknownNameError("optimizer", name, optimizer_names())
    return _parse(name.strip())


#: Short prefixes of entry points: ``torch:Adam`` is ``torch.optim:Adam``.
_PREFIXES = {"torch": "torch.optim"}


def _parse(text: str) -> OptimizerSpec:
    parts = split_top_level(text, "@")
    if len(parts) > 2 or not parts:
        raise ConfigError("optimizers", f"optimizer {text!r}: write NAME(...)@SCHEDULE(...) "
                          "with at most one '@'")
    try:
        head, kwargs = parse_call(parts[0])
    except ValueError as err:
        raise ConfigError("optimizers", f"optimizer {text!r}: {err}") from None
    schedule = None
    if len(parts) == 2:
        try:
            schedule = parse_schedule(parts[1])
        except ConfigError as err:
            raise ConfigError("optimizers", f"optimizer {text!r}: {err}") from None
    spec = _base_spec(head)
    lr = kwargs.pop("lr", spec.default_lr)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not (
            lr > 0 and math.isfinite(lr)):
        raise ConfigError("optimizers", f"optimizer {text!r}: invalid lr {lr!r} (must be "
                          "a finite number > 0)")
    spec = dataclasses.replace(spec, name=text, label=text, default_lr=float(lr),
                               kwargs={**spec.kwargs, **kwargs}, schedule=schedule)
    spec.check()
    return spec


def _base_spec(head: str) -> OptimizerSpec:
    """The spec ``head`` names before its arguments: a registry entry or an entry point."""
    if head in LECTURE_OPTIMIZERS:
        return LECTURE_OPTIMIZERS[head]
    if not is_entry_point(head):
        raise UnknownNameError("optimizer", head, optimizer_names() + [
            "antigrad:CLASS", "torch:CLASS", "module:function"])
    module, _, attr = head.partition(":")
    target = f"{_PREFIXES.get(module, module)}:{attr}"
    obj = load_entry_point(target, "optimizer")
    return OptimizerSpec(head, head, "", target, _family(attr, obj), _default_lr(obj))


def _family(name: str, obj: Any) -> str:
    """A guess at the family (for pictures' lrs): adaptive, momentum or plain sgd."""
    low = name.lower()
    if any(k in low for k in ("adam", "rms", "adagrad", "adadelta", "adafactor", "lion")):
        return "adaptive"
    return "momentum" if any(k in low for k in ("momentum", "nesterov")) else "sgd"


def _default_lr(obj: Any) -> float:
    """``obj``'s own default lr (its signature's), else 1e-3."""
    try:
        lr = inspect.signature(obj).parameters.get("lr")
    except (TypeError, ValueError):
        return 1e-3
    default = None if lr is None else lr.default
    if isinstance(default, int | float) and not isinstance(default, bool) and default > 0:
        return float(default)
    return 1e-3


def _accepted_keys(obj: Any) -> list[str] | None:
    """The keyword arguments ``obj`` takes besides params and lr (``None``: any)."""
    if _is_chain(obj):
        return None  # a chain's hyperparameters are its own; ChainOptimizer checks them
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name not in ("self", "params", "lr")
            and p.kind is not inspect.Parameter.VAR_POSITIONAL]


def _check_keys(spec: OptimizerSpec) -> None:
    valid = _accepted_keys(spec.resolve())
    for key in spec.kwargs if valid is not None else ():
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError("optimizers", f"optimizer {spec.name!r}: unknown argument "
                              f"{key!r}{hint}; it takes: lr, {', '.join(valid)}")


def _is_chain(obj: Any) -> bool:
    from ..transforms import Chain

    return isinstance(obj, Chain)


def _instantiate(obj: Any, target: str, params: Iterable[torch.Tensor], lr: float,
                 kwargs: dict[str, Any]) -> torch.optim.Optimizer:
    """An optimizer from a class, a chain or a factory (whose result is checked)."""
    if _is_chain(obj):
        from ..engine import ChainOptimizer

        return ChainOptimizer(params, obj, lr=lr, **kwargs)
    if not callable(obj):
        raise EntryPointError("optimizer", target, f"{type(obj).__name__} is not an "
                              "optimizer class, a chain or a function")
    params = list(params)
    made = obj(params, lr=lr, **kwargs)
    if _is_chain(made):  # a factory of chains: its kwargs went into the chain
        from ..engine import ChainOptimizer

        return ChainOptimizer(params, made, lr=lr)
    if not isinstance(made, torch.optim.Optimizer):
        raise EntryPointError("optimizer", target, f"it gave {type(made).__name__}, not a "
                              "torch.optim.Optimizer or an antigrad.chain")
    return made


def needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step`` needs a closure (the second-order methods, torch's LBFGS:
    they evaluate the loss several times per step)."""
    from ..second_order.base import SecondOrderOptimizer

    return isinstance(optimizer, SecondOrderOptimizer | torch.optim.LBFGS)


def register_optimizer(spec: OptimizerSpec) -> None:
    """Add (or replace) an optimizer, e.g. ``OptimizerSpec("torch-adam", "Adam (torch form)",
    "L12", "antigrad:Adam", "adaptive", 1e-3)``."""
    LECTURE_OPTIMIZERS[spec.name] = spec
