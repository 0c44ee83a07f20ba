""":class:`FitConfig`: every option of :func:`antigrad.fit`, checked once, in one place.

``fit(model, loss_fn, train, **options)`` builds ``FitConfig(**options)`` and trains with
it; a bad option raises here, before any work (TypeError for a wrong type, ValueError for
a wrong value, naming the option). The fields, their meaning and defaults are fit's
keyword arguments (see :func:`antigrad.fit`).

Example::

    >>> from antigrad.train import FitConfig
    >>> FitConfig(lr=0.1, epochs=3).runs
    ({'seed': 0},)
    >>> FitConfig(lr=0.1)
    Traceback (most recent call last):
    ...
    ValueError: Invalid budget: fit needs epochs=, steps= or stop= (or it would never end)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from .. import validation
from ..stop import StopRule
from .amp import Precision
from .clipping import Clipping

__all__ = ["FitConfig"]

#: Per-step measurements fit can record (``track=``).
TRACKABLE = frozenset({"grad_norm", "weight_change"})

#: What one restart may override (``restarts=[{...}, ...]``).
RUN_KEYS = frozenset({"lr", "optimizer", "schedule", "seed"})

_SCHEDULERS = (LRScheduler, ReduceLROnPlateau)


def positive_int(name: str, value: Any, allow_none: bool = True) -> int | None:
    """``value`` if it is an integer >= 1 (or None when allowed): TypeError for another
    type, ValueError below 1."""
    if value is None and allow_none:
        return None
    return validation.count(name, value)


def _one_of(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        wanted = " or ".join(repr(c) for c in choices)
        raise ValueError(f"Invalid {name}: {value!r} (must be {wanted})")


def _restart_list(restarts: Any, seed: int | None) -> tuple[dict[str, Any], ...]:
    """One dict of overrides per run, each with its ``seed`` (``seed + k`` by default)."""
    if isinstance(restarts, int) and not isinstance(restarts, bool):
        positive_int("restarts", restarts, allow_none=False)
        runs: list[dict[str, Any]] = [{} for _ in range(restarts)]
    elif isinstance(restarts, Sequence) and restarts and all(isinstance(r, Mapping)
                                                             for r in restarts):
        runs = [dict(r) for r in restarts]
        for i, r in enumerate(runs):
            if set(r) - RUN_KEYS:
                raise ValueError(f"Invalid restarts[{i}]: unknown keys {sorted(set(r) - RUN_KEYS)}"
                                 f" (allowed: {sorted(RUN_KEYS)})")
    else:
        raise ValueError(f"Invalid restarts: {restarts!r} (must be an integer >= 1 or a list "
                         "of per-run overrides such as [{'lr': 0.1}, {'lr': 0.01}])")
    for i, r in enumerate(runs):
        r.setdefault("seed", None if seed is None else seed + i)
    return tuple(runs)


@dataclass(frozen=True)
class FitConfig:
    """:func:`antigrad.fit`'s keyword arguments, validated at construction.

    Derived (not arguments): ``runs`` (one dict of overrides per restart, with its seed),
    ``precision_policy`` (:class:`~antigrad.train.amp.Precision`), ``clipping``
    (:class:`~antigrad.train.clipping.Clipping`).
    """

    optimizer: Any = None
    lr: float | None = None
    epochs: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    drop_last: bool = False
    schedule: Any = None
    schedule_interval: str = "step"
    stop: StopRule | None = None
    divergence: float | None = 1e3
    val: Any = None
    val_batch_size: int | None = None
    val_every: int | None = None
    metrics: Mapping[str, Callable[..., Any]] | None = None
    monitor: str = "val_loss"
    mode: str = "min"
    keep_best: bool = True
    track: Iterable[str] = ()
    callbacks: Any = None
    progress: bool | None = None
    checkpoint: str | os.PathLike[str] | None = None
    checkpoint_every: int | None = None
    keep_checkpoints: int = 2
    resume: bool | str | os.PathLike[str] = False
    restarts: int | Sequence[Mapping[str, Any]] = 1
    combine: str = "best"
    init: Callable[[torch.nn.Module], None] | None = None
    seed: int | None = 0
    device: str | torch.device | None = None
    precision: str | None = None
    clip_grad_norm: float | None = None
    clip_grad_value: float | None = None
    accumulate: int = 1
    runs: tuple[dict[str, Any], ...] = field(init=False, repr=False)
    precision_policy: Precision = field(init=False, repr=False)
    clipping: Clipping = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._set("precision_policy", Precision(self.precision))
        positive_int("accumulate", self.accumulate, allow_none=False)
        self._set("clipping", Clipping(self.clip_grad_norm, self.clip_grad_value))
        self._check_budget()
        self._check_choices()
        self._check_metrics()
        self._check_track_and_seed()
        self._set("runs", _restart_list(self.restarts, self.seed))
        self._check_restarts()

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)   # a frozen dataclass sets its own fields once

    def _check_budget(self) -> None:
        for name in ("epochs", "steps", "val_every", "checkpoint_every"):
            positive_int(name, getattr(self, name))
        if self.stop is not None and not isinstance(self.stop, StopRule):
            raise TypeError(f"Invalid stop: {self.stop!r} (must be an antigrad.stop rule)")
        if self.epochs is None and self.steps is None and self.stop is None:
            raise ValueError("Invalid budget: fit needs epochs=, steps= or stop= (or it would "
                             "never end)")

    def _check_choices(self) -> None:
        _one_of("schedule_interval", self.schedule_interval, ("step", "epoch"))
        _one_of("mode", self.mode, ("min", "max"))
        _one_of("combine", self.combine, ("best", "ensemble"))

    def _check_metrics(self) -> None:
        self._set("metrics", dict(self.metrics or {}))
        for name, fn in self.metrics.items():
            if not isinstance(name, str) or not callable(fn):
                raise TypeError(f"Invalid metrics[{name!r}]: {fn!r} (must map a str to a "
                                "callable)")
        allowed = ["val_loss", *(f"val_{k}" for k in self.metrics)]
        if self.monitor not in allowed:
            raise ValueError(f"Invalid monitor: {self.monitor!r} (must be one of {allowed})")

    def _check_track_and_seed(self) -> None:
        self._set("track", frozenset(self.track))
        if self.track - TRACKABLE:
            raise ValueError(f"Invalid track: {sorted(self.track - TRACKABLE)} (can track "
                             f"{sorted(TRACKABLE)})")
        if self.seed is not None and (isinstance(self.seed, bool)
                                      or not isinstance(self.seed, int)):
            raise TypeError(f"Invalid seed: {self.seed!r} (must be an int or None)")

    def _check_restarts(self) -> None:
        if self.init is not None and not callable(self.init):
            raise TypeError(f"Invalid init: {self.init!r} (must be a callable model -> None)")
        file = isinstance(self.resume, (str, os.PathLike))
        if self.resume and self.checkpoint is None and not file:
            raise ValueError("Invalid resume: True (needs checkpoint=folder)")
        if file and len(self.runs) > 1:
            raise ValueError("Invalid resume: a file path (with restarts, pass resume=True "
                             "and the checkpoint folder)")
        for i, r in enumerate(self.runs):
            self._check_override(i, r)

    def _check_override(self, i: int, run: Mapping[str, Any]) -> None:
        if isinstance(self.optimizer, torch.optim.Optimizer) and ("lr" in run
                                                                  or "optimizer" in run):
            raise ValueError(f"Invalid restarts[{i}]: lr/optimizer overrides need optimizer= "
                             "as a class or callable, not an instance")
        if isinstance(self.schedule, _SCHEDULERS) and "optimizer" in run:
            raise ValueError(f"Invalid restarts[{i}]: an optimizer override needs schedule= "
                             "as a callable optimizer -> scheduler")
