"""Gradient clipping for the fit loop with ``torch.nn.utils.clip_grad_value_`` and
``clip_grad_norm_``, and the gradient norm the loop records.

``clip_grad_value=c`` clamps every gradient entry to ``[-c, c]``; ``clip_grad_norm=m``
rescales all gradients together so their global 2-norm is at most ``m``; with both, values
are clamped first. Clipping runs after the gradients are complete (all-reduced, unscaled)
and before the optimizer step. The history's ``grad_norm`` is the norm before clipping,
``grad_norm_clipped`` the norm after it (recorded every step while clipping is on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["Clipping", "grad_norm"]


def grad_norm(params: Sequence[torch.Tensor]) -> float:
    """The global 2-norm of the parameters' gradients, accumulated in float64."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(g.to(torch.float64)) for g in grads])))


def _limit(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Invalid {name}: {value!r} (must be a number or None)")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"Invalid {name}: {value!r} (must be a finite number > 0)")
    return float(value)


class Clipping:
    """The validated ``clip_grad_norm=`` / ``clip_grad_value=`` options of ``fit``."""

    def __init__(self, max_norm: float | None = None, max_value: float | None = None) -> None:
        self.max_norm = _limit("clip_grad_norm", max_norm)
        self.max_value = _limit("clip_grad_value", max_value)

    @property
    def active(self) -> bool:
        return self.max_norm is not None or self.max_value is not None

    def apply(self, params: Sequence[torch.Tensor]) -> float | None:
        """Clip in place; the norm after clipping (None when clipping is off)."""
        if not self.active:
            return None
        if self.max_value is not None:
            torch.nn.utils.clip_grad_value_(params, self.max_value)
        if self.max_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, self.max_norm)
        return grad_norm(params)
