r"""Newton's method (SPEC L15): exact, damped, line-searched, or Newton-CG.

From ``0 = ∇L(w*) ≈ ∇L(w) + ∇²L(w)(w* − w)`` the Newton step solves
``H d = −g`` with ``H = ∇²L(w)``, ``g = ∇L(w)``, and moves ``w ← w + t d``. On a
quadratic with ``H ≻ 0``, one step with ``t = 1`` lands on the minimum.

Away from a minimum ``H`` may be indefinite and ``d`` may point uphill, so:

* ``mode="exact"`` (default) forms the dense Hessian (``n`` batched Hessian-vector
  products, :mod:`.curvature`) and solves ``(H + τ I) d = −g`` by Cholesky, with
  ``τ = damping`` raised (doubling from ``β = 10⁻³·mean|diag H|``) until ``H + τ I ≻ 0``
  (Nocedal & Wright, Alg. 3.3, "Cholesky with added multiple of the identity"), so ``d``
  is a descent direction. Then a line search (``line_search_fn``, default Armijo
  backtracking from ``t = lr``) makes every step go downhill.
* ``line_search_fn=None`` instead damps à la Levenberg–Marquardt: a trial step
  ``d = −(H + λ I)⁻¹ g`` is accepted only if the loss falls; ``λ`` shrinks after a good
  step and grows (×2, ×4, ...) after a rejected one, by the gain ratio
  ``ρ = (L(w) − L(w + d)) / −(gᵀd + ½ dᵀ H d)`` (Nielsen's rule, Madsen, Nielsen &
  Tingleff, *Methods for non-linear least squares problems*, 2004).
* ``mode="cg"`` never forms ``H``: truncated conjugate gradients on ``H d = −g`` with
  Hessian-vector products, stopped at relative residual ``min(0.5, √‖g‖)`` or at
  negative curvature (N&W Alg. 7.1, "line search Newton-CG"). ``O(n)`` memory: for models
  too large for a dense Hessian.
* ``mode="trust_region"``: Newton-CG inside a trust region (Steihaug's CG, N&W Alg. 7.2),
  :class:`~antigrad.second_order.trust_region.TrustRegionNewton`; no line search.

Each mode is a :class:`~antigrad.second_order.direction.Direction` object
(:class:`NewtonDirection`, :class:`NewtonCG`,
:class:`~antigrad.second_order.levenberg_marquardt.LevenbergMarquardt`,
:class:`~antigrad.second_order.trust_region.TrustRegionNewton`), chosen once at
construction; ``SecondOrderOptimizer`` takes them directly.

The dense Hessian of ``n`` parameters takes ``~3 n²`` numbers (``H``, ``H + τI`` and its
factor); above ``max_hessian_bytes`` the optimizer refuses before allocating and says
to use ``mode="cg"`` or :class:`~antigrad.LBFGS`.

Reference: J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006,
ch. 3.4 and 7.1.

Example::

    >>> import torch, antigrad
    >>> A = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> b = torch.tensor([1.0, -1.0], dtype=torch.float64)
    >>> w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    >>> opt = antigrad.Newton([w], max_iter=1)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = 0.5 * w @ A @ w - b @ w
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> torch.allclose(w.detach(), torch.linalg.solve(A, b))
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .. import validation
from . import curvature
from .base import SecondOrderOptimizer
from .direction import Context, Direction
from .flat import FlatParams, Point
from .levenberg_marquardt import LevenbergMarquardt
from .line_search import LineSearch
from .newton_direction import NewtonDirection, shifted_cholesky_solve  # noqa: F401
from .options import common_defaults, finite_damping, whole_number
from .trust_region import TrustRegionNewton

MODES = ("exact", "cg", "trust_region")


class NewtonCG(Direction):
    """Truncated CG on ``(H + λI) d = −g`` with Hessian-vector products (N&W Alg. 7.1),
    stopped at relative residual ``min(0.5, √‖g‖)`` or at negative curvature."""

    needs_graph = True
    refuses_complex = True
    state_keys = NewtonDirection.state_keys

    def __init__(self, damping: float = 0.0, cg_max_iter: int | None = None) -> None:
        finite_damping(damping)
        if cg_max_iter is not None:
            whole_number("cg_max_iter", cg_max_iter)
        self.damping, self.cg_max_iter = damping, cg_max_iter

    def hyperparameters(self) -> dict[str, Any]:
        return {"damping": self.damping, "cg_max_iter": self.cg_max_iter}

    def direction(self, p: Point, ctx: Context) -> tuple[Tensor, float]:
        return truncated_cg(ctx.flat, p, ctx.options["damping"],
                            ctx.options["cg_max_iter"] or min(ctx.flat.n, 200), ctx), \
            ctx.options["lr"]


def truncated_cg(flat: FlatParams, p: Point, lam: float, max_iter: int, ctx: Context) -> Tensor:
    """Truncated CG on ``(H + λI) d = −g`` (N&W Alg. 7.1)."""
    assert p.grads is not None
    g = p.g
    gnorm = float(g.norm())
    tol = min(0.5, gnorm ** 0.5) * gnorm
    z = torch.zeros_like(g)
    r, dcg = g.clone(), -g
    rr = float(r @ r)
    for j in range(max_iter):
        bd = curvature.hvp(flat, p.grads, dcg)
        ctx.result.hvp_evals += 1
        if lam:
            bd.add_(dcg, alpha=lam)
        dbd = float(dcg @ bd)
        if dbd <= 0:  # negative curvature: stop (steepest descent if at the start)
            return -g if j == 0 else z
        alpha = rr / dbd
        z.add_(dcg, alpha=alpha)
        r.add_(bd, alpha=alpha)
        rr_new = float(r @ r)
        if rr_new ** 0.5 < tol:
            break
        dcg.mul_(rr_new / rr).sub_(r)
        rr = rr_new
    return z


def newton_direction(mode: str, line_search_fn: str | LineSearch | None, damping: float,
                     cg_max_iter: int | None, max_hessian_bytes: int,
                     trust_radius: float) -> Direction:
    """The Direction object ``Newton``'s options name (chosen once, at construction)."""
    if mode == "cg":
        return NewtonCG(damping, cg_max_iter)
    if mode == "trust_region":
        return TrustRegionNewton(trust_radius=trust_radius, cg_max_iter=cg_max_iter)
    if line_search_fn is None:
        return LevenbergMarquardt(damping, max_hessian_bytes)
    return NewtonDirection(damping, max_hessian_bytes)


