"""Clipping the update by its norm: per tensor, or over all tensors of a param group.

Both read a reduction (:func:`~antigrad.formula.expr.norm`): the engine runs a reduce
phase (one read pass over the update's inputs) before the element-wise step.
"""

from __future__ import annotations

from functools import cache

from ..formula.expr import minimum, norm
from ..formula.transform import Key, Transform, hyper

CLIP_EPS = 1e-6  # added to the norm, as torch.nn.utils.clip_grad_norm_ does


@cache
def clip_by_norm(max_norm: Key = "max_norm") -> Transform:
    """Each tensor's update scaled to norm at most ``max_norm``:
    ``u <- u * min(1, max_norm / (||u|| + 1e-6))``, with ``||u||`` that tensor's L2 norm."""
    return Transform(
        "clip_by_norm",
        update=lambda u, x, c: u * _clip_scale(norm(u), c),
        scalars=lambda g, s, fresh: {"max_norm": hyper(g, max_norm)},
        defaults={max_norm: 1.0} if isinstance(max_norm, str) else {},
    )


@cache
def clip_by_global_norm(max_norm: Key = "max_norm") -> Transform:
    """The update of all tensors of a param group scaled together, as
    ``torch.nn.utils.clip_grad_norm_(group["params"], max_norm)``: with the total norm
    ``N = sqrt(sum_i ||u_i||^2)`` over the group's tensors that have a gradient,
    ``u <- u * min(1, max_norm / (N + 1e-6))``."""
    return Transform(
        "clip_by_global_norm",
        update=lambda u, x, c: u * _clip_scale(norm(u, over="group"), c),
        scalars=lambda g, s, fresh: {"max_norm": hyper(g, max_norm)},
        defaults={max_norm: 1.0} if isinstance(max_norm, str) else {},
    )


def _clip_scale(total, c):
    return minimum(c["max_norm"] / (total + CLIP_EPS), 1.0)
