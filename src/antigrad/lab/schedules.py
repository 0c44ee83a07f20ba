"""Learning-rate schedules for ``antigrad compare``: a name with keyword arguments.

``--schedule "cosine"`` or ``-o "adam@Cosine(min_factor=0.1)"`` names either one of
:mod:`antigrad.schedules`' closed-form schedules (``constant``, ``step``, ``exponential``,
``inverse-time``, ``cosine``, ``linear-warmup``, ``warmup-cosine``; class names such as
``Cosine`` work too)
or one of torch's ``torch.optim.lr_scheduler`` classes (``CosineAnnealingLR``, ``StepLR``,
``OneCycleLR``, ...; ``torch:`` in front is allowed). The scheduler steps once after every
optimizer step. Arguments that fix the horizon are filled from the run when not given:
``total_steps`` and ``T_max`` with the run's steps, ``max_lr`` (``OneCycleLR``) with the
chosen lr. Schedules that need a function, other schedulers or a metric
(``LambdaLR``, ``SequentialLR``, ``ReduceLROnPlateau``, ...) cannot be named here.

Example::

    >>> import torch
    >>> s = parse_schedule("cosine")
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    >>> sched = s.build(opt, steps=100, lr=0.1)
    >>> round(sched.lr_at(50)[0], 3)
    0.05
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import ConfigError
from .spec_text import parse_call

__all__ = ["ScheduleSpec", "parse_schedule", "schedule_names"]

#: antigrad's closed-form schedules by their short names.
CLOSED_FORM = {"constant": "Constant", "step": "Step", "exponential": "Exponential",
               "inverse-time": "InverseTime", "cosine": "Cosine",
               "linear-warmup": "LinearWarmup", "warmup-cosine": "WarmupCosine"}

#: torch schedulers that need what a name and literals cannot give.
_UNSUPPORTED = {"LambdaLR": "a function", "MultiplicativeLR": "a function",
                "SequentialLR": "other schedulers", "ChainedScheduler": "other schedulers",
                "ReduceLROnPlateau": "a metric to watch", "LRScheduler": "a subclass",
                "SWALR": "an SWA setup"}

_HORIZON = ("total_steps", "T_max")


def _torch_names() -> list[str]:
    mod = torch.optim.lr_scheduler
    return sorted(n for n, v in vars(mod).items()
                  if isinstance(v, type) and issubclass(v, mod.LRScheduler)
                  and not n.startswith("_") and n not in _UNSUPPORTED)


def schedule_names() -> list[str]:
    """Every name ``--schedule`` accepts: antigrad's short names, then torch's classes."""
    return [*CLOSED_FORM, *_torch_names()]


def _resolve(name: str) -> type:
    from .. import schedules

    bare = name.split(":", 1)[1] if name.startswith(("torch:", "antigrad:")) else name
    by_class = {v.lower(): v for v in CLOSED_FORM.values()}
    if not name.startswith("torch:"):
        cls = CLOSED_FORM.get(bare.lower()) or by_class.get(bare.lower())
        if cls is not None:
            return getattr(schedules, cls)
    if bare in _UNSUPPORTED:
        raise ConfigError("schedule", f"schedule {bare!r} needs {_UNSUPPORTED[bare]}, which "
                          "a command line cannot give; use it from Python")
    if bare in _torch_names():
        return getattr(torch.optim.lr_scheduler, bare)
    close = difflib.get_close_matches(bare, schedule_names(), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError("schedule", f"unknown schedule {name!r}{hint}; choose from: "
                      f"{', '.join(schedule_names())}")


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule named on the command line: the text, its class and keyword arguments."""

    text: str
    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self, optimizer: torch.optim.Optimizer, steps: int,
              lr: float | list[float]) -> Any:
        """The scheduler for a run of ``steps`` steps at ``lr`` (horizon filled in; a list
        gives each param group its own ``max_lr``, as batched replicas need)."""
        params = inspect.signature(self.cls).parameters
        filled = {k: steps for k in _HORIZON if k in params}
        if "max_lr" in params:
            filled["max_lr"] = lr
        if "epochs" in self.kwargs:  # OneCycleLR's other way to give the horizon
            filled.pop("total_steps", None)
        return self.cls(optimizer, **{**filled, **self.kwargs})

    def check(self) -> None:
        """Build once on a throw-away optimizer; bad keys and values raise
        :class:`ConfigError` (unknown keys name the nearest valid one)."""
        params = inspect.signature(self.cls).parameters
        valid = [k for k in params if k not in ("optimizer", "last_epoch", "verbose")]
        for key in self.kwargs:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError("schedule", f"schedule {self.text!r}: unknown argument "
                                  f"{key!r}{hint}; {self.cls.__name__} takes: "
                                  f"{', '.join(valid)}")
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        try:
            self.build(opt, steps=100, lr=0.1)
        except (TypeError, ValueError) as err:
            raise ConfigError("schedule", f"schedule {self.text!r}: {err}") from None


def parse_schedule(text: str) -> ScheduleSpec:
    """The :class:`ScheduleSpec` that ``text`` names, checked (see the module doc)."""
    try:
        name, kwargs = parse_call(text)
    except ValueError as err:
        raise ConfigError("schedule", f"schedule {text!r}: {err}") from None
    spec = ScheduleSpec(text.strip(), _resolve(name), kwargs)
    spec.check()
    return spec
