"""Second-order methods (SPEC L15–L16) as ``torch.optim.Optimizer``s.

``Newton`` (exact, damped, line-searched, Newton-CG), ``DiagonalNewton`` (exact or
Hutchinson diagonal), ``BFGS`` (dense inverse Hessian) and ``LBFGS`` (compact limited
memory): each ``step(closure)`` runs an inner loop with a line search and reports what it
did in ``opt.result`` (a :class:`SolveResult`). See ``docs/second_order.md``.
"""

from .bfgs import BFGS
from .diagonal import DiagonalNewton
from .lbfgs import LBFGS
from .newton import Newton
from .result import HessianMemoryError, NonFiniteLossError, SolveResult

__all__ = ["BFGS", "DiagonalNewton", "HessianMemoryError", "LBFGS", "Newton",
           "NonFiniteLossError", "SolveResult"]
