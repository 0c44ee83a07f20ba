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
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .base import SecondOrderOptimizer
from .direction import Context, Direction, check_shape
from .flat import Point
from .lbfgs_state import TORCH_KEYS, export_state, import_state
from .line_search import FixedStep, LineSearch, line_search_from
from .options import common_defaults, whole_number
from .stopping import TorchTolerances


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


class LBFGSDirection(Direction):
    """``d = −H g`` for the L-BFGS matrix of the last ``history_size`` pairs (compact form).

    ``torch_rule`` follows ``torch.optim.LBFGS`` without a line search: the first step
    ``lr · min(1, 1/‖g‖₁)`` on the very first iteration only, ``H₀ = γ I`` kept after a
    restart, and a pair kept when ``yᵀs > 10⁻¹⁰``; otherwise the first step after every
    restart is shortened and a pair is kept when ``yᵀs > ε yᵀy``.
    """

    state_keys = TORCH_KEYS | {"pairs", "gram", "start", "count", "gamma", "history_at"}

    def __init__(self, history_size: int = 100, torch_rule: bool = False) -> None:
        whole_number("history_size", history_size)
        self.history_size, self.torch_rule = history_size, torch_rule

    def hyperparameters(self) -> dict[str, Any]:
        return {"history_size": self.history_size}

    def check_state(self, owner: str, st: dict[str, Any], n: int) -> None:
        for key in ("old_dirs", "old_stps"):
            for v in st.get(key) or []:
                if not isinstance(v, Tensor) or v.numel() != n:
                    check_shape(owner, {key: v}, key, (n,))
        for key in ("d", "prev_flat_grad"):
            if isinstance(st.get(key), Tensor):
                check_shape(owner, st, key, (n,))
        pairs = st.get("pairs")
        if pairs is not None:
            check_shape(owner, st, "pairs", (pairs.shape[0], n))

    def resume(self, ctx: Context, p: Point) -> None:
        """Learn the pair still pending in a torch checkpoint (torch adds the last step's
        pair at the start of the next ``step()``)."""
        state = ctx.state
        if "d" in state:
            d, t, prev = state.pop("d"), state.pop("t"), state.pop("prev_flat_grad")
            self.remember(ctx, d.mul(float(t)), p.g - prev)

    def direction(self, p: Point, ctx: Context) -> tuple[Tensor, float]:
        state, lr = ctx.state, ctx.options["lr"]
        k = state.get("count", 0)
        if self.torch_rule:  # torch: min(1, 1/|g|_1) on the very first iteration only
            t = lr if state.get("n_iter", 0) else first_step(p.g, lr)
        else:
            t = first_step(p.g, lr) if k == 0 else lr
        if k == 0:
            return p.g.mul(-state.get("gamma", 1.0) if self.torch_rule else -1.0), t
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

    def remember(self, ctx: Context, s: Tensor, y: Tensor) -> None:
        """Put ``(s, y)`` in the ring of the last ``m`` pairs (over the oldest when full)."""
        state = ctx.state
        sy, yy = float(s @ y), float(y @ y)
        keep = sy > 1e-10 if self.torch_rule else sy > torch.finfo(s.dtype).eps * yy
        if not keep:  # would spoil positive definiteness
            return
        m = ctx.options["history_size"]
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

    def forget(self, ctx: Context) -> None:
        ctx.state["count"] = 0
        ctx.state["start"] = 0


class LBFGS(SecondOrderOptimizer, torch.optim.LBFGS):
    r"""Limited-memory BFGS, with ``torch.optim.LBFGS``'s signature and defaults.

    .. math::
        d = -H g,\quad w \leftarrow w + \alpha d

    with :math:`H g` computed by the two-loop recursion from the last ``history_size``
    pairs :math:`(\Delta w, \Delta g)` of weight and gradient changes. Without a line
    search :math:`\alpha = \varepsilon` (``lr``), on the very first iteration
    :math:`\varepsilon \min(1, 1/\|g\|_1)`, as torch; with one, the step it accepts.
    State layout and stopping rules are torch's
    (:class:`~antigrad.second_order.stopping.TorchTolerances`).

    Args:
        params: parameters or param groups (all treated as one vector).
        lr: step size tried first along ``d = −H g`` (a float or a one-element tensor).
        max_iter: iterations per ``step()`` (default 20).
        max_eval: closure evaluations per ``step()`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when ``‖g‖∞ ≤ tolerance_grad`` (negative: never).
        tolerance_change: stop when the loss or the parameters change less than this.
        history_size: ``m``, pairs kept (default 100, as torch).
        line_search_fn: ``None`` (default, torch's fixed step), ``"strong_wolfe"``
            (recommended), ``"backtracking"`` or a LineSearch object.

    Non-finite values are not checked, as in torch (``nonfinite="ignore"``); set
    ``opt.nonfinite = "raise"`` or ``"skip"`` for the checks of
    :class:`SecondOrderOptimizer` (the signature stays torch's).

    Example::

        >>> import torch, antigrad
        >>> def five_iterations(optimizer_class):  # on Rosenbrock, from (-1.2, 1)
        ...     w = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
        ...     opt = optimizer_class([w], max_iter=5)
        ...     def closure():
        ...         opt.zero_grad()
        ...         loss = 100 * (w[1] - w[0] ** 2) ** 2 + (1 - w[0]) ** 2
        ...         loss.backward()
        ...         return loss
        ...     opt.step(closure)
        ...     return w.detach()
        >>> torch.allclose(five_iterations(antigrad.LBFGS), five_iterations(torch.optim.LBFGS))
        True

    Reference: lecture L16; Liu & Nocedal, Math. Programming 45 (1989); Nocedal & Wright,
    Alg. 7.4 and 7.5; torch.optim.LBFGS's documentation.
    """

    default_nonfinite = "ignore"

    def __init__(self, params: Iterable[Any], lr: float | Tensor = 1.0, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | LineSearch | None = None) -> None:
        search = line_search_from(line_search_fn)
        direction = LBFGSDirection(history_size, torch_rule=isinstance(search, FixedStep))
        defaults = common_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change,
                                   signed_tolerances=True)
        defaults.update(line_search_fn=line_search_fn)
        self._assemble(params, direction, search, defaults, None, TorchTolerances())
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
                             torch_rule=self.descent.torch_rule)


def first_step(g: Tensor, lr: float) -> float:
    """torch's first step ``lr · min(1, 1/‖g‖₁)``, with ``1/‖g‖₁`` in ``g``'s precision."""
    inv = 1.0 / g.abs().sum()
    return float(inv * lr) if inv < 1.0 else lr
