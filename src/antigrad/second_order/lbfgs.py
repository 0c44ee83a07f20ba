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
pair one ``2k × n × 2`` product. The buffer holds exactly ``m`` pairs (``2mn`` numbers, as
the two lists of ``torch.optim.LBFGS`` at full history) as a ring: a new pair overwrites
the oldest, and only the ``2k × 2k`` Gram matrix is read in chronological order.
The step is ``d = −H g`` with a strong-Wolfe line search; the first step tries
``t = lr · min(1, 1/‖g‖₁)``. A pair with ``yᵀs ≤ ε yᵀy`` is skipped.

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


def compact_inverse_hessian_product(g: Tensor, z: Tensor, gram: Tensor, gamma: float,
                                    order: Tensor | None = None) -> Tensor:
    """``H g`` for the L-BFGS matrix of the pairs ``z = [s_0, y_0, s_1, y_1, ...]``
    (``(2k, n)``) with ``gram = z zᵀ``: two ``2k × n`` products. The pairs are oldest
    first, or in the row order ``order`` (a permutation of ``range(2k)``) if given."""
    k = z.shape[0] // 2
    ab = torch.mv(z, g)
    if order is not None:
        ab, gram = ab[order], gram[order][:, order]
    ab = ab.view(k, 2)
    a, b = ab[:, 0], ab[:, 1]
    sy = gram[0::2, 1::2]
    r = sy.triu()
    u = torch.linalg.solve_triangular(r, a.unsqueeze(1), upper=True).squeeze(1)
    v = torch.addmv(torch.mul(sy.diagonal(), u), gram[1::2, 1::2], u, alpha=gamma)
    v.sub_(b, alpha=gamma)
    p = torch.linalg.solve_triangular(r.mT, v.unsqueeze(1), upper=False).squeeze(1)
    coef = torch.stack((p, u.mul_(-gamma)), 1).view(-1)
    if order is not None:
        coef = torch.empty_like(coef).index_copy_(0, order, coef)
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

    state_keys = SecondOrderOptimizer.state_keys | {"pairs", "gram", "start", "count", "gamma"}

    def __init__(self, params: Iterable[Any], lr: float = 1.0, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = "strong_wolfe") -> None:
        positive_int("history_size", history_size)
        defaults = common_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change,
                                   line_search_fn)
        defaults.update(history_size=history_size)
        super().__init__(params, defaults)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        m = self.param_groups[0]["history_size"]
        for st in self.state.values():
            if "pairs" in st and st["pairs"].shape[0] != 2 * m:
                self._to_ring(st, m)

    @staticmethod
    def _to_ring(st: dict[str, Any], m: int) -> None:
        """Move a history kept as a window ``[start, start + count)`` of a larger buffer
        (the layout before the ring) into a ring of ``m`` pairs, oldest first."""
        lo, k = 2 * st["start"], min(st["count"], m)
        hi = lo + 2 * st["count"]
        pairs, gram = st["pairs"][hi - 2 * k: hi], st["gram"][hi - 2 * k: hi, hi - 2 * k: hi]
        st["pairs"] = pairs.new_empty(2 * m, pairs.shape[1])
        st["pairs"][: 2 * k] = pairs
        st["gram"] = gram.new_zeros(2 * m, 2 * m)
        st["gram"][: 2 * k, : 2 * k] = gram
        st["start"], st["count"] = 0, k

    def check_state(self, st: dict[str, Any]) -> None:
        pairs = st.get("pairs")
        if pairs is not None:
            self._check_shape(st, "pairs", (pairs.shape[0], self._flat().n))

    def direction(self, p: Point, state: dict[str, Any], o: dict[str, Any],
                  result: SolveResult) -> tuple[Tensor, float]:
        k = state.get("count", 0)
        if k == 0:
            return p.g.neg(), o["lr"] * min(1.0, 1.0 / float(p.g.abs().sum()))
        start, rows = state["start"], 2 * k
        order = None
        if start:  # the ring has wrapped: oldest pair at slot `start`
            slots = (torch.arange(k, device=p.g.device) + start) % k
            order = torch.stack((2 * slots, 2 * slots + 1), 1).view(-1)
        hg = compact_inverse_hessian_product(p.g, state["pairs"][:rows],
                                             state["gram"][:rows, :rows], state["gamma"],
                                             order)
        return hg.neg_(), o["lr"]

    def remember(self, state: dict[str, Any], s: Tensor, y: Tensor, o: dict[str, Any]) -> None:
        """Put ``(s, y)`` in the ring of the last ``m`` pairs (over the oldest when full)."""
        sy, yy = float(s @ y), float(y @ y)
        if not sy > torch.finfo(s.dtype).eps * yy:  # skip: would spoil positive definiteness
            return
        m = o["history_size"]
        if "pairs" not in state or state["pairs"].shape != (2 * m, s.numel()):
            # empty, not zeros: on CPU the pages of unused rows are never touched
            state["pairs"] = s.new_empty(2 * m, s.numel())  # rows s_0, y_0, s_1, y_1, ...
            state["gram"] = s.new_zeros(2 * m, 2 * m)  # pairs @ pairs.T, in slot order
            state["start"] = state["count"] = 0
        z, gram, start, k = state["pairs"], state["gram"], state["start"], state["count"]
        if k == m:  # full: overwrite the oldest
            j, start = 2 * start, (start + 1) % m
        else:
            j, k = 2 * k, k + 1
        z[j], z[j + 1] = s, y
        rows = 2 * k
        cross = torch.mm(z[:rows], z[j: j + 2].T)  # the new pair against every kept one
        gram[:rows, j: j + 2] = cross
        gram[j: j + 2, :rows] = cross.T
        state["start"], state["count"], state["gamma"] = start, k, sy / yy
    def forget(self, state: dict[str, Any]) -> None:
        state["count"] = 0
        state["start"] = 0
