r"""L-BFGS (SPEC L16): the inverse Hessian implied by the last ``m`` steps.

L-BFGS keeps the pairs ``s_i = w_{i+1} − w_i``, ``y_i = ∇L(w_{i+1}) − ∇L(w_i)`` of the
last ``m = history_size`` iterations and applies the BFGS inverse Hessian they define,
starting from ``H₀ = γ I``, ``γ = sᵀy / yᵀy`` of the newest pair (Nocedal & Wright
eq. 7.20). The textbook evaluates ``H g`` by the two-loop recursion (N&W Alg. 7.4), a
Python loop of ``4m`` dot products. This implementation uses the algebraically identical
compact form (Byrd, Nocedal & Schnabel 1994, Thm. 2.2; N&W §7.2)

    ``H g = γ g + S p + γ Y q``,  ``q = −R⁻¹ Sᵀg``,  ``p = R⁻ᵀ((D + γ YᵀY)(−q) − γ Yᵀg)``

with ``S, Y`` the ``k × n`` histories, ``R`` the upper triangle of ``SᵀY`` and ``D`` its
diagonal. The pairs are stored interleaved (``s_0, y_0, s_1, y_1, ...``) in one buffer
with their Gram matrix, so ``H g`` takes two ``2k × n`` matrix-vector products and two
``k × k`` triangular solves — about a dozen tensor operations whatever ``m`` — and a new
pair one ``2k × n × 2`` product. The step is ``d = −H g``
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


def compact_inverse_hessian_product(g: Tensor, z: Tensor, gram: Tensor, gamma: float
                                    ) -> Tensor:
    """``H g`` for the L-BFGS matrix of the pairs ``z = [s_0, y_0, s_1, y_1, ...]``
    (``(2k, n)``, oldest first) with ``gram = z zᵀ``: two ``2k × n`` products."""
    k = z.shape[0] // 2
    ab = torch.mv(z, g).view(k, 2)
    a, b = ab[:, 0], ab[:, 1]
    sy = gram[0::2, 1::2]
    r = sy.triu()
    u = torch.linalg.solve_triangular(r, a.unsqueeze(1), upper=True).squeeze(1)
    v = torch.addmv(torch.mul(sy.diagonal(), u), gram[1::2, 1::2], u, alpha=gamma)
    v.sub_(b, alpha=gamma)
    p = torch.linalg.solve_triangular(r.mT, v.unsqueeze(1), upper=False).squeeze(1)
    coef = torch.stack((p, u.mul_(-gamma)), 1).view(-1)
    return torch.addmv(g, z.T, coef, beta=gamma)


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
        lo, hi = 2 * state["start"], 2 * (state["start"] + k)
        hg = compact_inverse_hessian_product(p.g, state["pairs"][lo:hi],
                                             state["gram"][lo:hi, lo:hi], state["gamma"])
        return hg.neg_(), o["lr"]

    def remember(self, state: dict[str, Any], s: Tensor, y: Tensor, o: dict[str, Any]) -> None:
        """Append ``(s, y)`` to a window of the last ``m`` pairs in a ``2m``-pair buffer.

        The window stays contiguous and oldest-first; when it reaches the buffer's end it
        is copied to the front (once every ``m`` pairs, so ``O(n)`` per pair amortised).
        """
        m = o["history_size"]
        if "pairs" not in state or state["pairs"].shape != (4 * m, s.numel()):
            state["pairs"] = s.new_zeros(4 * m, s.numel())  # rows s_0, y_0, s_1, y_1, ...
            state["gram"] = s.new_zeros(4 * m, 4 * m)  # pairs @ pairs.T on the window
            state["start"] = state["count"] = 0
        z, gram = state["pairs"], state["gram"]
        start, k = state["start"], state["count"]
        if k == m:  # drop the oldest pair
            start, k = start + 1, k - 1
        if start + k == 2 * m:  # window at the end of the buffer: move it to the front
            lo, hi = 2 * start, 2 * (start + k)
            z[: hi - lo] = z[lo:hi].clone()
            gram[: hi - lo, : hi - lo] = gram[lo:hi, lo:hi].clone()
            start = 0
        j = 2 * (start + k)
        z[j], z[j + 1] = s, y
        cross = torch.mm(z[2 * start: j + 2], z[j: j + 2].T)  # new pair against the window
        sy, yy = cross[-2:, 1].tolist()
        if not sy > torch.finfo(s.dtype).eps * yy:  # skip: written past the window, unused
            return
        gram[2 * start: j + 2, j: j + 2] = cross
        gram[j: j + 2, 2 * start: j + 2] = cross.T
        state["start"], state["count"], state["gamma"] = start, k + 1, sy / yy

    def forget(self, state: dict[str, Any]) -> None:
        state["count"] = 0
        state["start"] = 0
