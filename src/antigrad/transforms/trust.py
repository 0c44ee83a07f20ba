"""Layer-wise trust ratios: LARS and LAMB scale each tensor's step by ``||w|| / ||u||``.

Each reads per-tensor norms (:func:`~antigrad.formula.expr.norm`), computed by a reduce
phase before the element-wise step. A norm of zero (a parameter initialised to zeros, a
zero update) makes the ratio 1: the step is then the plain one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..formula.expr import Expr, norm, sign
from ..formula.transform import Key, Transform, hyper, interned
from .rates import NonNegativeRates


def ratio_or_one(num: Expr, den: Expr, nonzero: Expr) -> Expr:
    """``num / den`` where ``nonzero`` is positive, else 1 (``nonzero`` is a product of
    norms' signs, 0 or 1; the denominator is moved off zero where the ratio is not used)."""
    return nonzero * num / (den + (1.0 - nonzero)) + (1.0 - nonzero)


@dataclass(frozen=True, eq=False)
class ScaleByTrustRatio(Transform):
    """LAMB's layer-wise adaptation (You et al. 2019, Algorithm 2, with phi the identity):
    ``u <- u * ||w|| / ||u||`` per tensor; 1 instead of the ratio when either norm is 0."""

    name = "scale_by_trust_ratio"

    def update(self, u, x, c):
        w_norm, u_norm = norm(x.p), norm(u)
        return u * ratio_or_one(w_norm, u_norm, sign(w_norm) * sign(u_norm))


@dataclass(frozen=True, eq=False)
class ScaleByLars(NonNegativeRates, Transform):
    """LARS's local learning rate (You, Gitman & Ginsburg 2017, Algorithm 1), applied to the
    update with weight decay: ``u <- eta * ||w|| / (||u|| + beta * ||w||) * (u + beta * w)``
    with ``eta`` the trust coefficient and ``beta`` the weight decay, per tensor; the local
    rate is 1 when ``||w||`` or ``||u||`` is 0."""

    trust_coefficient: Key = "trust_coefficient"
    weight_decay: Key = "weight_decay"
    name = "scale_by_lars"
    rates = {"trust_coefficient": 1e-3, "weight_decay": 0.0}

    def update(self, u, x, c):
        w_norm, u_norm = norm(x.p), norm(u)
        local = ratio_or_one(w_norm * c["eta"], u_norm + w_norm * c["wd"],
                             sign(w_norm) * sign(u_norm))
        return (u + x.p * c["wd"]) * local

    def scalars(self, group, s, fresh):
        return {"eta": hyper(group, self.trust_coefficient),
                "wd": hyper(group, self.weight_decay)}


scale_by_trust_ratio = interned(ScaleByTrustRatio)
scale_by_lars = interned(ScaleByLars)