class Newton(SecondOrderOptimizer):
    r"""Newton's method with a dense Hessian or Hessian-vector products (Newton-CG).

    .. math::
        (\nabla^2 L(w) + \tau I)\, d = -g,\quad w \leftarrow w + \alpha d

    with :math:`\tau \ge` ``damping`` raised until the matrix is positive definite
    (``"exact"``, by Cholesky), or :math:`d` from truncated conjugate gradients (``"cg"``)
    or a Steihaug-CG trust region (``"trust_region"``, which sets :math:`\alpha = 1`
    and moves within the radius). :math:`\alpha` is the step the line search accepts,
    :math:`\varepsilon` (``lr``) the first one it tries.

    Args:
        params: parameters or param groups (all treated as one vector).
        lr: first step size tried along ``d`` (``1`` is the Newton step).
        mode: ``"exact"`` (dense Hessian), ``"cg"`` (Newton-CG, Hessian-vector products)
            or ``"trust_region"`` (Steihaug-CG trust region, Hessian-vector products).
        damping: ``λ ≥ 0`` added to the Hessian's diagonal (the Levenberg–Marquardt
            start value when ``line_search_fn=None``).
        line_search_fn: ``"backtracking"`` (default), ``"strong_wolfe"``, ``None``
            for Levenberg–Marquardt damping, or a LineSearch object (not used by the
            trust region).
        max_iter, max_eval, tolerance_grad, tolerance_change: stopping rules of one
            ``step()`` (see :mod:`antigrad.second_order.stopping`).
        cg_max_iter: CG iterations per Newton-CG or trust-region step (default
            ``min(n, 200)``).
        max_hessian_bytes: memory a dense Hessian may take (default 1 GiB).
        trust_radius: the first trust-region radius (``mode="trust_region"``).
        nonfinite: ``"raise"`` (default), ``"skip"`` or ``"ignore"``
            (see :class:`SecondOrderOptimizer`).

    Example::

        >>> import torch, antigrad
        >>> w = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
        >>> opt = antigrad.Newton([w], max_iter=100)
        >>> _ = opt.step(lambda: 100 * (w[1] - w[0] ** 2) ** 2 + (1 - w[0]) ** 2)
        >>> opt.result.reason, torch.allclose(w.detach(), torch.ones(2).double())
        ('gradient', True)

    Reference: lecture L15; Nocedal & Wright, "Numerical Optimization", 2nd ed. (2006), Alg. 3.3,
    7.1 (Newton-CG) and 7.2 (Steihaug-CG).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, *, mode: str = "exact",
                 damping: float = 0.0, line_search_fn: str | LineSearch | None = "backtracking",
                 max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 cg_max_iter: int | None = None, max_hessian_bytes: int = 2**30,
                 trust_radius: float = 1.0, nonfinite: str | None = None) -> None:
        validation.one_of("mode", mode, MODES)
        whole_number("max_hessian_bytes", max_hessian_bytes)
        finite_damping(damping)
        if cg_max_iter is not None:
            whole_number("cg_max_iter", cg_max_iter)
        direction = newton_direction(mode, line_search_fn, damping, cg_max_iter,
                                     max_hessian_bytes, trust_radius)
        defaults = common_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change)
        defaults.update(mode=mode, damping=damping, cg_max_iter=cg_max_iter,
                        max_hessian_bytes=max_hessian_bytes, line_search_fn=line_search_fn)
        self._assemble(params, direction, line_search_fn, defaults, nonfinite, None)
