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
The step is ``d = −H g``; with a line search the first step tries
``t = lr · min(1, 1/‖g‖₁)`` and a pair with ``yᵀs ≤ ε yᵀy`` is skipped.

A drop-in for ``torch.optim.LBFGS`` (and an instance of it): the same signature,
positionally and by keyword, and the same defaults, ``LBFGS(params, lr=1, max_iter=20,
max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9, history_size=100,
line_search_fn=None)``. With ``line_search_fn=None`` it follows torch's rules (fixed step
``t = lr``, the first one ``lr · min(1, 1/‖g‖₁)``; a pair is kept if ``yᵀs > 10⁻¹⁰``) and
gives torch's iterates to rounding; its ``state_dict`` is torch's layout, so checkpoints
move both ways. ``line_search_fn="strong_wolfe"`` is recommended: a fixed step of 1 can
overshoot, the line search cannot.

Reference: J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., 2006, ch. 7.2;
R. H. Byrd, J. Nocedal, R. B. Schnabel, *Representations of quasi-Newton matrices and
their use in limited memory methods*, Math. Programming 63 (1994).

Example::

    >>> import torch, antigrad
    >>> w = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    >>> opt = antigrad.LBFGS([w], max_iter=100, tolerance_grad=1e-10, tolerance_change=0,
    ...                      line_search_fn="strong_wolfe")
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
from .lbfgs_state import TORCH_KEYS, export_state, import_state
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


class LBFGS(SecondOrderOptimizer, torch.optim.LBFGS):
    """Limited-memory BFGS; ``torch.optim.LBFGS``'s signature, defaults and state layout.

    Args:
        params: parameters or param groups (all treated as one vector).
        lr: step size tried first along ``d = −H g`` (a float or a one-element tensor).
        max_iter: iterations per ``step()`` (default 20).
        max_eval: closure evaluations per ``step()`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when ``‖g‖∞ ≤ tolerance_grad`` (negative: never).
        tolerance_change: stop when the loss or the parameters change less than this.
        history_size: ``m``, pairs kept (default 100, as torch).
        line_search_fn: ``None`` (default, torch's fixed step), ``"strong_wolfe"``
            (recommended) or ``"backtracking"``.
    """

    state_keys = SecondOrderOptimizer.state_keys | TORCH_KEYS | {
        "pairs", "gram", "start", "count", "gamma", "history_at"}

    def __init__(self, params: Iterable[Any], lr: float | Tensor = 1.0, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        positive_int("history_size", history_size)
        defaults = common_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change,
                                   line_search_fn, signed_tolerances=True)
        defaults.update(history_size=history_size)
        super().__init__(params, defaults)
        self._params = self._flat().params  # torch.optim.LBFGS's attributes
        self._numel_cache = None

    # -- checkpoints: torch.optim.LBFGS's layout ---------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """torch.optim.LBFGS's ``state_dict`` (history as ``old_dirs``/``old_stps``), plus
        the Gram matrix so a reload continues bit for bit."""
        sd = super().state_dict()
        flat = self._flat()
        like = torch.empty(flat.n, dtype=flat.dtype, device=flat.device)
        sd["state"] = {i: export_state(st, like) if isinstance(st, dict) and "n_iter" in st
                       else st
                       for i, st in sd["state"].items()}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state_dict of this class or of ``torch.optim.LBFGS``."""
        super().load_state_dict(state_dict)
        o = self._options()
        for st in self.state.values():
            if isinstance(st, dict):
                    import_state(st, o["history_size"], self._flat().n,
                             torch_rule=o["line_search_fn"] is None)

    def check_state(self, st: dict[str, Any]) -> None:
        n = self._flat().n
        for key in ("old_dirs", "old_stps"):
            for v in st.get(key) or []:
                if not isinstance(v, Tensor) or v.numel() != n:
                    self._check_shape({key: v}, key, (n,))
        for key in ("d", "prev_flat_grad"):
            if isinstance(st.get(key), Tensor):
                self._check_shape(st, key, (n,))
        pairs = st.get("pairs")
        if pairs is not None:
            self._check_shape(st, "pairs", (pairs.shape[0], n))

    # -- the method ----------------------------------------------------------------------
    def resume(self, state: dict[str, Any], p: Point, o: dict[str, Any]) -> None:
        """Learn the pair still pending in a torch checkpoint (torch adds the last step's
        pair at the start of the next ``step()``)."""
        if "d" in state:
            d, t, prev = state.pop("d"), state.pop("t"), state.pop("prev_flat_grad")
            self.remember(state, d.mul(float(t)), p.g - prev, o)

    def direction(self, p: Point, state: dict[str, Any], o: dict[str, Any],
                  result: SolveResult) -> tuple[Tensor, float]:
        k, torch_rule = state.get("count", 0), o["line_search_fn"] is None
        if torch_rule:  # torch: min(1, 1/|g|_1) on the very first iteration only
            t = o["lr"] if state.get("n_iter", 0) else first_step(p.g, o["lr"])
        else:
            t = first_step(p.g, o["lr"]) if k == 0 else o["lr"]
        if k == 0:
            return p.g.mul(-state.get("gamma", 1.0) if torch_rule else -1.0), t
        start, rows = state["start"], 2 * k
        order = None
        if start:  # the ring has wrapped: oldest pair at slot `start`
            slots = (torch.arange(k, device=p.g.device) + start) % k
            order = torch.stack((2 * slots, 2 * slots + 1), 1).view(-1)
        hg = compact_inverse_hessian_product(p.g, state["pairs"][:rows],
                                             state["gram"][:rows, :rows], state["gamma"],
                                             order)
        return hg.neg_(), t

    def step_taken(self, new: Point, x0: Tensor, d: Tensor, t: float) -> Tensor:
        return d.mul(t)  # as torch: s = t d, not the rounded difference of the iterates

    def remember(self, state: dict[str, Any], s: Tensor, y: Tensor, o: dict[str, Any]) -> None:
        """Put ``(s, y)`` in the ring of the last ``m`` pairs (over the oldest when full)."""
        sy, yy = float(s @ y), float(y @ y)
        keep = sy > 1e-10 if o["line_search_fn"] is None else sy > torch.finfo(s.dtype).eps * yy
        if not keep:  # would spoil positive definiteness
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


def first_step(g: Tensor, lr: float) -> float:
    """torch's first step ``lr · min(1, 1/‖g‖₁)``, with ``1/‖g‖₁`` in ``g``'s precision."""
    inv = 1.0 / g.abs().sum()
    return float(inv * lr) if inv < 1.0 else lr
