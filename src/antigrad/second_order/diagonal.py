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

Example::

    >>> import torch, antigrad
    >>> w = torch.tensor([3.0, -2.0], dtype=torch.float64, requires_grad=True)
    >>> opt = antigrad.DiagonalNewton([w], damping=0.0, max_iter=1)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = (torch.tensor([1.0, 100.0], dtype=torch.float64) * w ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)  # a separable quadratic: one diagonal-Newton step is exact
    >>> w.detach().abs().max().item() < 1e-12
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .. import validation
from . import curvature
from .base import SecondOrderOptimizer, common_defaults, finite_damping, positive_int
from .flat import Point
from .result import SolveResult

HESSIANS = ("auto", "exact", "hutchinson")


class DiagonalNewton(SecondOrderOptimizer):
    """Newton's step with the exact or Hutchinson-estimated Hessian diagonal.

    Args:
        params: parameters or param groups (all treated as one vector).
        lr: first step size tried (``1`` is the diagonal-Newton step).
        hessian: ``"auto"``, ``"exact"`` or ``"hutchinson"``.
        damping: ``λ`` in ``−g / (|h| + λ)``.
        samples: Rademacher probes per Hutchinson estimate.
        seed: seed of the probes.
        exact_max_params: the largest ``n`` for which ``"auto"`` uses the exact diagonal.
        line_search_fn: ``"backtracking"`` (default), ``"strong_wolfe"`` or ``None``.
        max_iter, max_eval, tolerance_grad, tolerance_change: stopping rules of one
            ``step()`` (see :mod:`antigrad.second_order.result`).
    """

    needs_graph = True
    state_keys = SecondOrderOptimizer.state_keys | {"probe_draws"}

    def __init__(self, params: Iterable[Any], lr: float = 1.0, *, hessian: str = "auto",
                 damping: float = 1e-4, samples: int = 8, seed: int = 0,
                 exact_max_params: int = 2000,
                 line_search_fn: str | None = "backtracking", max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9) -> None:
        if hessian not in HESSIANS:
            raise ValueError(f"Invalid hessian: {hessian!r} (must be one of "
                             f"{', '.join(map(repr, HESSIANS))})")
        finite_damping(damping)
        positive_int("samples", samples)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"Invalid seed: {seed!r} (must be an integer)")
        validation.at_least("exact_max_params", exact_max_params)
        defaults = common_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change,
                                   line_search_fn)
        defaults.update(hessian=hessian, damping=damping, samples=samples, seed=seed,
                        exact_max_params=exact_max_params)
        super().__init__(params, defaults)
        self._flat().refuse_complex()

    def diagonal(self, p: Point, state: dict[str, Any], o: dict[str, Any],
                 result: SolveResult) -> Tensor:
        """``diag ∇²L`` at ``p`` (exact or estimated, per ``hessian``)."""
        flat = self._flat()
        assert p.grads is not None
        kind = o["hessian"]
        if kind == "auto":
            kind = "exact" if flat.n <= o["exact_max_params"] else "hutchinson"
        if kind == "exact":
            result.hvp_evals += flat.n
            return curvature.exact_diagonal(flat, p.grads)
        draw = state.get("probe_draws", 0)
        state["probe_draws"] = draw + 1
        gen = torch.Generator().manual_seed(o["seed"] + draw)
        result.hvp_evals += o["samples"]
        return curvature.hutchinson_diagonal(flat, p.grads, o["samples"], gen)

    def direction(self, p: Point, state: dict[str, Any], o: dict[str, Any],
                  result: SolveResult) -> tuple[Tensor, float]:
        h = self.diagonal(p, state, o, result)
        d = p.g / h.abs().add_(o["damping"])
        return d.neg_().nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0), o["lr"]
