r"""Line searches along a descent direction ``d``: strong Wolfe, backtracking, fixed step.

Chosen at construction as objects (:class:`StrongWolfe`, :class:`Backtracking`,
:class:`FixedStep`, or any :class:`LineSearch`); ``line_search_fn`` names map to them
through :func:`line_search_from`.

Each takes ``phi(t)``, which moves the parameters to ``w + t d`` and returns the
:class:`~antigrad.second_order.flat.Point` there, and returns ``(t, point)`` for the
accepted step. With ``φ(t) = L(w + t d)``:

* **Strong Wolfe** (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg. 3.5 and
  3.6, cubic interpolation eq. 3.59) accepts ``t`` with

  ``φ(t) ≤ φ(0) + c1 t φ'(0)`` (sufficient decrease) and ``|φ'(t)| ≤ c2 |φ'(0)|``
  (curvature), which keeps ``sᵀy > 0`` so quasi-Newton updates stay positive definite.
* **Backtracking** (N&W Alg. 3.1) accepts the first ``t = t0, ...`` with sufficient
  decrease, shrinking by a safeguarded quadratic fit in ``[0.1 t, 0.5 t]``.
* **Fixed** takes ``t0`` as is (``torch.optim.LBFGS`` with ``line_search_fn=None``).

A NaN/inf loss or gradient at a trial step is treated as "too far": all three halve the
step. If no finite value is found within ``max_ls`` tries they raise
:class:`~antigrad.second_order.result.NonFiniteLossError` naming the last step tried;
the caller restores the last good point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor

from .flat import Point
from .result import NonFiniteLossError

Phi = Callable[..., Point]  # phi(t) or phi(t, other_direction)
C1, C2 = 1e-4, 0.9  # sufficient decrease and curvature constants (N&W's usual choice)
MAX_LS = 25  # trial points per search


class _Trial(NamedTuple):
    t: float
    f: float
    gtd: float
    point: Point | None


def _nonfinite(t: float, tries: int, f: float) -> NonFiniteLossError:
    return NonFiniteLossError(
        f"the loss stayed non-finite along the search direction: last step size tried "
        f"t={t:.3e} gave loss {f} after {tries} tries; parameters were left at the last "
        f"point with a finite loss. Lower lr, check the model for overflow, or use damping.")


def cubic_min(t1: float, f1: float, g1: float, t2: float, f2: float, g2: float,
              lo: float, hi: float) -> float:
    """Minimiser of the cubic through ``(t1, f1, g1)``, ``(t2, f2, g2)``, clamped to
    ``[lo, hi]`` (N&W eq. 3.59); the midpoint if the cubic has no minimiser."""
    d1 = g1 + g2 - 3 * (f1 - f2) / (t1 - t2)
    disc = d1 * d1 - g1 * g2
    if disc >= 0 and math.isfinite(disc):
        d2 = math.copysign(math.sqrt(disc), t2 - t1)
        den = g2 - g1 + 2 * d2
        if den != 0:
            t = t2 - (t2 - t1) * (g2 + d2 - d1) / den
            if math.isfinite(t):
                return min(max(t, lo), hi)
    return (lo + hi) / 2


@dataclass
class _Search:
    """One strong-Wolfe search in progress: the budget and the last non-finite trial."""

    phi: Phi
    p0: Point
    d: Tensor
    gtd0: float
    c1: float
    c2: float
    max_ls: int
    tries: int = 0
    found_finite: bool = False
    last_bad: tuple[float, float] = (math.nan, math.nan)

    def trial(self, t: float) -> _Trial:
        """Evaluate ``φ(t)``; a non-finite value is an infinitely high trial."""
        pt = self.phi(t)
        self.tries += 1
        if not pt.finite:
            self.last_bad = (t, pt.f)
            return _Trial(t, math.inf, math.nan, None)
        self.found_finite = True
        return _Trial(t, pt.f, float(pt.g @ self.d), pt)

    def sufficient(self, cur: _Trial) -> bool:
        return cur.f <= self.p0.f + self.c1 * cur.t * self.gtd0

    def curvature(self, cur: _Trial) -> bool:
        return abs(cur.gtd) <= -self.c2 * self.gtd0


def strong_wolfe(phi: Phi, p0: Point, d: Tensor, t: float, gtd0: float, *, c1: float = 1e-4,
                 c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25
                 ) -> tuple[float, Point]:
    """Strong-Wolfe line search (N&W Alg. 3.5 bracketing + Alg. 3.6 zoom)."""
    if not t > 0:  # lr = 0: nothing to search
        return 0.0, p0
    run = _Search(phi, p0, d, gtd0, c1, c2, max_ls)
    found = _bracket(run, t)
    if isinstance(found, _Trial):
        return found.t, found.point  # type: ignore[return-value]
    # below this bracket width the trial points round to the same parameters
    floor = max(tolerance_change, torch.finfo(d.dtype).eps * float(p0.x.abs().max()))
    lo = _zoom(run, *found, floor, float(d.abs().max()))
    if isinstance(lo, _Trial) and lo.point is not None:
        return lo.t, lo.point
    raise _nonfinite(run.last_bad[0], run.tries, run.last_bad[1])


def _bracket(run: _Search, t: float) -> _Trial | tuple[_Trial, _Trial]:
    """Grow ``t`` until ``[lo, hi]`` encloses a strong-Wolfe point; a trial if one met
    both conditions (or the budget ran out: the last good one)."""
    prev = _Trial(0.0, run.p0.f, run.gtd0, run.p0)
    while run.tries < run.max_ls:
        cur = run.trial(t)
        if cur.point is None:
            return prev, cur
        if not run.sufficient(cur) or (run.tries > 1 and cur.f >= prev.f):
            return prev, cur
        if run.curvature(cur):
            return cur
        if cur.gtd >= 0:
            return cur, prev
        new_t = cubic_min(prev.t, prev.f, prev.gtd, t, cur.f, cur.gtd, t + 0.01 * (t - prev.t),
                          10 * t)
        prev, t = cur, new_t
    return prev


def _zoom(run: _Search, lo: _Trial, hi: _Trial, floor: float, d_max: float) -> _Trial | None:
    """Shrink ``[lo, hi]``, keeping ``lo`` the best sufficient-decrease point; the
    strong-Wolfe point, or ``lo`` when the budget runs out or the bracket moves the
    parameters by less than ``floor`` (None if no finite value was ever found)."""
    while run.tries < run.max_ls and not abs(hi.t - lo.t) * d_max < floor:
        a, b = min(lo.t, hi.t), max(lo.t, hi.t)
        w = b - a
        if math.isfinite(hi.f):
            t = cubic_min(lo.t, lo.f, lo.gtd, hi.t, hi.f, hi.gtd, a + 0.1 * w, b - 0.1 * w)
        else:
            t = (lo.t + hi.t) / 2
        cur = run.trial(t)
        if cur.point is None or not run.sufficient(cur) or cur.f >= lo.f:
            hi = cur
            continue
        if run.curvature(cur):
            return cur
        if cur.gtd * (hi.t - lo.t) >= 0:
            hi = lo
        lo = cur
    return lo if run.found_finite else None


def backtracking(phi: Phi, p0: Point, d: Tensor, t: float, gtd0: float, *, c1: float = 1e-4,
                 max_ls: int = 25) -> tuple[float, Point]:
    """Armijo backtracking (N&W Alg. 3.1) with a safeguarded quadratic step."""
    if not t > 0:  # lr = 0: nothing to search
        return 0.0, p0
    found_finite, bad = False, (t, math.nan)
    for _ in range(max_ls):
        pt = phi(t)
        if not pt.finite:
            bad = (t, pt.f)
            t *= 0.5
            continue
        found_finite = True
        if pt.f <= p0.f + c1 * t * gtd0:
            return t, pt
        den = 2 * (pt.f - p0.f - gtd0 * t)
        t_q = -gtd0 * t * t / den if den > 0 else 0.5 * t
        t = min(max(t_q, 0.1 * t), 0.5 * t)
    if not found_finite:
        raise _nonfinite(bad[0], max_ls, bad[1])
    return 0.0, p0


def fixed(phi: Phi, p0: Point, d: Tensor, t: float, gtd0: float, *, max_ls: int = 25,
          accept_nonfinite: bool = False) -> tuple[float, Point]:
    """Take ``t`` as given; only a non-finite loss makes it halve (unless
    ``accept_nonfinite``: then the point is taken as it is, as torch.optim.LBFGS does)."""
    bad = (t, math.nan)
    for _ in range(max_ls):
        pt = phi(t)
        if pt.finite or accept_nonfinite:
            return t, pt
        bad = (t, pt.f)
        t *= 0.5
    raise _nonfinite(bad[0], max_ls, bad[1])


class LineSearch:
    """A line search chosen at construction: ``search(phi, p0, d, t0, gtd0)`` returns the
    accepted ``(t, point)``; :class:`FixedStep`, :class:`Backtracking`,
    :class:`StrongWolfe`. A subclass names its function in :attr:`search`, whose keyword
    options are the subclass's dataclass fields and those of the call it :attr:`passes`
    on; or it overrides ``__call__``."""

    #: the name ``line_search_fn`` gives it (``None`` for the fixed step)
    name: str | None = None
    #: the line-search function the call runs
    search: ClassVar[Callable[..., tuple[float, Point]] | None] = None
    #: which of the call's keywords (``tolerance_change``, ``accept_nonfinite``) it uses
    passes: ClassVar[tuple[str, ...]] = ()

    def __call__(self, phi: Phi, p0: Point, d: Tensor, t: float, gtd0: float, *,
                 tolerance_change: float = 0.0, accept_nonfinite: bool = False
                 ) -> tuple[float, Point]:
        if self.search is None:
            raise NotImplementedError
        given = {"tolerance_change": tolerance_change, "accept_nonfinite": accept_nonfinite}
        options = {f.name: getattr(self, f.name) for f in fields(self)}
        options.update((key, given[key]) for key in self.passes)
        return self.search(phi, p0, d, t, gtd0, **options)


@dataclass(frozen=True)
class FixedStep(LineSearch):
    """The first step size as it is (``torch.optim.LBFGS``'s ``line_search_fn=None``)."""

    max_ls: int = MAX_LS
    name = None
    search = staticmethod(fixed)
    passes = ("accept_nonfinite",)


@dataclass(frozen=True)
class Backtracking(LineSearch):
    """Armijo backtracking: the first ``t`` with ``φ(t) ≤ φ(0) + c1 t φ'(0)``."""

    c1: float = C1
    max_ls: int = MAX_LS
    name = "backtracking"
    search = staticmethod(backtracking)


@dataclass(frozen=True)
class StrongWolfe(LineSearch):
    """Sufficient decrease (``c1``) and strong curvature (``c2``): keeps ``sᵀy > 0``."""

    c1: float = C1
    c2: float = C2
    max_ls: int = MAX_LS
    name = "strong_wolfe"
    search = staticmethod(strong_wolfe)
    passes = ("tolerance_change",)


BY_NAME: dict[str | None, LineSearch] = {None: FixedStep(), "backtracking": Backtracking(),
                                          "strong_wolfe": StrongWolfe()}


def line_search_from(spec: str | LineSearch | None) -> LineSearch:
    """The line search ``line_search_fn`` names (or the object itself)."""
    if isinstance(spec, LineSearch):
        return spec
    if isinstance(spec, str) or spec is None:
        found = BY_NAME.get(spec)
        if found is not None:
            return found
    raise ValueError(f"Invalid line_search_fn value: {spec!r} (must be one of "
                     f"{', '.join(map(repr, BY_NAME))}, or a LineSearch object)")
