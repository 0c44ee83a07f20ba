r"""Diagonal Newton (SPEC L16): Newton's step with the Hessian replaced by its diagonal.

With ``h = diag ∇²L(w)`` and ``g = ∇L(w)`` the step is, element-wise,

    ``d = −g / (|h| + λ)``,   ``w ← w + t d``

(Becker & LeCun 1989; ``|h|`` and the damping ``λ > 0`` keep ``d`` a descent direction
where the curvature is negative or tiny). ``t`` comes from a line search
(``line_search_fn``, default Armijo backtracking from ``t = lr``), so the loss never rises.

The diagonal is

* ``hessian="exact"``: ``n`` Hessian-vector products batched in blocks (only
  ``O(block · n)`` memory, never the dense Hessian);
* ``hessian="hutchinson"``: ``h ≈ 1/k Σ_i z_i ⊙ H z_i`` with ``k = samples`` Rademacher
  vectors ``z_i`` (Bekas, Kokiopoulou & Saad 2007; as in AdaHessian, Yao et al. 2021):
  ``k`` HVPs per iteration whatever ``n``;
* ``hessian="auto"`` (default): exact up to ``exact_max_params`` parameters, else Hutchinson.

The probes are drawn from a generator seeded with ``seed + iteration``, so a run — and a
run resumed from ``state_dict()`` — is reproducible.

Reference: J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., 2006, ch. 3;
C. Bekas, E. Kokiopoulou, Y. Saad, *An estimator for the diagonal of a matrix*, 2007.
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
from .flat import Point
from .line_search import LineSearch
from .options import common_defaults, finite_damping, whole_number

HESSIANS = ("auto", "exact", "hutchinson")


class DiagonalNewtonDirection(Direction):
    """``d = −g / (|diag H| + λ)`` with the exact or Hutchinson-estimated diagonal."""

    needs_graph = True
    refuses_complex = True
    state_keys = frozenset({"probe_draws"})

    def __init__(self, hessian: str = "auto", damping: float = 1e-4, samples: int = 8,
                 seed: int = 0, exact_max_params: int = 2000) -> None:
        validation.one_of("hessian", hessian, HESSIANS)
        finite_damping(damping)
        whole_number("samples", samples)
        whole_number("seed", seed, low=-2**63)
        validation.at_least("exact_max_params", exact_max_params)
        self.hessian, self.damping, self.samples = hessian, damping, samples
        self.seed, self.exact_max_params = seed, exact_max_params

    def hyperparameters(self) -> dict[str, Any]:
        return {"hessian": self.hessian, "damping": self.damping, "samples": self.samples,
                "seed": self.seed, "exact_max_params": self.exact_max_params}

    def diagonal(self, p: Point, ctx: Context) -> Tensor:
        """``diag ∇²L`` at ``p`` (exact or estimated, per ``hessian``)."""
        flat, o = ctx.flat, ctx.options
        assert p.grads is not None
        kind = o["hessian"]
        if kind == "auto":
            kind = "exact" if flat.n <= o["exact_max_params"] else "hutchinson"
        if kind == "exact":
            ctx.result.hvp_evals += flat.n
            return curvature.exact_diagonal(flat, p.grads)
        draw = ctx.state.get("probe_draws", 0)
        ctx.state["probe_draws"] = draw + 1
        gen = torch.Generator().manual_seed(o["seed"] + draw)
        ctx.result.hvp_evals += o["samples"]
        return curvature.hutchinson_diagonal(flat, p.grads, o["samples"], gen)

    def direction(self, p: Point, ctx: Context) -> tuple[Tensor, float]:
        h = self.diagonal(p, ctx)
        d = p.g / h.abs().add_(ctx.options["damping"])
        return d.neg_().nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0), ctx.options["lr"]


class DiagonalNewton(SecondOrderOptimizer):
    r"""Newton's step with the exact or Hutchinson-estimated Hessian diagonal.

    .. math::
        h = \operatorname{diag} \nabla^2 L(w),\quad d = -\frac{g}{|h| + \lambda},\quad
        w \leftarrow w + \alpha d

    element-wise; Hutchinson's estimate is :math:`h \approx \operatorname{mean}_z\,
    z \odot (\nabla^2 L(w)\, z)` over Rademacher probes :math:`z`. :math:`\alpha` is
    the step the line search accepts, :math:`\varepsilon` (``lr``) the first one it tries.

    Args:
        params: parameters or param groups (all treated as one vector).
        lr: first step size tried (``1`` is the diagonal-Newton step).
        hessian: ``"auto"``, ``"exact"`` or ``"hutchinson"``.
        damping: ``λ`` in ``−g / (|h| + λ)``.
        samples: Rademacher probes per Hutchinson estimate.
        seed: seed of the probes.
        exact_max_params: the largest ``n`` for which ``"auto"`` uses the exact diagonal.
        line_search_fn: ``"backtracking"`` (default), ``"strong_wolfe"``, ``None`` or a
            LineSearch object.
        max_iter, max_eval, tolerance_grad, tolerance_change: stopping rules of one
            ``step()`` (see :mod:`antigrad.second_order.stopping`).
        nonfinite: ``"raise"`` (default), ``"skip"`` or ``"ignore"``
            (see :class:`SecondOrderOptimizer`).

    Example::

        >>> import torch, antigrad
        >>> curvature = torch.linspace(1.0, 100.0, 1000, dtype=torch.float64)
        >>> w = torch.ones(1000, dtype=torch.float64, requires_grad=True)
        >>> opt = antigrad.DiagonalNewton([w], hessian="hutchinson", samples=1, damping=0.0)
        >>> _ = opt.step(lambda: 0.5 * (curvature * w ** 2).sum())  # the loss alone will do
        >>> opt.result.iterations, w.detach().abs().max().item() < 1e-12
        (1, True)

    A diagonal Hessian is the case where one probe is exact (:math:`z \odot Hz = z^2 h = h`),
    so the first step lands on the minimum.

    Reference: lecture L16; Becker & LeCun, "Improving the convergence of back-propagation
    learning with second order methods" (1989); Hutchinson, Commun. Stat. 19 (1990).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, *, hessian: str = "auto",
                 damping: float = 1e-4, samples: int = 8, seed: int = 0,
                 exact_max_params: int = 2000,
                 line_search_fn: str | LineSearch | None = "backtracking", max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, nonfinite: str | None = None) -> None:
        direction = DiagonalNewtonDirection(hessian, damping, samples, seed, exact_max_params)
        defaults = common_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change)
        defaults.update(line_search_fn=line_search_fn)
        self._assemble(params, direction, line_search_fn, defaults, nonfinite, None)
