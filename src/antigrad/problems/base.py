"""What a training problem is: a model, its data, a loss and a metric (SPEC L1, L5).

A :class:`TrainingProblem` is a recipe; :meth:`TrainingProblem.make` builds a fresh
:class:`Task` for one seed (the seed sets the model's initial weights ``w_0``; the data
and its train/test split are fixed, so every optimizer and seed sees the same data).
The lab's runner needs nothing else: it samples minibatches from ``task.x_train``,
calls ``task.loss`` and evaluates ``task.metric`` on the test set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["Task", "TrainingProblem", "accuracy", "cross_entropy_loss"]

LossFn = Callable[[nn.Module, Tensor, Tensor], Tensor]
MetricFn = Callable[[nn.Module, Tensor, Tensor], float]


@dataclass
class Task:
    """One instance of a problem: a freshly initialized model and its data.

    ``loss(model, xb, yb)`` returns the mean minibatch loss (a scalar tensor);
    ``metric(model, x, y)`` returns the problem's metric as a float.
    """

    model: nn.Module
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    loss: LossFn
    metric: MetricFn


@dataclass(frozen=True)
class TrainingProblem:
    """A benchmark workload for ``antigrad compare``.

    Attributes:
        name: registry name, e.g. ``"mnist1d-mlp"``.
        title: one line for reports.
        metric: what :attr:`Task.metric` measures, e.g. ``"test accuracy"``.
        higher_is_better: direction of the metric.
        target: the metric value that counts as "solved" (for steps/seconds to target).
        optimum: the known best metric value, where one exists (``None`` otherwise).
        steps: default number of optimizer steps for a comparison.
        batch_size: default minibatch size ``K`` (L5).
        eval_every: evaluate the metric every this many steps.
        build: ``build(seed) -> Task``.
        notes: what the optimum/target mean, shown by ``antigrad list``.
    """

    name: str
    title: str
    metric: str
    higher_is_better: bool
    target: float
    optimum: float | None
    steps: int
    batch_size: int
    eval_every: int
    build: Callable[[int], Task]
    notes: str = ""

    def make(self, seed: int = 0) -> Task:
        """A fresh :class:`Task` whose model is initialized from ``seed``."""
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"Invalid seed: {seed!r} (must be an int >= 0)")
        torch.manual_seed(seed)
        return self.build(seed)

    def reached(self, value: float) -> bool:
        """Whether a metric value meets :attr:`target`."""
        return value >= self.target if self.higher_is_better else value <= self.target


def cross_entropy_loss(model: nn.Module, xb: Tensor, yb: Tensor) -> Tensor:
    """Mean cross-entropy of the model's logits."""
    return nn.functional.cross_entropy(model(xb), yb)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of correct argmax predictions (one logit per class, or one for binary)."""
    out = model(x)
    pred = (out.squeeze(-1) > 0).to(y.dtype) if out.shape[-1] == 1 else out.argmax(-1)
    return float((pred == y).double().mean())
