"""The learning-rate range test (SPEC L4) of one lab optimizer on one training problem.

This is :func:`antigrad.find_lr` (see :mod:`antigrad.train.lr_finder`: exponential lr
sweep, smoothed loss, stop at divergence, steepest-descent suggestion) run on a fresh
:class:`~antigrad.problems.Task` with the problem's minibatch size, under the lab's timing
settings (:func:`~antigrad.lab.runner.flush_denormals`). The result also names the
optimizer, for the store, the report and :func:`~antigrad.lab.figures.plot_lr_range`.

The suggestion is find_lr's steepest-descent lr capped at a tenth of the lr of the lowest
loss (``min/10``): ``compare`` trains at it for the whole run and every seed, where the
steepest point alone can sit next to instability (on ``mnist1d-mlp``, momentum at the
steepest lr 0.40 ends at test accuracy 0.18, at the capped 0.19 at 0.63).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..problems.base import Task, TrainingProblem
from ..train.lr_finder import LRFinderResult, find_lr
from .optimizers import OptimizerSpec
from .runner import flush_denormals

__all__ = ["LRRangeResult", "lr_range_test"]


@dataclass
class LRRangeResult(LRFinderResult):
    """:class:`~antigrad.train.lr_finder.LRFinderResult` with the optimizer's name."""

    optimizer: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return asdict(self)


class _TaskModel(torch.nn.Module):
    """find_lr's view of a task: the "output" is the batch itself and the loss function is
    ``task.loss``, which runs the model (some tasks' models take no input)."""

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.model, self.task = task.model, task

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        return xb

    def loss(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return self.task.loss(self.model, xb, yb)


def lr_range_test(problem: TrainingProblem, spec: OptimizerSpec, *, lr_min: float = 1e-5,
                  lr_max: float = 10.0, steps: int = 100, seed: int = 0,
                  batch_size: int | None = None) -> LRRangeResult:
    """:func:`antigrad.find_lr` of ``spec`` on ``problem`` (model initialized from ``seed``)."""
    task = problem.make(seed)
    wrapped = _TaskModel(task)
    k = min(batch_size or problem.batch_size, len(task.x_train))
    with flush_denormals():
        result = find_lr(wrapped, wrapped.loss, (task.x_train, task.y_train),
                         optimizer=lambda params: spec.build(params, lr_min), lr_min=lr_min,
                         lr_max=lr_max, steps=steps, batch_size=k, seed=seed)
    fields = asdict(result) | {"suggestion": result.safe_suggestion,
                               "method": "steepest, at most min/10"}
    return LRRangeResult(**fields, optimizer=spec.name)
