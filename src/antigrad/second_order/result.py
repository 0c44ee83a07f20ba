"""What one ``step(closure)`` of a second-order optimizer did, and the errors they raise.

Every second-order optimizer runs an inner loop per ``step()`` (as ``torch.optim.LBFGS``
does) that ends when one stopping rule fires. The rules map onto the lecture's S1–S3:

==================  ============================================================
``"gradient"``      ``‖∇L(w)‖∞ ≤ tolerance_grad`` (first-order optimality)
``"loss_change"``   S1: ``|L(w_{t+1}) − L(w_t)| < tolerance_change``, or a predicted
                    decrease ``−∇Lᵀd`` below it
``"step_size"``     S2: ``‖w_{t+1} − w_t‖∞ ≤ tolerance_change``
``"max_iter"``      S3: ``max_iter`` iterations in this ``step()``
``"max_eval"``      budget: ``max_eval`` closure evaluations in this ``step()``
``"nonfinite"``     ``nonfinite="skip"``: a NaN/inf loss or gradient ended the step
                    (at its start: nothing changed; in a search: back at its start)
==================  ============================================================

How the tolerances scale (absolute as torch's, or relative) is set by the optimizer's
:mod:`~antigrad.second_order.stopping` rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import HessianMemoryError, NonFiniteLossError  # noqa: F401 - re-exported: their old home

CONVERGED = ("gradient", "loss_change", "step_size")


@dataclass
class SolveResult:
    """Outcome of one ``step(closure)`` (``opt.result``); totals live in ``opt.state``.

    Attributes:
        loss: loss at the final point.
        initial_loss: loss at the point ``step()`` started from.
        grad_norm: ``‖∇L‖∞`` at the final point.
        iterations: iterations (parameter updates) taken in this ``step()``.
        func_evals: closure calls (each gives the loss and its gradient).
        hvp_evals: Hessian-vector products (a dense Hessian of ``n`` parameters counts ``n``).
        reason: the stopping rule that fired (see the module docstring).
        step_norm: ``‖w_{t+1} − w_t‖∞`` of the last update (0 before any).
    """

    loss: float
    initial_loss: float
    grad_norm: float
    iterations: int = 0
    func_evals: int = 0
    hvp_evals: int = 0
    reason: str = "max_iter"
    step_norm: float = 0.0
    losses: list[float] = field(default_factory=list, repr=False)

    @property
    def converged(self) -> bool:
        """True when a tolerance fired (not a budget)."""
        return self.reason in CONVERGED

    def __str__(self) -> str:
        return (f"{self.reason}: loss {self.loss:.10g} (from {self.initial_loss:.6g}), "
                f"|g|inf {self.grad_norm:.3e}, {self.iterations} iterations, "
                f"{self.func_evals} evaluations, {self.hvp_evals} Hessian-vector products")
