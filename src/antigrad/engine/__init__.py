"""The engine: traced element-wise updates and the optimizer that runs them."""

import sys

from ..formula import expr
from ..formula.expr import Expr, Graph, trace
from .optimizer import ChainOptimizer, NonFiniteGradientError

__all__ = ["ChainOptimizer", "Expr", "Graph", "NonFiniteGradientError", "trace"]

# `antigrad.engine.expr` was the home of the expression graph before the formula language
# got its own package (`antigrad.formula`); the old name keeps working.
sys.modules[__name__ + ".expr"] = expr
