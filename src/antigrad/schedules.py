r"""Learning-rate schedules with closed forms and a Robbins–Monro verdict (SPEC L5, L6).

Every schedule here is a :class:`torch.optim.lr_scheduler.LRScheduler` whose learning
rate is a pure function of the step index: ``lr_t = base_lr · factor(t)`` with
``t = last_epoch = 0, 1, 2, ...`` (the number of ``scheduler.step()`` calls so far). So
``scheduler.step(epoch)`` jumps anywhere (``_get_closed_form_lr``), schedules chain
(:class:`Sequential` switches between them at milestones, :class:`Product` multiplies
their factors) and a checkpoint needs only ``last_epoch``.

Stochastic gradient descent converges to an optimum when the Robbins–Monro conditions

.. math:: \sum_t \varepsilon_t = +\infty, \qquad \sum_t \varepsilon_t^2 < +\infty

hold. ``schedule.robbins_monro`` answers analytically for the built-in schedules (from the
shape of the tail of ``factor``: zero, geometric or a power ``t^{-p}``);
:func:`robbins_monro` answers numerically for any callable ``t -> lr`` and says
``satisfied=None`` when a finite horizon cannot tell.

Example::

    >>> import torch
    >>> from antigrad import schedules
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    >>> sched = schedules.InverseTime(opt, tau=10, p=1.0)
    >>> sched.robbins_monro.satisfied
    True
    >>> [round(sched.lr_at(t)[0], 4) for t in (0, 10, 90)]
    [0.1, 0.05, 0.01]
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

__all__ = [
    "Verdict", "Tail", "Schedule", "Constant", "Step", "Exponential", "InverseTime", "Cosine",
    "LinearWarmup", "Sequential", "Product", "ReduceLROnPlateau", "robbins_monro",
]


@dataclass(frozen=True)
class Verdict:
    """Whether a schedule satisfies Σε = ∞ and Σε² < ∞; ``None`` means "cannot tell"."""

    satisfied: bool | None
    reason: str

    def __bool__(self) -> bool:
        return bool(self.satisfied)


@dataclass(frozen=True)
class Tail:
    """How ``factor(t)`` behaves as t → ∞: ``zero``, ``geometric`` (rate < 1) or ``power``
    (``~ t^-p``; a constant is ``power`` with p = 0)."""

    kind: str
    p: float = 0.0
    rate: float = 1.0

    def __mul__(self, other: Tail) -> Tail:
        if "zero" in (self.kind, other.kind):
            return Tail("zero")
        if "geometric" in (self.kind, other.kind):
            return Tail("geometric", rate=self.rate * other.rate)
        return Tail("power", p=self.p + other.p)

    def verdict(self) -> Verdict:
        if self.kind == "zero":
            return Verdict(False, "the lr is eventually 0, so Σε < ∞: the optimum may be "
                                  "out of reach")
        if self.kind == "geometric":
            return Verdict(False, f"the lr decays geometrically (rate {self.rate:g} per step), "
                                  "so Σε < ∞: the optimum may be out of reach")
        p = self.p
        if p == 0:
            return Verdict(False, "the lr tends to a positive constant, so Σε² = ∞: "
                                  "gradient noise never averages out")
        if p <= 0.5:
            return Verdict(False, f"ε_t ~ t^-{p:g} with p <= 1/2, so Σε² = ∞")
        if p > 1:
            return Verdict(False, f"ε_t ~ t^-{p:g} with p > 1, so Σε < ∞")
        return Verdict(True, f"ε_t ~ t^-{p:g} with 1/2 < p <= 1: Σε = ∞ and Σε² < ∞")


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
        f = self.factor(_check_int("t", t, 0))
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
        self.step_size = _check_int("step_size", step_size, 1)
        self.gamma = _check_float("gamma", gamma, 0.0, 1.0, low_open=True)
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
        self.gamma = _check_float("gamma", gamma, 0.0, 1.0, low_open=True)
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
        self.tau = _check_float("tau", tau, 0.0, low_open=True)
        self.p = _check_float("p", p, 0.0)
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
        self.total_steps = _check_int("total_steps", total_steps, 1)
        self.min_factor = _check_float("min_factor", min_factor, 0.0, 1.0)
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
        self.warmup_steps = _check_int("warmup_steps", warmup_steps, 1)
        self.start_factor = _check_float("start_factor", start_factor, 0.0, 1.0)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        s = self.start_factor
        return s + (1 - s) * min(t / self.warmup_steps, 1.0)

    def tail(self) -> Tail:
        return Tail("power", p=0.0)


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
            _check_int(f"milestones[{i}]", m, 1)
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


# ---------------------------------------------------------------- numerical verdicts

_MARGIN = 0.05     # an exponent closer than this to 1 cannot be told from t^-1 ...
_HARMONIC = 2e-3   # ... unless it is this close to 1, not from above: the harmonic series


def _series(decades: list[float]) -> tuple[str, str]:
    """Decide whether Σ a_t converges from its sums over the last three decades of t.

    For a_t ~ t^-e each decade's sum is 10^(1-e) times the previous one: e > 1 converges,
    e <= 1 diverges. An exponent drifting toward 1 (as with log factors) is undecided."""
    d1, d2, d3 = decades
    if d3 == 0:
        return "converges", "it is 0 over the last decade of the horizon"
    if d2 == 0:
        return "unknown", "it is 0 and then non-zero again near the horizon"
    e_b = 1 - math.log10(d3 / d2)
    e_a = 1 - math.log10(d2 / d1) if d1 > 0 else math.inf
    dist = e_b - 1
    toward = (e_a - e_b) if dist > 0 else (e_b - e_a)
    shape = f"terms ~ t^-{e_b:.3f} near the horizon"
    if abs(dist) <= _HARMONIC and e_a <= e_b + _HARMONIC:
        return "diverges", "terms ~ 1/t (harmonic: the sum grows like log t)"
    if abs(dist) <= _MARGIN:
        return "unknown", shape + " (too close to t^-1 to tell)"
    if toward > 1e-3 + min(0.02, 0.1 * abs(dist)):
        return "unknown", shape + f" (t^-{e_a:.3f} a decade earlier: drifting toward t^-1)"
    return ("converges" if dist > 0 else "diverges"), shape


def _values(fn: Callable[[Any], Any], horizon: int) -> np.ndarray:
    t = np.arange(1, horizon + 1, dtype=np.float64)
    try:
        out = np.asarray(fn(t), dtype=np.float64)
        if out.shape == t.shape:
            return out
    except Exception:  # noqa: BLE001 - a scalar-only callable: fall back to a loop
        pass
    return np.fromiter((float(fn(int(k))) for k in range(1, horizon + 1)), np.float64, horizon)


def _as_callable(schedule: Any) -> Callable[[Any], Any]:
    if isinstance(schedule, torch.optim.lr_scheduler.LambdaLR):
        lam, base = schedule.lr_lambdas[0], float(schedule.base_lrs[0])
        return lambda t: base * lam(int(t) - 1)
    if isinstance(schedule, LRScheduler) and hasattr(schedule, "_get_closed_form_lr"):
        def closed(t: int) -> float:
            saved = schedule.last_epoch
            try:
                schedule.last_epoch = int(t) - 1
                return float(schedule._get_closed_form_lr()[0])
            finally:
                schedule.last_epoch = saved
        return closed
    if isinstance(schedule, (LRScheduler, ReduceLROnPlateau)):
        raise TypeError(f"Invalid schedule: {type(schedule).__name__} has no closed form; "
                        "pass a callable t -> lr instead")
    if not callable(schedule):
        raise TypeError(f"Invalid schedule: {schedule!r} (must be a Schedule, an LRScheduler "
                        "with a closed form, or a callable t -> lr)")
    return schedule


def robbins_monro(schedule: Any, horizon: int = 1_000_000) -> Verdict:
    """Robbins–Monro verdict for any schedule.

    An :class:`Schedule` gets its exact, analytic verdict. Anything else, a callable
    ``t -> lr`` with ``t = 1, 2, ..., horizon`` (called once on a NumPy array of all t if
    it accepts one, else once per t), ``LambdaLR`` or a torch scheduler with a closed form,
    is judged numerically: the sums of ε and ε² over the last three decades of the horizon
    give the local power-law exponent of each series; a settled exponent away from the
    boundary decides, otherwise the verdict is ``satisfied=None`` ("inconclusive").
    This extrapolates: a schedule may change its behaviour after the horizon.

    Example::

        >>> from antigrad.schedules import robbins_monro
        >>> robbins_monro(lambda t: 0.1 / t ** 0.75, horizon=100_000).satisfied
        True
        >>> robbins_monro(lambda t: 0.1 / t ** 0.51, horizon=100_000).satisfied is None
        True
    """
    if isinstance(schedule, Schedule):
        return schedule.robbins_monro
    if isinstance(schedule, ReduceLROnPlateau):
        return Verdict(None, "reduce-on-plateau depends on the run: its lr is not known "
                             "in advance")
    horizon = _check_int("horizon", horizon, 1000)
    eps = _values(_as_callable(schedule), horizon)
    if not np.all(np.isfinite(eps)) or np.any(eps < 0):
        k = int(np.argmax(~np.isfinite(eps) | (eps < 0))) + 1
        raise ValueError(f"Invalid schedule: lr at t={k} is {eps[k - 1]} (must be finite, >= 0)")
    edges = [horizon // 1000, horizon // 100, horizon // 10, horizon]
    def decades(a: np.ndarray) -> list[float]:
        return [float(a[edges[i]:edges[i + 1]].sum()) for i in range(3)]
    s1, why1 = _series(decades(eps))
    s2, why2 = _series(decades(eps * eps))
    where = f"over t <= {horizon}"
    if s1 == "converges":
        return Verdict(False, f"Σε < ∞ {where}: {why1}")
    if s2 == "diverges":
        return Verdict(False, f"Σε² = ∞ {where}: ε² {why2}")
    if s1 == "diverges" and s2 == "converges":
        return Verdict(True, f"Σε = ∞ and Σε² < ∞ {where}: ε {why1}")
    return Verdict(None, f"inconclusive {where}: ε {why1}; ε² {why2}; try a longer horizon")
