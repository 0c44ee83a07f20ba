"""Optimizer paths on a 2-D surface: the data behind every trajectory picture (L18).

:func:`run_path` starts one optimizer at a point of a :class:`~antigrad.problems.Surface`
and records every iterate and loss in float64. A path *diverges* (L4) when a loss or a
gradient is non-finite, or when it leaves a box ``escape`` times larger than the
surface's drawing box; it stops there and is marked ``diverged``.

Example::

    >>> from antigrad.problems.surfaces import quadratic
    >>> from antigrad.lab.paths import run_path
    >>> p = run_path(quadratic(10), "sgd", lr=0.25, steps=50)   # lr > 2/10: diverges
    >>> p.diverged
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..problems.surfaces import Point, Surface
from .optimizers import OptimizerSpec, get_optimizer

__all__ = ["Path", "run_path", "surface_lr"]


@dataclass
class Path:
    """Iterates ``points`` (shape ``(k, 2)``, starting with ``w_0``) and ``losses`` (``k``)."""

    optimizer: str
    lr: float
    points: np.ndarray
    losses: np.ndarray
    diverged: bool

    @property
    def end(self) -> Point:
        """The last finite iterate."""
        x, y = self.points[-1]
        return float(x), float(y)


def surface_lr(surface: Surface, spec: OptimizerSpec) -> float:
    """The surface's suggested lr for the optimizer's family.

    Heavy-ball methods (``family == "momentum"``) take 0.3x the plain-SGD lr unless the
    surface names one: their steps grow up to ``1 / (1 - gamma)`` times larger.
    """
    if spec.family in surface.lrs:
        return surface.lrs[spec.family]
    if spec.family == "momentum" and "sgd" in surface.lrs:
        return 0.3 * surface.lrs["sgd"]
    return spec.default_lr


def run_path(surface: Surface, optimizer: str | OptimizerSpec, lr: float | None = None,
             steps: int = 100, start: Point | None = None, escape: float = 100.0,
             **kwargs: float) -> Path:
    """Run ``optimizer`` on ``surface`` for ``steps`` steps from ``start``; see module doc.

    ``lr`` defaults to :func:`surface_lr`; ``kwargs`` go to the optimizer (e.g. ``gamma``).
    """
    spec = get_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"Invalid steps: {steps!r} (must be an int >= 1)")
    lr = surface_lr(surface, spec) if lr is None else lr
    w = torch.nn.Parameter(torch.tensor(start or surface.start, dtype=torch.float64))
    opt = spec.build([w], lr, **kwargs)
    (x0, x1), (y0, y1) = surface.bounds
    radius = escape * max(x1 - x0, y1 - y0)
    points, losses, diverged = [w.detach().numpy().copy()], [], False
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = surface(w)
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            diverged = True
            break
        loss.backward()
        try:
            opt.step()
        except FloatingPointError:  # the optimizer refused a NaN/inf gradient
            diverged = True
            break
        p = w.detach().numpy().copy()
        if not np.all(np.isfinite(p)) or np.abs(p).max() > radius:
            diverged = True
            break
        points.append(p)
    if not diverged:
        with torch.no_grad():
            losses.append(float(surface(w)))
    else:
        losses = losses[: len(points)]
        losses += [math.nan] * (len(points) - len(losses))
    return Path(spec.name, float(lr), np.array(points), np.array(losses), diverged)
