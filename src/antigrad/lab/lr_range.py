"""The learning-rate range test (SPEC L4): start small, grow the lr, watch the loss.

The lr grows geometrically from ``lr_min`` to ``lr_max`` over ``steps`` minibatch steps
of one fresh model; the loss is smoothed by an exponential moving average, and the test
stops early once the smoothed loss exceeds ``4x`` its best value (the lr is too large).
The suggestion is the lr where the smoothed loss falls fastest (steepest negative
slope in ``log lr``), capped at one tenth of the lr of the minimum loss — the practical
rule "start large and decrease until training is stable".

This is the lab's own plain implementation; ``antigrad.find_lr`` (the training package)
offers the same test for arbitrary training loops.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..problems.base import TrainingProblem
from .optimizers import OptimizerSpec
from .runner import flush_denormals

__all__ = ["LRRangeResult", "lr_range_test", "suggest_lr"]


@dataclass
class LRRangeResult:
    """Learning rates tried, raw and smoothed losses, and the suggested lr."""

    optimizer: str
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    stopped_early: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return asdict(self)


def suggest_lr(lrs: list[float], smoothed: list[float]) -> float:
    """The lr of steepest descent of the smoothed loss, at most ``lr(min loss) / 10``."""
    if len(lrs) != len(smoothed) or len(lrs) < 3:
        raise ValueError(f"Invalid range test: {len(lrs)} lrs, {len(smoothed)} losses "
                         "(need equal lengths >= 3)")
    x, y = np.log10(np.asarray(lrs)), np.asarray(smoothed, dtype=float)
    finite = np.isfinite(y)
    if finite.sum() < 3:
        return float(lrs[0])
    x, y = x[finite], y[finite]
    best = int(np.argmin(y))
    cap = 10 ** (x[best] - 1.0)
    slope = np.gradient(y[: best + 1], x[: best + 1]) if best >= 2 else np.array([0.0])
    steep = 10 ** x[int(np.argmin(slope))] if best >= 2 else 10 ** x[0]
    return float(min(steep, cap)) if cap >= 10 ** x[0] else float(10 ** x[0])


def lr_range_test(problem: TrainingProblem, spec: OptimizerSpec, *, lr_min: float = 1e-5,
                  lr_max: float = 10.0, steps: int = 100, seed: int = 0,
                  batch_size: int | None = None, smoothing: float = 0.9) -> LRRangeResult:
    """Run the range test of ``spec`` on ``problem``; see the module doc."""
    if not 0 < lr_min < lr_max:
        raise ValueError(f"Invalid lr range: [{lr_min}, {lr_max}] (need 0 < lr_min < lr_max)")
    if not isinstance(steps, int) or steps < 3:
        raise ValueError(f"Invalid steps: {steps!r} (must be an int >= 3)")
    if not 0 <= smoothing < 1:
        raise ValueError(f"Invalid smoothing: {smoothing} (must be in [0, 1))")
    with flush_denormals():
        return _range_test(problem, spec, lr_min, lr_max, steps, seed, batch_size, smoothing)


def _range_test(problem: TrainingProblem, spec: OptimizerSpec, lr_min: float, lr_max: float,
                steps: int, seed: int, batch_size: int | None,
                smoothing: float) -> LRRangeResult:
    task = problem.make(seed)
    model, n = task.model, len(task.x_train)
    k = min(batch_size or problem.batch_size, n)
    opt = spec.build(model.parameters(), lr_min)
    gen = torch.Generator().manual_seed(20_000 + seed)
    ratio = (lr_max / lr_min) ** (1 / (steps - 1))
    lrs, losses, smoothed = [], [], []
    avg, best, stopped = 0.0, math.inf, False
    for i in range(steps):
        lr = lr_min * ratio**i
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, n, (k,), generator=gen)
        opt.zero_grad(set_to_none=True)
        loss = task.loss(model, task.x_train[idx], task.y_train[idx])
        value = float(loss.detach())
        avg = smoothing * avg + (1 - smoothing) * value
        smooth = avg / (1 - smoothing ** (i + 1))
        lrs.append(lr)
        losses.append(value)
        smoothed.append(smooth)
        if not math.isfinite(smooth) or smooth > 4 * best:
            stopped = True
            break
        best = min(best, smooth)
        loss.backward()
        try:
            opt.step()
        except (RuntimeError, ValueError) as err:
            if "finite" not in str(err).lower():
                raise
            stopped = True
            break
    return LRRangeResult(spec.name, lrs, losses, smoothed,
                         suggest_lr(lrs, smoothed) if len(lrs) >= 3 else lrs[0], stopped)
