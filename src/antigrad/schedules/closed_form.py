"""Schedules with a closed form ``lr_t = base_lr · factor(t)`` (SPEC L6).

Each is a :class:`torch.optim.lr_scheduler.LRScheduler`; ``t = last_epoch`` counts the
``scheduler.step()`` calls, so ``step(epoch)`` jumps anywhere and a checkpoint needs only
``last_epoch``. ``tail()`` gives the shape of ``factor`` as t → ∞, hence the analytic
Robbins–Monro verdict.

Example::

    >>> import torch
    >>> from antigrad.schedules import Step
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> [Step(opt, step_size=2, gamma=0.5).lr_at(t)[0] for t in (0, 1, 2, 5)]
    [1.0, 1.0, 0.5, 0.25]
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from antigrad import validation
from antigrad.schedules.verdict import Tail, Verdict
from antigrad.validation import NON_NEGATIVE, POSITIVE, Interval

__all__ = ["Schedule", "Constant", "Step", "Exponential", "InverseTime", "Cosine",
           "LinearWarmup"]

DECAY = Interval(0.0, 1.0, "right")     # a factor per step or period: (0, 1]
FRACTION = Interval(0.0, 1.0, "both")   # a share of the base lr: [0, 1]


class Schedule(LRScheduler):
    """Base class: ``lr_t = base_lr · factor(t)``; subclasses define :meth:`factor` and
    :meth:`tail`. Call ``step()`` once per optimizer step (or per epoch: t counts calls)."""

    def factor(self, t: int) -> float:
        raise NotImplementedError

    def tail(self) -> Tail:
        raise NotImplementedError

    def get_lr(self) -> list[Any]:
        return self._get_closed_form_lr()

    def _get_closed_form_lr(self) -> list[Any]:
        f = self.factor(self.last_epoch)
        return [base * f for base in self.base_lrs]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load the state and set the optimizer's lrs to the closed form at ``last_epoch``."""
        super().load_state_dict(state_dict)
        self._apply_closed_form()

    def _apply_closed_form(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self._get_closed_form_lr(),
                             strict=True):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(float(lr))
            else:
                group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def lr_at(self, t: int) -> list[float]:
        """The learning rate of every param group at step index ``t`` (no side effects)."""
        f = self.factor(validation.count("t", t, 0))
        return [float(base) * f for base in self.base_lrs]

    @property
    def robbins_monro(self) -> Verdict:
        """Analytic verdict on Σε = ∞ and Σε² < ∞ for this schedule."""
        if all(float(b) == 0 for b in self.base_lrs):
            return Verdict(False, "the base lr is 0, so Σε = 0")
        return self.tail().verdict()

    _params: tuple[str, ...] = ()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._params)
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """``ε_t = ε_0``. Never satisfies Robbins–Monro (Σε² = ∞)."""

    def __init__(self, optimizer: torch.optim.Optimizer, last_epoch: int = -1) -> None:
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        return 1.0

    def tail(self) -> Tail:
        return Tail("power", p=0.0)


class Step(Schedule):
    """``ε_t = ε_0 · γ^⌊t / step_size⌋``, as ``torch.optim.lr_scheduler.StepLR``.

    Geometric for γ < 1 (Σε < ∞), constant for γ = 1: never Robbins–Monro."""

    _params = ('step_size', 'gamma')

    def __init__(self, optimizer: torch.optim.Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = validation.count("step_size", step_size)
        self.gamma = DECAY.check("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        return self.gamma ** (t // self.step_size)

    def tail(self) -> Tail:
        if self.gamma == 1:
            return Tail("power", p=0.0)
        return Tail("geometric", rate=self.gamma ** (1 / self.step_size))


class Exponential(Schedule):
    """``ε_t = ε_0 · γ^t``, as ``ExponentialLR``. Σε < ∞ for γ < 1: not Robbins–Monro."""

    _params = ('gamma',)

    def __init__(self, optimizer: torch.optim.Optimizer, gamma: float,
                 last_epoch: int = -1) -> None:
        self.gamma = DECAY.check("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        return self.gamma ** t

    def tail(self) -> Tail:
        return Tail("power", p=0.0) if self.gamma == 1 else Tail("geometric", rate=self.gamma)


class InverseTime(Schedule):
    """``ε_t = ε_0 / (1 + t/τ)^p``: Robbins–Monro iff 1/2 < p <= 1 (SPEC L6).

    p = 1 is the classic ``1/t`` decay; τ sets how many steps the lr stays near ε_0."""

    _params = ('tau', 'p')

    def __init__(self, optimizer: torch.optim.Optimizer, tau: float = 1.0, p: float = 1.0,
                 last_epoch: int = -1) -> None:
        self.tau = POSITIVE.check("tau", tau)
        self.p = NON_NEGATIVE.check("p", p)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        return (1.0 + t / self.tau) ** -self.p

    def tail(self) -> Tail:
        return Tail("power", p=self.p)


class Cosine(Schedule):
    """Cosine annealing over ``total_steps``, then held at the floor:
    ``factor(t) = m + (1 - m)(1 + cos(π min(t, T)/T)) / 2`` with ``m = min_factor``.

    The tail is constant (m > 0: Σε² = ∞) or zero (m = 0: Σε < ∞): never Robbins–Monro,
    by design: it trains for a fixed budget."""

    _params = ('total_steps', 'min_factor')

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int,
                 min_factor: float = 0.0, last_epoch: int = -1) -> None:
        self.total_steps = validation.count("total_steps", total_steps)
        self.min_factor = FRACTION.check("min_factor", min_factor)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        x = min(t, self.total_steps) / self.total_steps
        return self.min_factor + (1 - self.min_factor) * (1 + math.cos(math.pi * x)) / 2

    def tail(self) -> Tail:
        return Tail("zero") if self.min_factor == 0 else Tail("power", p=0.0)


class LinearWarmup(Schedule):
    """``factor(t) = s + (1 - s) · min(t / W, 1)``: from ``s = start_factor`` to 1 over
    ``W = warmup_steps``, then 1. Chain it with :class:`Sequential` or :class:`Product`."""

    _params = ('warmup_steps', 'start_factor')

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int,
                 start_factor: float = 0.1, last_epoch: int = -1) -> None:
        self.warmup_steps = validation.count("warmup_steps", warmup_steps)
        self.start_factor = FRACTION.check("start_factor", start_factor)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        s = self.start_factor
        return s + (1 - s) * min(t / self.warmup_steps, 1.0)

    def tail(self) -> Tail:
        return Tail("power", p=0.0)
