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

from . import curvature
from .base import MAX_LS, SecondOrderOptimizer, common_defaults, finite_damping, positive_int
from .flat import Point
from .line_search import Phi
from .result import NonFiniteLossError, SolveResult

MODES = ("exact", "cg")


def shifted_cholesky_solve(h: Tensor, g: Tensor, tau: float) -> tuple[Tensor, float]:
    """Solve ``(H + τ' I) d = −g`` for the least ``τ' ≥ τ`` (doubling) with ``H + τ' I ≻ 0``.

    Takes two ``n × n`` buffers besides ``H`` (the shifted matrix and its factor), reused
    across the doublings."""
    diag = h.diagonal()
    beta = 1e-3 * max(float(diag.abs().mean()), torch.finfo(h.dtype).tiny ** 0.5)
    if float(diag.min()) + tau <= 0:
        tau = -float(diag.min()) + beta
    shifted, factor = torch.empty_like(h), torch.empty_like(h)
    info = torch.empty((), dtype=torch.int32, device=h.device)
    for _ in range(200):
        shifted.copy_(h).diagonal().add_(tau)
        torch.linalg.cholesky_ex(shifted, out=(factor, info))
        if int(info) == 0:
            return -torch.cholesky_solve(g.unsqueeze(1), factor).squeeze(1), tau
        tau = max(2 * tau, beta)
    raise FloatingPointError("Newton: no shift made the Hessian positive definite")


class Newton(SecondOrderOptimizer):
    """Newton's method with a dense Hessian or Hessian-vector products (Newton-CG).

    Args:
        params: parameters or param groups (all treated as one vector).
        lr: first step size tried along ``d`` (``1`` is the Newton step).
        mode: ``"exact"`` (dense Hessian) or ``"cg"`` (Newton-CG, Hessian-vector products).
        damping: ``λ ≥ 0`` added to the Hessian's diagonal (the Levenberg–Marquardt
            start value when ``line_search_fn=None``).
        line_search_fn: ``"backtracking"`` (default), ``"strong_wolfe"``, or ``None``
            for Levenberg–Marquardt damping.
        max_iter, max_eval, tolerance_grad, tolerance_change: stopping rules of one
            ``step()`` (see :mod:`antigrad.second_order.result`).
        cg_max_iter: CG iterations per Newton-CG step (default ``min(n, 200)``).
        max_hessian_bytes: memory a dense Hessian may take (default 1 GiB).
    """

    needs_graph = True
    state_keys = SecondOrderOptimizer.state_keys | {"shift", "lm_damping"}

    def __init__(self, params: Iterable[Any], lr: float = 1.0, *, mode: str = "exact",
                 damping: float = 0.0, line_search_fn: str | None = "backtracking",
                 max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 cg_max_iter: int | None = None, max_hessian_bytes: int = 2**30) -> None:
        if mode not in MODES:
            raise ValueError(f"Invalid mode: {mode!r} (must be 'exact' or 'cg')")
        finite_damping(damping)
        if cg_max_iter is not None:
            positive_int("cg_max_iter", cg_max_iter)
        positive_int("max_hessian_bytes", max_hessian_bytes)
        defaults = common_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change,
                                   line_search_fn)
        defaults.update(mode=mode, damping=damping, cg_max_iter=cg_max_iter,
                        max_hessian_bytes=max_hessian_bytes)
        super().__init__(params, defaults)
        self._flat().refuse_complex()
        self._check_memory(self.param_groups[0])
        self._h: Tensor | None = None

    def _check_memory(self, o: dict[str, Any]) -> None:
        """``H``, ``H + τI`` and its Cholesky factor, plus one batch of the Hessian-vector
        products that build ``H`` (sized by the graph measured at the last evaluation)."""
        if o["mode"] == "exact":
            flat = self._flat()
            curvature.check_dense_memory(
                "Newton(mode='exact')", flat.n, flat.dtype, 3, o["max_hessian_bytes"],
                "Newton(mode='cg') (Hessian-vector products, O(n) memory) or antigrad.LBFGS",
                working=curvature.batch_bytes(flat))

    def direction(self, p: Point, state: dict[str, Any], o: dict[str, Any],
                  result: SolveResult) -> tuple[Tensor, float]:
        flat = self._flat()
        assert p.grads is not None
        if o["mode"] == "cg":
            self._h = None
            return self._cg(flat, p, o, result), o["lr"]
        self._h = None  # free the last Hessian before building the next
        self._check_memory(o)
        self._h = curvature.hessian(flat, p.grads)
        result.hvp_evals += flat.n
        lam = state.get("lm_damping", o["damping"]) if o["line_search_fn"] is None \
            else o["damping"]
        d, state["shift"] = shifted_cholesky_solve(self._h, p.g, lam)
        return d, o["lr"]

    def _cg(self, flat: Any, p: Point, o: dict[str, Any], result: SolveResult) -> Tensor:
        """Truncated CG on ``(H + λI) d = −g`` (N&W Alg. 7.1)."""
        g, lam = p.g, o["damping"]
        gnorm = float(g.norm())
        tol = min(0.5, gnorm ** 0.5) * gnorm
        z = torch.zeros_like(g)
        r, dcg = g.clone(), -g
        rr = float(r @ r)
        for j in range(o["cg_max_iter"] or min(flat.n, 200)):
            bd = curvature.hvp(flat, p.grads, dcg)
            result.hvp_evals += 1
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

    def search(self, phi: Phi, p: Point, d: Tensor, t: float, gtd: float,
               o: dict[str, Any], state: dict[str, Any]) -> tuple[float, Point]:
        if o["line_search_fn"] is not None or self._h is None:
            return super().search(phi, p, d, t, gtd, o, state)
        return self._levenberg_marquardt(phi, p, d, o, state)

    def _levenberg_marquardt(self, phi: Phi, p: Point, d: Tensor, o: dict[str, Any],
                             state: dict[str, Any]) -> tuple[float, Point]:
        h = self._h
        assert h is not None
        # start from the damping that produced d (not a floor above it, which kept the
        # damping from ever falling below 1e-3 max|diag H| on badly scaled problems)
        lam = state["shift"]
        nu, found_finite, bad = 2.0, False, (lam, float("nan"))
        for _ in range(MAX_LS):
            pt = phi(o["lr"], d)
            if torch.equal(pt.x, p.x):  # damped to nothing: the step vanished
                break
            if pt.finite:
                found_finite = True
                if pt.f < p.f:
                    predicted = -float(p.g @ d + 0.5 * d @ (h @ d))
                    rho = (p.f - pt.f) / predicted if predicted > 0 else 0.0
                    state["lm_damping"] = lam * max(1 / 3, 1 - (2 * rho - 1) ** 3)
                    return o["lr"], pt
            else:
                bad = (lam, pt.f)
            lam = lam * nu if lam > 0 else max(1e-3 * float(h.diagonal().abs().max()),
                                               torch.finfo(h.dtype).eps)
            nu *= 2
            d, state["shift"] = shifted_cholesky_solve(h, p.g, lam)
        state["lm_damping"] = lam
        if not found_finite:
            raise NonFiniteLossError(
                f"the loss stayed non-finite along the damped Newton steps: last step size "
                f"tried t={o['lr']} with Levenberg-Marquardt damping {bad[0]:.3e} gave loss "
                f"{bad[1]}; parameters were left at the last point with a finite loss")
        return 0.0, p
