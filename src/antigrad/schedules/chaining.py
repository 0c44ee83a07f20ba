"""Schedules built from schedules: :class:`Sequential` switches at milestones,
:class:`Product` multiplies factors (:class:`WarmupCosine`: a warmup times a cosine). All
keep a closed form and an analytic verdict."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

import torch

from antigrad import validation
from antigrad.schedules.closed_form import Cosine, LinearWarmup, Schedule
from antigrad.schedules.verdict import Tail

__all__ = ["Sequential", "Product", "WarmupCosine"]


class _Chain(Schedule):
    def _children(self, optimizer: torch.optim.Optimizer, schedules: Sequence[Any]) -> list:
        if isinstance(schedules, Schedule) or not isinstance(schedules, Sequence) \
                or not schedules:
            raise ValueError(f"Invalid schedules: {schedules!r} (must be a non-empty list)")
        for i, s in enumerate(schedules):
            if not isinstance(s, Schedule):
                raise TypeError(f"Invalid schedules[{i}]: {type(s).__name__} (must be an "
                                "antigrad.schedules.Schedule with a closed form)")
            if s.optimizer is not optimizer:
                raise ValueError(f"Invalid schedules[{i}]: it is attached to another optimizer")
        return list(schedules)

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedules")}
        state["schedules"] = [s.state_dict() for s in self.schedules]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        for s, sd in zip(self.schedules, state.pop("schedules"), strict=True):
            s.load_state_dict(sd)
        self.__dict__.update(state)
        self._apply_closed_form()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.schedules!r}{self._extra()})"

    def _extra(self) -> str:
        return ""


class Sequential(_Chain):
    """Run ``schedules[i]`` from ``milestones[i-1]`` on, with its own t restarting at 0
    (as ``SequentialLR``). The tail, hence the verdict, is the last schedule's.

    Example: 100 warmup steps, then 1/t decay::

        >>> import torch
        >>> from antigrad import schedules as S
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = S.Sequential(opt, [S.LinearWarmup(opt, 100), S.InverseTime(opt, 10)], [100])
        >>> s.lr_at(50)[0], s.lr_at(110)[0], bool(s.robbins_monro)
        (0.55, 0.5, True)
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedules: Sequence[Schedule],
                 milestones: Sequence[int], last_epoch: int = -1) -> None:
        self.schedules = self._children(optimizer, schedules)
        milestones = list(milestones)
        if len(milestones) != len(self.schedules) - 1:
            raise ValueError(f"Invalid milestones: {milestones} (need {len(self.schedules) - 1}"
                             f" for {len(self.schedules)} schedules)")
        for i, m in enumerate(milestones):
            validation.count(f"milestones[{i}]", m, 1)
            if i and m <= milestones[i - 1]:
                raise ValueError(f"Invalid milestones: {milestones} (must increase)")
        self.milestones = milestones
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        i = bisect.bisect_right(self.milestones, t)
        start = self.milestones[i - 1] if i else 0
        return self.schedules[i].factor(t - start)

    def tail(self) -> Tail:
        return self.schedules[-1].tail()

    def _extra(self) -> str:
        return f", milestones={self.milestones}"


class Product(_Chain):
    """``factor(t) = Π_i schedules[i].factor(t)``, e.g. a warmup times a decay."""

    def __init__(self, optimizer: torch.optim.Optimizer, schedules: Sequence[Schedule],
                 last_epoch: int = -1) -> None:
        self.schedules = self._children(optimizer, schedules)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        return math.prod(s.factor(t) for s in self.schedules)

    def tail(self) -> Tail:
        tail = Tail("power", p=0.0)
        for s in self.schedules:
            tail = tail * s.tail()
        return tail


class WarmupCosine(Product):
    """A linear warmup over the first ``warmup_fraction`` of ``total_steps`` (from
    ``start_factor`` of the lr) times cosine annealing over all ``total_steps``: the
    :class:`Product` of :class:`LinearWarmup` and :class:`Cosine`, by name (so a command
    line can choose it: ``adam@warmup-cosine``).

    Example::

        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = WarmupCosine(opt, total_steps=100, warmup_fraction=0.1)
        >>> [round(s.lr_at(t)[0], 3) for t in (0, 10, 50, 100)]
        [0.01, 0.976, 0.5, 0.0]
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int,
                 warmup_fraction: float = 0.05, start_factor: float = 0.01,
                 min_factor: float = 0.0, last_epoch: int = -1) -> None:
        total = validation.count("total_steps", total_steps)
        fraction = validation.in_unit_interval("warmup_fraction", warmup_fraction)
        self.total_steps, self.warmup_fraction = total, fraction
        warmup = max(1, round(fraction * total))
        super().__init__(optimizer, [LinearWarmup(optimizer, warmup, start_factor),
                                     Cosine(optimizer, total, min_factor)], last_epoch)

    def _extra(self) -> str:
        return f", total_steps={self.total_steps}, warmup_fraction={self.warmup_fraction}"
