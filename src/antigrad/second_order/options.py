"""The options every second-order optimizer takes, validated once at construction.

Wrong types raise ``TypeError``, wrong values ``ValueError``, both naming the argument and
the value (the rule of :mod:`antigrad.validation`, whose helpers do the checks). ``lr``
may be any number ``≥ 0``, as in the first-order optimizers and ``torch.optim.LBFGS``
(``lr = 0`` takes no step).
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from .. import validation
from ..engine.nonfinite import MODES as NONFINITE_MODES  # the one list, as the first order


def whole_number(name: str, value: Any, low: int = 1) -> int:
    """An ``int`` (not ``bool``) ``≥ low``."""
    return validation.count(name, value, low)


def finite_damping(value: Any) -> None:
    validation.at_least("damping", value)
    if not math.isfinite(float(value)):
        raise ValueError(f"Invalid damping value: {value} (must be finite: infinite damping "
                         f"takes no step)")


def positive(name: str, value: Any) -> None:
    validation.positive(name, value)


def nonfinite_mode(value: Any) -> str:
    return validation.one_of("nonfinite", value, NONFINITE_MODES)


def common_defaults(lr: float | Tensor, max_iter: int, max_eval: int | None,
                    tolerance_grad: float, tolerance_change: float,
                    signed_tolerances: bool = False) -> dict[str, Any]:
    """Validate the options every second-order optimizer takes.

    With ``signed_tolerances`` (torch.optim.LBFGS's rule) a tolerance may be any number
    but NaN: a negative one never fires."""
    validation.at_least("lr", lr)  # a tensor: one element ("Tensor lr must be 1-element")
    whole_number("max_iter", max_iter)
    if max_eval is None:
        max_eval = max_iter * 5 // 4
    whole_number("max_eval", max_eval)
    for name, tol in (("tolerance_grad", tolerance_grad),
                      ("tolerance_change", tolerance_change)):
        if signed_tolerances:
            validation.number(name, tol)
        else:
            validation.at_least(name, tol)
    return dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                tolerance_change=tolerance_change)
