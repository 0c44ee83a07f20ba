"""The engine: traced element-wise updates and the optimizer that runs them."""

from .expr import Expr, Graph, trace
from .optimizer import ChainOptimizer, NonFiniteGradientError

__all__ = ["ChainOptimizer", "Expr", "Graph", "NonFiniteGradientError", "trace"]
