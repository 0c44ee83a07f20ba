r"""BFGS (SPEC L16): a dense inverse-Hessian approximation, strong-Wolfe line search.

With ``s = w_{k+1} − w_k``, ``y = ∇L(w_{k+1}) − ∇L(w_k)`` and ``ρ = 1 / yᵀs``, the
inverse Hessian approximation is updated by (Nocedal & Wright eq. 6.17)

    ``H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ``

computed as three rank-one updates (``O(n²)``, no ``n × n`` products), and the step is
``d = −H g`` with a strong-Wolfe line search (``c1 = 10⁻⁴``, ``c2 = 0.9``), which keeps
``yᵀs > 0`` and so ``H ≻ 0``. ``H₀ = I``; before the first update it is rescaled to
``(yᵀs / yᵀy) I`` (N&W eq. 6.20). The first step tries ``t = lr · min(1, 1/‖g‖₁)``,
later ones ``t = lr``. A pair with ``yᵀs ≤ ε yᵀy`` is skipped.

``H`` takes ``n²`` numbers; above ``max_hessian_bytes`` (with room for a temporary) the
optimizer refuses before allocating and points to :class:`~antigrad.LBFGS`.

Reference: J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., 2006, ch. 6.1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from . import curvature
from .base import SecondOrderOptimizer
from .direction import Context, Direction, check_shape
from .flat import FlatParams, Point
from .line_search import LineSearch
from .options import common_defaults, whole_number


class BFGSDirection(Direction):
    """``d = −H g`` with the dense BFGS inverse-Hessian approximation ``H``."""

    state_keys = frozenset({"inv_hessian"})

    def __init__(self, max_hessian_bytes: int = 2**30) -> None:
        whole_number("max_hessian_bytes", max_hessian_bytes)
        self.max_hessian_bytes = max_hessian_bytes

    def hyperparameters(self) -> dict[str, Any]:
        return {"max_hessian_bytes": self.max_hessian_bytes}

    def setup(self, flat: FlatParams, options: dict[str, Any]) -> None:
        curvature.check_dense_memory("BFGS", flat.n, flat.dtype, 2,
                                     options["max_hessian_bytes"],
                                     "antigrad.LBFGS (O(history_size * n) memory)")

    def check_state(self, owner: str, st: dict[str, Any], n: int) -> None:
        check_shape(owner, st, "inv_hessian", (n, n))

    def direction(self, p: Point, ctx: Context) -> tuple[Tensor, float]:
        h = ctx.state.get("inv_hessian")
        if h is None:
            return p.g.neg(), ctx.options["lr"] * min(1.0, 1.0 / float(p.g.abs().sum()))
        return torch.mv(h, p.g).neg_(), ctx.options["lr"]

    def remember(self, ctx: Context, s: Tensor, y: Tensor) -> None:
        sy, yy = float(s @ y), float(y @ y)
        if not sy > torch.finfo(s.dtype).eps * yy:
            return
        h = ctx.state.get("inv_hessian")
        if h is None:
            self.setup(ctx.flat, ctx.options)
            h = torch.eye(s.numel(), dtype=s.dtype, device=s.device).mul_(sy / yy)
            ctx.state["inv_hessian"] = h
        rho = 1.0 / sy
        hy = torch.mv(h, y)
        h.addr_(s, s, alpha=rho * rho * float(y @ hy) + rho)
        h.addr_(hy, s, alpha=-rho)
        h.addr_(s, hy, alpha=-rho)

    def forget(self, ctx: Context) -> None:
        ctx.state.pop("inv_hessian", None)


class BFGS(SecondOrderOptimizer):
    r"""Broyden–Fletcher–Goldfarb–Shanno with a dense inverse Hessian.

    .. math::
        d = -H g,\quad w \leftarrow w + \alpha d,\quad
        H \leftarrow (I - \rho\, \Delta w\, \Delta g^\top) H (I - \rho\, \Delta g\, \Delta w^\top)
        + \rho\, \Delta w\, \Delta w^\top,\quad \rho = 1 / (\Delta g^\top \Delta w)

    with :math:`\Delta w, \Delta g` the changes of the weights and of the gradient over
    the step; :math:`\alpha` is the step the line search accepts, :math:`\varepsilon`
    (``lr``) the first one it tries.

    Args:
        params: parameters or param groups (all treated as one vector).
        lr: step size tried first along ``d = −H g``.
        line_search_fn: ``"strong_wolfe"`` (default), ``"backtracking"``, ``None`` or a
            LineSearch object.
        max_iter, max_eval, tolerance_grad, tolerance_change: stopping rules of one
            ``step()`` (see :mod:`antigrad.second_order.stopping`).
        max_hessian_bytes: memory the dense ``H`` may take (default 1 GiB).
        nonfinite: ``"raise"`` (default), ``"skip"`` or ``"ignore"``
            (see :class:`SecondOrderOptimizer`).

    Example::

        >>> import torch, antigrad
        >>> w = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
        >>> opt = antigrad.BFGS([w], max_iter=100, tolerance_grad=1e-10, tolerance_change=0)
        >>> rosenbrock = lambda: 100 * (w[1] - w[0] ** 2) ** 2 + (1 - w[0]) ** 2
        >>> _ = opt.step(rosenbrock)  # a closure may just return the loss
        >>> opt.result.reason, torch.allclose(w.detach(), torch.ones(2, dtype=torch.float64))
        ('gradient', True)

    Reference: lecture L16; Nocedal & Wright, "Numerical Optimization", 2nd ed. (2006), Alg. 6.1.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, *,
                 line_search_fn: str | LineSearch | None = "strong_wolfe", max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, max_hessian_bytes: int = 2**30,
                 nonfinite: str | None = None) -> None:
        direction = BFGSDirection(max_hessian_bytes)
        defaults = common_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change)
        defaults.update(line_search_fn=line_search_fn)
        self._assemble(params, direction, line_search_fn, defaults, nonfinite, None)
