"""Layer-wise trust ratios: LARS and LAMB scale each tensor's step by ``||w|| / ||u||``.

Each reads per-tensor norms (:func:`~antigrad.formula.expr.norm`), computed by a reduce
phase before the element-wise step. A norm of zero (a parameter initialised to zeros, a
zero update) makes the ratio 1: the step is then the plain one.
"""

from __future__ import annotations

from functools import cache

from ..formula.expr import Expr, norm, sign
from ..formula.transform import Key, Transform, hyper


def ratio_or_one(num: Expr, den: Expr, nonzero: Expr) -> Expr:
    """``num / den`` where ``nonzero`` is positive, else 1 (``nonzero`` is a product of
    norms' signs, 0 or 1; the denominator is moved off zero where the ratio is not used)."""
    return nonzero * num / (den + (1.0 - nonzero)) + (1.0 - nonzero)


@cache
def scale_by_trust_ratio() -> Transform:
    """LAMB's layer-wise adaptation (You et al. 2019, Algorithm 2, with phi the identity):
    ``u <- u * ||w|| / ||u||`` per tensor; 1 instead of the ratio when either norm is 0."""

    def update(u, x, c):
        w_norm, u_norm = norm(x.p), norm(u)
        return u * ratio_or_one(w_norm, u_norm, sign(w_norm) * sign(u_norm))

    return Transform("scale_by_trust_ratio", update=update)


@cache
def scale_by_lars(trust_coefficient: Key = "trust_coefficient",
                  weight_decay: Key = "weight_decay") -> Transform:
    """LARS's local learning rate (You, Gitman & Ginsburg 2017, Algorithm 1), applied to the
    update with weight decay: ``u <- eta * ||w|| / (||u|| + beta * ||w||) * (u + beta * w)``
    with ``eta`` the trust coefficient and ``beta`` the weight decay, per tensor; the local
    rate is 1 when ``||w||`` or ``||u||`` is 0."""

    def update(u, x, c):
        w_norm, u_norm = norm(x.p), norm(u)
        local = ratio_or_one(w_norm * c["eta"], u_norm + w_norm * c["wd"],
                             sign(w_norm) * sign(u_norm))
        return (u + x.p * c["wd"]) * local

    return Transform(
        "scale_by_lars", update=update,
        scalars=lambda g, s, fresh: {"eta": hyper(g, trust_coefficient),
                                     "wd": hyper(g, weight_decay)},
        defaults={**({trust_coefficient: 1e-3} if isinstance(trust_coefficient, str) else {}),
                  **({weight_decay: 0.0} if isinstance(weight_decay, str) else {})},
    )
