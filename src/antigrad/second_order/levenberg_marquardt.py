r"""Levenberg–Marquardt damping of Newton's step: ``Newton(line_search_fn=None)``.

A trial step ``d = −(H + λ I)⁻¹ g`` is accepted only if the loss falls; ``λ`` shrinks
after a good step and grows (×2, ×4, ...) after a rejected one, by the gain ratio
``ρ = (L(w) − L(w + d)) / −(gᵀd + ½ dᵀ H d)`` (Nielsen's rule, Madsen, Nielsen &
Tingleff, *Methods for non-linear least squares problems*, 2004). The update starts from
the damping that produced the step (a floor above it, ``1e-3·max|diag H|``, kept the
damping from ever falling low enough on badly scaled problems).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .direction import Context
from .flat import Point
from .line_search import MAX_LS
from .newton_direction import NewtonDirection, shifted_cholesky_solve
from .result import NonFiniteLossError

if TYPE_CHECKING:
    from .line_search import LineSearch, Phi


class LevenbergMarquardt(NewtonDirection):
    """Newton's step damped by ``λ``, adapted by the gain ratio; no line search."""

    def damping_now(self, ctx: Context) -> float:
        return ctx.state.get("lm_damping", ctx.options["damping"])

    def move(self, phi: Phi, p: Point, d: Tensor, t: float, gtd: float, ctx: Context,
             line_search: LineSearch) -> tuple[float, Point]:
        h, state, lr = self._h, ctx.state, ctx.options["lr"]
        assert h is not None
        lam = state["shift"]
        nu, found_finite, bad = 2.0, False, (lam, float("nan"))
        for _ in range(MAX_LS):
            pt = phi(lr, d)
            if torch.equal(pt.x, p.x):  # damped to nothing: the step vanished
                break
            if pt.finite:
                found_finite = True
                if pt.f < p.f:
                    predicted = -float(p.g @ d + 0.5 * d @ (h @ d))
                    rho = (p.f - pt.f) / predicted if predicted > 0 else 0.0
                    state["lm_damping"] = lam * max(1 / 3, 1 - (2 * rho - 1) ** 3)
                    return lr, pt
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
                f"tried t={lr} with Levenberg-Marquardt damping {bad[0]:.3e} gave loss "
                f"{bad[1]}; parameters were left at the last point with a finite loss")
        return 0.0, p
