r"""Line searches along a descent direction ``d``: strong Wolfe, backtracking, fixed step.

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
from typing import NamedTuple

import torch
from torch import Tensor

from .flat import Point
from .result import NonFiniteLossError

Phi = Callable[..., Point]  # phi(t) or phi(t, other_direction)


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


def strong_wolfe(phi: Phi, p0: Point, d: Tensor, t: float, gtd0: float, *, c1: float = 1e-4,
                 c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25
                 ) -> tuple[float, Point]:
    """Strong-Wolfe line search (N&W Alg. 3.5 bracketing + Alg. 3.6 zoom)."""
    d_max = float(d.abs().max())
    # below this bracket width the trial points round to the same parameters
    floor = max(tolerance_change, torch.finfo(d.dtype).eps * float(p0.x.abs().max()))
    prev = _Trial(0.0, p0.f, gtd0, p0)
    tries, lo, hi, found_finite = 0, None, None, False
    last_bad = (t, math.nan)
    while tries < max_ls:  # bracketing: grow t until the minimum is enclosed
        pt = phi(t)
        tries += 1
        if not pt.finite:
            last_bad = (t, pt.f)
            lo, hi = prev, _Trial(t, math.inf, math.nan, None)
            break
        found_finite = True
        gtd = float(pt.g @ d)
        cur = _Trial(t, pt.f, gtd, pt)
        if pt.f > p0.f + c1 * t * gtd0 or (tries > 1 and pt.f >= prev.f):
            lo, hi = prev, cur
            break
        if abs(gtd) <= -c2 * gtd0:
            return t, pt
        if gtd >= 0:
            lo, hi = cur, prev
            break
        new_t = cubic_min(prev.t, prev.f, prev.gtd, t, pt.f, gtd, t + 0.01 * (t - prev.t),
                          10 * t)
        prev, t = cur, new_t
    else:
        return prev.t, prev.point  # type: ignore[return-value]
    while tries < max_ls:  # zoom: shrink [lo, hi], keeping lo the best sufficient-decrease point
        if abs(hi.t - lo.t) * d_max < floor:
            break
        a, b = min(lo.t, hi.t), max(lo.t, hi.t)
        w = b - a
        if math.isfinite(hi.f):
            t = cubic_min(lo.t, lo.f, lo.gtd, hi.t, hi.f, hi.gtd, a + 0.1 * w, b - 0.1 * w)
        else:
            t = (lo.t + hi.t) / 2
        pt = phi(t)
        tries += 1
        if not pt.finite:
            last_bad = (t, pt.f)
            hi = _Trial(t, math.inf, math.nan, None)
            continue
        found_finite = True
        gtd = float(pt.g @ d)
        cur = _Trial(t, pt.f, gtd, pt)
        if pt.f > p0.f + c1 * t * gtd0 or pt.f >= lo.f:
            hi = cur
        else:
            if abs(gtd) <= -c2 * gtd0:
                return t, pt
            if gtd * (hi.t - lo.t) >= 0:
                hi = lo
            lo = cur
    if not found_finite:
        raise _nonfinite(last_bad[0], tries, last_bad[1])
    return lo.t, lo.point  # type: ignore[return-value]


def backtracking(phi: Phi, p0: Point, d: Tensor, t: float, gtd0: float, *, c1: float = 1e-4,
                 max_ls: int = 25) -> tuple[float, Point]:
    """Armijo backtracking (N&W Alg. 3.1) with a safeguarded quadratic step."""
    found_finite = False
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


def fixed(phi: Phi, p0: Point, d: Tensor, t: float, gtd0: float, *, max_ls: int = 25
          ) -> tuple[float, Point]:
    """Take ``t`` as given; only a non-finite loss makes it halve."""
    for _ in range(max_ls):
        pt = phi(t)
        if pt.finite:
            return t, pt
        bad = (t, pt.f)
        t *= 0.5
    raise _nonfinite(bad[0], max_ls, bad[1])


SEARCHES = {"strong_wolfe": strong_wolfe, "backtracking": backtracking, None: fixed}
