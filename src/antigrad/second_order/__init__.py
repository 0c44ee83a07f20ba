"""Second-order methods (SPEC L15–L16) as ``torch.optim.Optimizer``s.

``Newton`` (exact, damped, line-searched, Newton-CG, trust region), ``DiagonalNewton``
(exact or Hutchinson diagonal), ``BFGS`` (dense inverse Hessian) and ``LBFGS`` (compact
limited memory, a drop-in for ``torch.optim.LBFGS``): each ``step(closure)`` runs an inner
loop and reports what it did in ``opt.result`` (a :class:`SolveResult`). Each is a
:class:`SecondOrderOptimizer` assembled from a :class:`Direction` and a
:class:`LineSearch` object, which can also be combined directly. See
``docs/second_order.md``.
"""

from .base import SecondOrderOptimizer
from .bfgs import BFGS, BFGSDirection
from .diagonal import DiagonalNewton, DiagonalNewtonDirection
from .direction import Direction, SteepestDescent
from .lbfgs import LBFGS, LBFGSDirection
from .levenberg_marquardt import LevenbergMarquardt
from .line_search import Backtracking, FixedStep, LineSearch, StrongWolfe
from .newton import Newton, NewtonCG
from .newton_direction import NewtonDirection
from .result import HessianMemoryError, NonFiniteLossError, SolveResult
from .stopping import ScaleAwareTolerances, Tolerances, TorchTolerances
from .trust_region import TrustRegionNewton

__all__ = ["BFGS", "Backtracking", "BFGSDirection", "DiagonalNewton",
           "DiagonalNewtonDirection", "Direction", "FixedStep", "HessianMemoryError", "LBFGS",
           "LBFGSDirection", "LevenbergMarquardt", "LineSearch", "Newton", "NewtonCG",
           "NewtonDirection", "NonFiniteLossError", "ScaleAwareTolerances",
           "SecondOrderOptimizer", "SolveResult", "SteepestDescent", "StrongWolfe",
           "Tolerances", "TorchTolerances", "TrustRegionNewton"]
