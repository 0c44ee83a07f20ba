"""Clipping the update by its norm: per tensor, or over all tensors of a param group.

Both read a reduction (:func:`~antigrad.formula.expr.norm`): the engine runs a reduce
phase (one read pass over the update's inputs) before the element-wise step.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..formula.expr import minimum, norm
from ..formula.transform import Key, Transform, hyper, interned
from .rates import NonNegativeRates

CLIP_EPS = 1e-6  # added to the norm, as torch.nn.utils.clip_grad_norm_ does


@dataclass(frozen=True, eq=False)
class ClipByNorm(NonNegativeRates, Transform):
    """Each tensor's update scaled to norm at most ``max_norm``:
    ``u <- u * min(1, max_norm / (||u|| + 1e-6))``, with ``||u||`` that tensor's L2 norm."""

    max_norm: Key = "max_norm"
    name = "clip_by_norm"
    rates = {"max_norm": 1.0}
    over = "tensor"  # whose norm: the tensor's

    def update(self, u, x, c):
        return u * minimum(c["max_norm"] / (norm(u, over=self.over) + CLIP_EPS), 1.0)

    def scalars(self, group, s, fresh):
        return {"max_norm": hyper(group, self.max_norm)}


@dataclass(frozen=True, eq=False)
class ClipByGlobalNorm(ClipByNorm):
    """The update of all tensors of a param group scaled together, as
    ``torch.nn.utils.clip_grad_norm_(group["params"], max_norm)``: with the total norm
    ``N = sqrt(sum_i ||u_i||^2)`` over the group's tensors that have a gradient,
    ``u <- u * min(1, max_norm / (N + 1e-6))``."""

    name = "clip_by_global_norm"
    over = "group"  # whose norm: the whole param group's


clip_by_norm = interned(ClipByNorm)
clip_by_global_norm = interned(ClipByGlobalNorm)
