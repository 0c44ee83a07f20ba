r"""L-BFGS (SPEC L16): the inverse Hessian implied by the last ``m`` steps.

L-BFGS keeps the pairs ``s_i = w_{i+1} − w_i``, ``y_i = ∇L(w_{i+1}) − ∇L(w_i)`` of the
last ``m = history_size`` iterations and applies the BFGS inverse Hessian they define,
starting from ``H₀ = γ I``, ``γ = sᵀy / yᵀy`` of the newest pair (Nocedal & Wright
eq. 7.20). The textbook evaluates ``H g`` by the two-loop recursion (N&W Alg. 7.4), a
Python loop of ``4m`` dot products. This implementation uses the algebraically identical
compact form (Byrd, Nocedal & Schnabel 1994, Thm. 2.2; N&W §7.2)

    ``H g = γ g + S p + γ Y q``,  ``q = −R⁻¹ Sᵀg``,  ``p = R⁻ᵀ((D + γ YᵀY)(−q) − γ Yᵀg)``

with ``S, Y`` the ``m × n`` histories, ``R`` the upper triangle of ``SᵀY`` and ``D`` its
diagonal: four ``m × n`` matrix-vector products and two ``m × m`` triangular solves,
whatever ``m``. ``SᵀY`` and ``YᵀY`` are kept up to date by three products per new pair,
and the histories are circular buffers (nothing is shifted). The step is ``d = −H g``
with a strong-Wolfe line search; the first step tries ``t = lr · min(1, 1/‖g‖₁)``.
A pair with ``yᵀs ≤ ε yᵀy`` is skipped.

Also accepts ``torch.optim.LBFGS``'s signature, positionally and by keyword:
``LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
tolerance_change=1e-9, history_size=100, line_search_fn=None)`` — except that the line
search defaults to ``"strong_wolfe"`` (pass ``line_search_fn=None`` for torch's fixed step).

Reference: J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., 2006, ch. 7.2;
R. H. Byrd, J. Nocedal, R. B. Schnabel, *Representations of quasi-Newton matrices and
their use in limited memory methods*, Math. Programming 63 (1994).

Example::

    >>> import torch, antigrad
    >>> w = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    >>> opt = antigrad.LBFGS([w], max_iter=100, tolerance_grad=1e-10, tolerance_change=0)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = 100 * (w[1] - w[0] ** 2) ** 2 + (1 - w[0]) ** 2
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> opt.result.reason, torch.allclose(w.detach(), torch.ones(2, dtype=torch.float64))
    ('gradient', True)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .base import SecondOrderOptimizer, common_defaults, positive_int
from .flat import Point
from .result import SolveResult


def compact_inverse_hessian_product(g: Tensor, s: Tensor, y: Tensor, sy: Tensor, yy: Tensor,
                                    order: Tensor, gamma: float) -> Tensor:
    """``H g`` for the L-BFGS matrix of the pairs in rows ``order`` (oldest first) of
    ``s, y``; ``sy[i, j] = s_iᵀ y_j`` and ``yy[i, j] = y_iᵀ y_j`` over all slots."""
    a = torch.mv(s, g)[order]
    b = torch.mv(y, g)[order]
    sy_o = sy[order][:, order]
    r = sy_o.triu()
    u = torch.linalg.solve_triangular(r, a.unsqueeze(1), upper=True).squeeze(1)
    v = sy_o.diagonal() * u + gamma * (torch.mv(yy[order][:, order], u) - b)
    p = torch.linalg.solve_triangular(r.T, v.unsqueeze(1), upper=False).squeeze(1)
    cs = torch.zeros(s.shape[0], dtype=g.dtype, device=g.device)
    cy = torch.zeros_like(cs)
    cs[order] = p
    cy[order] = -gamma * u
    return torch.addmv(torch.addmv(g * gamma, s.T, cs), y.T, cy)


class LBFGS(SecondOrderOptimizer):
    """Limited-memory BFGS with a strong-Wolfe line search.

    Args:
        params: parameters or param groups (all treated as one vector).
        lr: step size tried first along ``d = −H g``.
        max_iter: iterations per ``step()`` (default 20).
        max_eval: closure evaluations per ``step()`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when ``‖g‖∞ ≤ tolerance_grad``.
        tolerance_change: stop when the loss or the parameters change less than this.
        history_size: ``m``, pairs kept (default 100, as torch).
        line_search_fn: ``"strong_wolfe"`` (default), ``"backtracking"`` or ``None``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = "strong_wolfe") -> None:
        positive_int("history_size", history_size)
        defaults = common_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change,
                                   line_search_fn)
        defaults.update(history_size=history_size)
        super().__init__(params, defaults)

    def direction(self, p: Point, state: dict[str, Any], o: dict[str, Any],
                  result: SolveResult) -> tuple[Tensor, float]:
        k = state.get("count", 0)
        if k == 0:
            return p.g.neg(), o["lr"] * min(1.0, 1.0 / float(p.g.abs().sum()))
        m = state["S"].shape[0]
        order = torch.arange(state["head"] - k, state["head"], device=p.g.device) % m
        hg = compact_inverse_hessian_product(p.g, state["S"], state["Y"], state["SY"],
                                             state["YY"], order, state["gamma"])
        return hg.neg_(), o["lr"]

    def remember(self, state: dict[str, Any], s: Tensor, y: Tensor, o: dict[str, Any]) -> None:
        sy, yy = float(s @ y), float(y @ y)
        if not sy > torch.finfo(s.dtype).eps * yy:
            return
        m = o["history_size"]
        if "S" not in state or state["S"].shape != (m, s.numel()):
            self.forget(state)
            state["S"] = s.new_zeros(m, s.numel())
            state["Y"] = s.new_zeros(m, s.numel())
            state["SY"] = s.new_zeros(m, m)
            state["YY"] = s.new_zeros(m, m)
        j = state.get("head", 0)
        big_s, big_y = state["S"], state["Y"]
        big_s[j], big_y[j] = s, y
        state["SY"][j] = torch.mv(big_y, s)
        state["SY"][:, j] = torch.mv(big_s, y)
        yy_col = torch.mv(big_y, y)
        state["YY"][j] = yy_col
        state["YY"][:, j] = yy_col
        state["head"] = (j + 1) % m
        state["count"] = min(state.get("count", 0) + 1, m)
        state["gamma"] = sy / yy

    def forget(self, state: dict[str, Any]) -> None:
        state["count"] = 0
        state["head"] = 0
