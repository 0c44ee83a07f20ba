r"""Trust-region Newton with Steihaug's conjugate gradients: ``Newton(mode="trust_region")``.

Each iteration minimises the quadratic model ``m(p) = L + gᵀp + ½ pᵀHp`` over the ball
``‖p‖ ≤ Δ`` approximately, by CG on ``Hp = −g`` from ``p = 0`` that stops at the
boundary, at negative curvature (then it follows that direction to the boundary) or at
relative residual ``min(0.5, √‖g‖)`` (Steihaug 1983; Nocedal & Wright Alg. 7.2). ``H``
enters only through exact Hessian-vector products (``torch.autograd``, one backward pass
each), so memory is ``O(n)``. The step is taken if the loss fell by at least ``eta`` of
the model's prediction, ``ρ = (L(w) − L(w + p)) / (m(0) − m(p)) > eta``; ``Δ`` shrinks
to a quarter after a poor step (``ρ < ¼``) and doubles after a good one that hit the
boundary (``ρ > ¾``), up to ``max_trust_radius`` (N&W Alg. 4.1). A rejected step is
retried inside the same iteration with the smaller radius, so every iteration that
returns has lowered the loss.

Unlike a line search along a Newton direction it uses the negative curvature it meets,
so it does not stall at saddle points nor walk along a valley where the Hessian is
indefinite.

Reference: T. Steihaug, *The conjugate gradient method and trust regions in large scale
optimization*, SIAM J. Numer. Anal. 20 (1983); J. Nocedal, S. J. Wright, *Numerical
Optimization*, 2nd ed., 2006, Alg. 4.1 and 7.2.

Example::

    >>> import torch, antigrad
    >>> w = torch.tensor([-1.8, 1e-3], dtype=torch.float64, requires_grad=True)
    >>> opt = antigrad.Newton([w], mode="trust_region", max_iter=100, tolerance_grad=1e-10)
    >>> saddle = lambda: 0.5 * w[0] ** 2 + 0.25 * w[1] ** 4 - 0.5 * w[1] ** 2
    >>> _ = opt.step(saddle)  # near the saddle at (0, 0); minima at (0, 1) and (0, -1)
    >>> opt.result.reason, torch.allclose(w.detach(), torch.tensor([0.0, 1.0]).double())
    ('gradient', True)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .. import validation
from . import curvature
from .direction import Context, Direction
from .flat import Point
from .line_search import MAX_LS
from .options import positive, whole_number
from .result import NonFiniteLossError

if TYPE_CHECKING:
    from .line_search import LineSearch, Phi

SHRINK, GROW = 0.25, 2.0  # radius factors after a poor / a good step (N&W Alg. 4.1)
POOR, GOOD = 0.25, 0.75  # thresholds on ρ for shrinking / growing


def to_boundary(z: Tensor, d: Tensor, radius: float) -> float:
    """The ``τ ≥ 0`` with ``‖z + τ d‖ = radius`` (``‖z‖ ≤ radius``)."""
    dd, zd, zz = float(d @ d), float(z @ d), float(z @ z)
    return (-zd + math.sqrt(max(zd * zd + dd * (radius * radius - zz), 0.0))) / dd


def steihaug_cg(g: Tensor, hvp: Any, radius: float, max_iter: int, rtol: float | None = None
                ) -> tuple[Tensor, Tensor]:
    """Steihaug's CG for ``min gᵀp + ½ pᵀHp, ‖p‖ ≤ radius``: the step ``p`` and ``Hp``.

    ``hvp(v)`` returns ``H v``. Stops at relative residual ``rtol`` (default
    ``min(0.5, √‖g‖)``), at the boundary, or at negative curvature."""
    gnorm = float(g.norm())
    tol = (min(0.5, gnorm ** 0.5) if rtol is None else rtol) * gnorm
    z, hz = torch.zeros_like(g), torch.zeros_like(g)
    r, d = g.clone(), -g
    rr = float(r @ r)
    for _ in range(max_iter):
        hd = hvp(d)
        dhd = float(d @ hd)
        alpha = rr / dhd if dhd > 0 else math.inf
        if dhd <= 0 or float((z + alpha * d).norm()) >= radius:
            tau = to_boundary(z, d, radius)  # negative curvature, or past the boundary
            return z.add_(d, alpha=tau), hz.add_(hd, alpha=tau)
        z.add_(d, alpha=alpha)
        hz.add_(hd, alpha=alpha)
        r.add_(hd, alpha=alpha)
        rr_new = float(r @ r)
        if rr_new ** 0.5 <= tol:
            break
        d.mul_(rr_new / rr).sub_(r)
        rr = rr_new
    return z, hz


class TrustRegionNewton(Direction):
    """Newton's model minimised in a trust region by Steihaug's CG (exact HVPs).

    Args:
        trust_radius: the first radius ``Δ₀`` (kept in the state and adapted after).
        max_trust_radius: the largest radius.
        eta: the least ``ρ`` that accepts a step.
        cg_max_iter: CG iterations per step (default ``min(n, 200)``).
        cg_rtol: CG's relative residual (default ``min(0.5, √‖g‖)``, superlinear).
    """

    needs_graph = True
    refuses_complex = True
    state_keys = frozenset({"trust_radius"})

    def __init__(self, trust_radius: float = 1.0, max_trust_radius: float = 1e10,
                 eta: float = 0.15, cg_max_iter: int | None = None,
                 cg_rtol: float | None = None) -> None:
        positive("trust_radius", trust_radius)
        positive("max_trust_radius", max_trust_radius)
        validation.Interval(0.0, GOOD, "left").check("eta", eta)
        if cg_max_iter is not None:
            whole_number("cg_max_iter", cg_max_iter)
        if cg_rtol is not None:
            positive("cg_rtol", cg_rtol)
        self.trust_radius, self.max_trust_radius = float(trust_radius), float(max_trust_radius)
        self.eta, self.cg_max_iter, self.cg_rtol = eta, cg_max_iter, cg_rtol
        self._hp: Tensor | None = None  # H p of the last proposed step

    def hyperparameters(self) -> dict[str, Any]:
        return {"trust_radius": self.trust_radius, "max_trust_radius": self.max_trust_radius,
                "eta": self.eta, "cg_max_iter": self.cg_max_iter, "cg_rtol": self.cg_rtol}

    def _solve(self, p: Point, ctx: Context, radius: float) -> Tensor:
        assert p.grads is not None
        grads = p.grads

        def hvp(v: Tensor) -> Tensor:
            ctx.result.hvp_evals += 1
            return curvature.hvp(ctx.flat, grads, v)

        max_iter = ctx.options["cg_max_iter"] or min(ctx.flat.n, 200)
        step, self._hp = steihaug_cg(p.g, hvp, radius, max_iter, ctx.options["cg_rtol"])
        return step

    def direction(self, p: Point, ctx: Context) -> tuple[Tensor, float]:
        radius = ctx.state.setdefault("trust_radius", ctx.options["trust_radius"])
        return self._solve(p, ctx, radius), 1.0

    def move(self, phi: Phi, p: Point, d: Tensor, t: float, gtd: float, ctx: Context,
             line_search: LineSearch) -> tuple[float, Point]:
        found_finite, bad = False, math.nan
        for _ in range(MAX_LS):
            pt = phi(1.0, d)
            found_finite = found_finite or pt.finite
            bad = bad if pt.finite else pt.f
            if self._judge(p, pt, d, ctx):
                return 1.0, pt
            if ctx.state["trust_radius"] <= torch.finfo(d.dtype).eps * float(p.x.norm()):
                break  # the region no longer moves the parameters
            d = self._solve(p, ctx, ctx.state["trust_radius"])
        if not found_finite:
            raise NonFiniteLossError(
                f"the loss stayed non-finite inside the trust region: last radius "
                f"{ctx.state['trust_radius']:.3e} gave loss {bad}; parameters were left at "
                f"the last point with a finite loss")
        return 0.0, p

    def _judge(self, p: Point, pt: Point, step: Tensor, ctx: Context) -> bool:
        """Adapt the radius by ``ρ``; whether the trial point is accepted."""
        assert self._hp is not None
        predicted = -float(p.g @ step + 0.5 * (step @ self._hp))
        rho = (p.f - pt.f) / predicted if pt.finite and predicted > 0 else -math.inf
        radius, norm = ctx.state["trust_radius"], float(step.norm())
        if rho < POOR:
            radius = SHRINK * min(radius, norm)  # below the step: the next one differs
        elif rho > GOOD and norm >= 0.99 * radius:
            radius = min(GROW * radius, ctx.options["max_trust_radius"])
        ctx.state["trust_radius"] = radius
        return rho > ctx.options["eta"] and pt.f < p.f

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_hp": None}
