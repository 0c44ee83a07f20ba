"""What a training problem is: a model, its data, a loss and a metric (SPEC L1, L5).

A :class:`TrainingProblem` is a recipe; :meth:`TrainingProblem.make` builds a fresh
:class:`Task` for one seed (the seed sets the model's initial weights ``w_0``; the data
and its train/test split are fixed, so every optimizer and seed sees the same data).
The lab's runner needs nothing else: it samples minibatches from ``task.x_train``,
calls ``task.loss`` and evaluates ``task.metric`` on the test set.
"""

from __future__ import annotations

import math
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


@dataclass(frozen=True, kw_only=True)
class TrainingProblem:
    """A benchmark workload for ``antigrad compare`` (built-in, or a user's own: see
    :func:`~antigrad.problems.get_training_problem`'s ``module:function`` entry points).

    Attributes (keyword-only; only ``name``, ``build``, ``metric``, ``higher_is_better`` and
    ``target`` are required):
        name: registry name, e.g. ``"mnist1d-mlp"``.
        build: ``build(seed) -> Task``: a fresh model (initialized from the seed; torch's
            global generator is seeded just before) and the data, loss and metric.
        metric: what :attr:`Task.metric` measures, e.g. ``"test accuracy"``.
        higher_is_better: direction of the metric.
        target: the metric value that counts as "solved" (for steps/seconds to target).
        title: one line for reports (default: the name).
        optimum: the known best metric value, where one exists (``None`` otherwise).
        steps: default number of optimizer steps for a comparison.
        batch_size: default minibatch size ``K`` (L5).
        eval_every: evaluate the metric every this many steps.
        shuffle: reshuffle the training set every epoch (L5); ``False`` walks it in its
            stored order, batch after batch, every epoch alike (as some papers do).
        notes: what the optimum/target mean, shown by ``antigrad list``.

    Example::

        >>> import torch
        >>> from antigrad.problems import Task, TrainingProblem, accuracy, cross_entropy_loss
        >>> x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
        >>> p = TrainingProblem(
        ...     name="tiny", metric="test accuracy", higher_is_better=True, target=0.5,
        ...     build=lambda seed: Task(torch.nn.Linear(5, 3), x[:48], y[:48], x[48:], y[48:],
        ...                             cross_entropy_loss, accuracy), steps=20)
        >>> p.title, p.batch_size
        ('tiny', 128)
    """

    name: str
    build: Callable[[int], Task]
    metric: str
    higher_is_better: bool
    target: float
    title: str = ""
    optimum: float | None = None
    steps: int = 1000
    batch_size: int = 128
    eval_every: int = 50
    shuffle: bool = True
    notes: str = ""

    def __post_init__(self) -> None:
        self._check_texts()
        if not callable(self.build):
            raise TypeError(f"Invalid build: {self.build!r} (must be a function seed -> Task)")
        self._check_flags()
        self._check_numbers()
        self._check_counts()
        if not self.title:
            object.__setattr__(self, "title", self.name)

    def _check_texts(self) -> None:
        """The text fields are strings; the name is short, printable and not blank."""
        for key in ("name", "metric", "title", "notes"):
            if not isinstance(getattr(self, key), str):
                raise TypeError(f"Invalid {key}: {getattr(self, key)!r} (must be a str)")
        if not self.name.strip() or not self.name.isprintable() or len(self.name) > 64:
            raise ValueError(f"Invalid name: {self.name!r} (1 to 64 printable characters)")

    def _check_flags(self) -> None:
        for key in ("higher_is_better", "shuffle"):
            if not isinstance(getattr(self, key), bool):
                raise TypeError(f"Invalid {key}: {getattr(self, key)!r} (must be a bool)")

    def _check_numbers(self) -> None:
        """``target`` (and ``optimum`` when given) are finite numbers."""
        for key in ("target", "optimum"):
            value = getattr(self, key)
            if (value is not None or key == "target") and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value)):
                raise ValueError(f"Invalid {key}: {value!r} (must be a finite number)")

    def _check_counts(self) -> None:
        for key in ("steps", "batch_size", "eval_every"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Invalid {key}: {value!r} (must be an int >= 1)")

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
