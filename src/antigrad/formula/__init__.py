"""The formula language: the bottom layer every optimizer of antigrad is written in.

- :mod:`antigrad.formula.expr`: element-wise expressions (:class:`Expr`, ``sqrt``,
  ``maximum``, ``lerp``, ...), per-tensor reductions (``norm``, ``total``, ``max_abs``)
  and :func:`trace`, which records them into a
  :class:`Graph`;
- :mod:`antigrad.formula.transform`: :class:`Transform` (one formula), :class:`Chain`
  (formulas in order), hyperparameter keys and the scalar state.

It imports nothing else of antigrad and loads no compiler: the library of formulas
(:mod:`antigrad.transforms`) sits on it, the engine (:mod:`antigrad.engine`) runs the
graphs it traces.
"""

from . import explain
from .expr import (
    Expr,
    Graph,
    absolute,
    lerp,
    max_abs,
    maximum,
    minimum,
    norm,
    sign,
    sqrt,
    total,
    trace,
)
from .transform import Chain, Key, ScalarState, Slots, Transform, chain, hyper, zeros

__all__ = [
    "Chain", "explain", "Expr", "Graph", "Key", "ScalarState", "Slots", "Transform", "absolute",
    "chain", "hyper", "lerp", "max_abs", "maximum", "minimum", "norm", "sign", "sqrt",
    "total", "trace", "zeros",
]
