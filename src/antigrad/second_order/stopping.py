r"""When one ``step(closure)`` of a second-order optimizer ends: its tolerance rules.

Two sets, chosen at construction:

* :class:`TorchTolerances` — ``torch.optim.LBFGS``'s absolute rules, kept by the drop-in
  :class:`~antigrad.LBFGS`: stop before the line search when the predicted decrease
  ``−gᵀd`` is below ``tolerance_change``, after a step when ``|ΔL|`` or ``‖Δw‖∞`` is.
  Once gradients are small (``‖g‖ ≈ 10⁻⁵``) the predicted decrease falls below ``10⁻⁹``
  and every later ``step()`` returns before moving: a loop of ``step()`` calls stalls
  short of ``tolerance_grad``.
* :class:`ScaleAwareTolerances` (every other method) — relative rules, as scipy's:
  ``|ΔL| ≤ tolerance_change · max(|L_k|, |L_{k+1}|)`` and
  ``‖Δw‖∞ ≤ tolerance_change · ‖w‖∞``, checked only after a step was taken, and no test
  of the predicted decrease. So every ``step()`` makes progress unless the gradient test
  holds, and the rules mean the same whatever the scale of ``L`` or ``w``.

Both share the gradient test ``‖g‖∞ ≤ tolerance_grad`` and the budgets ``max_iter`` and
``max_eval``. The reasons are listed in :mod:`.result`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .flat import Point
from .result import SolveResult


class Tolerances:
    """Stopping rules (base class: the shared gradient test and budgets)."""

    def before_search(self, p: Point, gtd: float, o: dict[str, Any]) -> str | None:
        """A reason to stop before searching along a direction with slope ``gtd``."""
        raise NotImplementedError

    def converged(self, old: Point, new: Point, s: Tensor, o: dict[str, Any]) -> str | None:
        """A reason to stop after the step ``s`` from ``old`` to ``new``."""
        raise NotImplementedError

    def after_step(self, old: Point, new: Point, s: Tensor, o: dict[str, Any],
                   res: SolveResult) -> str | None:
        if res.grad_norm <= o["tolerance_grad"]:
            return "gradient"
        reason = self.converged(old, new, s, o)
        if reason is not None:
            return reason
        if res.iterations >= o["max_iter"]:
            return "max_iter"
        if res.func_evals >= o["max_eval"]:
            return "max_eval"
        return None


class TorchTolerances(Tolerances):
    """``torch.optim.LBFGS``'s absolute rules."""

    def before_search(self, p: Point, gtd: float, o: dict[str, Any]) -> str | None:
        return "loss_change" if gtd > -o["tolerance_change"] else None

    def converged(self, old: Point, new: Point, s: Tensor, o: dict[str, Any]) -> str | None:
        if float(s.abs().max()) <= o["tolerance_change"]:
            return "step_size"
        if abs(new.f - old.f) < o["tolerance_change"]:
            return "loss_change"
        return None


class ScaleAwareTolerances(Tolerances):
    """Relative rules: the same meaning whatever the scale of the loss and parameters."""

    def before_search(self, p: Point, gtd: float, o: dict[str, Any]) -> str | None:
        # only where no direction descends (a zero gradient, or NaN): a step that lowers
        # the loss below its rounding can still lower the gradient (Newton near w*)
        return None if gtd < 0 else "loss_change"

    def converged(self, old: Point, new: Point, s: Tensor, o: dict[str, Any]) -> str | None:
        tol = o["tolerance_change"]
        step = float(s.abs().max())
        if step == 0 or step <= tol * float(new.x.abs().max()):
            return "step_size"
        if abs(new.f - old.f) <= tol * max(abs(old.f), abs(new.f)):
            return "loss_change"
        return None
