"""Optimizer paths on a 2-D surface: the data behind every trajectory picture (L18).

:func:`run_path` starts one optimizer at a point of a :class:`~antigrad.problems.Surface`
and records every iterate and loss in float64, through antigrad's training loop
(:mod:`antigrad.train.loop`). A path *diverges* (L4) when a loss or a gradient is
non-finite (the optimizer refuses the step: caught by type), or when it leaves a box
``escape`` times larger than the surface's drawing box; it stops there and is marked
``diverged``.

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
from ..train.loop import GradientStep, Hook, Loop, StepRecord, StopAfter, StopOnDivergence
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
    track = _Track(w, escape * max(x1 - x0, y1 - y0))
    # after a step the hooks run last to first: the track marks an escape, then the
    # divergence stop sees it
    loop = Loop(GradientStep(opt, lambda _: surface(w), _no_batch),
                [StopAfter(steps), StopOnDivergence(), track])
    loop.run()
    diverged = loop.last.diverged is not None
    losses = track.losses
    if not diverged:
        with torch.no_grad():
            losses.append(float(surface(w)))
    else:
        losses = losses[: len(track.points)]
        losses += [math.nan] * (len(track.points) - len(losses))
    return Path(spec.name, float(lr), np.array(track.points), np.array(losses), diverged)


def _no_batch() -> None:
    """A surface has no data: every step evaluates the whole function."""
    return None


class _Track(Hook):
    """Every iterate and the loss before each step; a step that leaves the box of
    half-width ``radius`` (or makes an iterate non-finite) is marked diverged."""

    def __init__(self, w: torch.Tensor, radius: float) -> None:
        self.w, self.radius = w, radius
        self.points, self.losses = [w.detach().numpy().copy()], []

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        self.losses.append(record.loss)
        if record.diverged is not None:
            return
        p = self.w.detach().numpy().copy()
        if not np.all(np.isfinite(p)) or np.abs(p).max() > self.radius:
            record.diverged = "left the surface's box"
            return
        self.points.append(p)
