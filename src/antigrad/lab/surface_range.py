"""The learning-rate range test (L4) on a 2-D surface: the lr a method would be given.

:func:`antigrad.find_lr` grows ε exponentially from the surface's start until the loss
explodes; the lr it returns is its conservative ``"min/10"`` rule, a tenth of the lr at the
lowest smoothed loss — the practical rule "start large, go down until training is stable"
applied the way a user would apply it to a network. (The default ``"steepest"`` rule
suits minibatch losses; on a deterministic surface the loss falls fastest in the first
few tiny steps down the nearest wall, which would pick an lr far too small for the rest.)

Example::

    >>> from antigrad.problems.surfaces import rosenbrock
    >>> from antigrad.lab.surface_range import surface_range_lr
    >>> 1e-4 < surface_range_lr(rosenbrock(), "adam") < 1
    True
"""

from __future__ import annotations

import torch

from ..problems.surfaces import Point, Surface
from ..train.lr_finder import LRFinderResult, find_lr
from .optimizers import OptimizerSpec, get_optimizer

__all__ = ["surface_range_test", "surface_range_lr"]


class _AtPoint(torch.nn.Module):
    """The surface as a model: one 2-D parameter; the loss ignores the (dummy) input."""

    def __init__(self, surface: Surface, start: Point) -> None:
        super().__init__()
        self.surface = surface
        self.w = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))

    def forward(self, _: torch.Tensor) -> torch.Tensor:
        return self.surface(self.w)


def surface_range_test(surface: Surface, optimizer: str | OptimizerSpec,
                       start: Point | None = None, lr_min: float = 1e-6, lr_max: float = 1.0,
                       steps: int = 100) -> LRFinderResult:
    """:func:`antigrad.find_lr` for ``optimizer`` on ``surface`` from ``start`` (default: the
    surface's), with the ``"min/10"`` suggestion."""
    spec = get_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
    model = _AtPoint(surface, start or surface.start)
    return find_lr(model, lambda loss: loss, (torch.zeros(1),),
                   optimizer=lambda params: spec.build(params, lr_min), lr_min=lr_min,
                   lr_max=lr_max, steps=steps, method="min/10")


def surface_range_lr(surface: Surface, optimizer: str | OptimizerSpec,
                     start: Point | None = None) -> float:
    """The lr the range test suggests for ``optimizer`` on ``surface`` (see module doc)."""
    return surface_range_test(surface, optimizer, start).lr_at_min / 10
