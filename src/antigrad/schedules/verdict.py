r"""Robbins–Monro verdicts (SPEC L6): does a schedule satisfy

.. math:: \sum_t \varepsilon_t = +\infty, \qquad \sum_t \varepsilon_t^2 < +\infty ?

:class:`Tail` answers analytically from the shape of a closed-form schedule's tail (zero,
geometric or a power ``t^{-p}``); :func:`robbins_monro` answers numerically for any callable
``t -> lr`` and says ``satisfied=None`` when a finite horizon cannot tell.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from antigrad import validation

__all__ = ["Verdict", "Tail", "robbins_monro"]


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
    analytic = getattr(schedule, "robbins_monro", None)
    if isinstance(analytic, Verdict):  # a Schedule: its exact verdict
        return analytic
    if isinstance(schedule, ReduceLROnPlateau):
        return Verdict(None, "reduce-on-plateau depends on the run: its lr is not known "
                             "in advance")
    horizon = validation.count("horizon", horizon, 1000)
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
