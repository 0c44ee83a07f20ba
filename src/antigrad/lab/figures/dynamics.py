"""How the step is taken: noisy SGD vs full-batch GD (L5), momentum (L7), adaptive (L9-L12)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ...problems.registry import get_training_problem
from ...problems.surfaces import quadratic
from ...train.loop import GradientStep, Hook, Loop, StepRecord, StopAfter, StopOnDivergence
from ..optimizers import get_optimizer
from ..paths import run_path
from ._draw import new_figure
from .trajectories import plot_paths

__all__ = ["plot_sgd_vs_gd", "plot_momentum_zigzag", "plot_adaptive_vs_sgd"]


def _full_loss(task, model) -> float:
    with torch.no_grad():
        return float(task.loss(model, task.x_train, task.y_train))


class _Decay(Hook):
    """The Robbins-Monro schedule ``lr_t = lr / (1 + t/20)^0.6`` (L6), set before step t."""

    def __init__(self, opt: torch.optim.Optimizer, lr: float) -> None:
        self.opt, self.lr = opt, lr

    def before_step(self, loop: Loop) -> None:
        for g in self.opt.param_groups:
            g["lr"] = self.lr / (1 + (loop.step + 1) / 20) ** 0.6


class _FullLoss(Hook):
    """The full training loss after every applied step, and the examples processed."""

    def __init__(self, task, k: int) -> None:
        self.task, self.k = task, k
        self.losses, self.seen = [_full_loss(task, task.model)], [0]

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        if record.diverged is None:
            self.losses.append(_full_loss(self.task, self.task.model))
            self.seen.append(record.step * self.k)


def _sgd_run(task, lr: float, k: int | None, decay: bool, steps: int, seed: int
             ) -> tuple[list[float], list[int], bool]:
    """GD (``k=None``) or SGD with minibatches of ``k`` drawn with replacement: the full
    loss after each step, the examples processed, and whether the run diverged."""
    n = len(task.x_train)
    k = n if k is None else min(k, n)
    opt = get_optimizer("sgd").build(task.model.parameters(), lr)
    gen = torch.Generator().manual_seed(seed)
    draw = (lambda: torch.randint(0, n, (k,), generator=gen)) if k < n else \
        (lambda: slice(None))
    step = GradientStep(opt, lambda idx: task.loss(task.model, task.x_train[idx],
                                                   task.y_train[idx]), draw)
    full = _FullLoss(task, k)
    loop = Loop(step, [StopAfter(steps), StopOnDivergence(), full,
                       *([_Decay(opt, lr)] if decay else [])])
    loop.run()
    return full.losses, full.seen, loop.last.diverged is not None


def plot_sgd_vs_gd(problem: str = "noisy-least-squares", lr: float = 0.1,
                   batch_size: int = 16, epochs: int = 4, seed: int = 0) -> Figure:
    """Full-batch GD against minibatch SGD (constant and decreasing lr) on one problem.

    Left: the full training loss per *step* — GD's curve is smooth, SGD's is noisy and,
    at a constant lr, stalls at a noise floor; the decreasing schedule
    ``lr_t = lr / (1 + t/20)^0.6`` (Robbins-Monro, L6) keeps descending. Right: the same against
    *examples processed* (gradient cost, L1): one GD step costs ``N`` examples, one SGD
    step ``K``, so SGD gets far more progress per unit of work. Every run takes
    ``epochs * N / K`` steps.
    """
    prob = get_training_problem(problem)
    if not (lr > 0 and batch_size >= 1 and epochs >= 1):
        raise ValueError(f"Invalid settings: lr={lr}, batch_size={batch_size}, epochs={epochs}")
    fig, axes = new_figure(2)
    runs = [("full-batch GD", None, False, "#1f77b4"),
            (f"SGD, K={batch_size}", batch_size, False, "#d62728"),
            (f"SGD, K={batch_size}, lr/(1+t/20)^0.6", batch_size, True, "#2ca02c")]
    n_train = len(prob.make(seed).x_train)
    steps = epochs * (n_train // min(batch_size, n_train))
    for label, k, decay, color in runs:
        task = prob.make(seed)
        losses, seen, diverged = _sgd_run(task, lr, k, decay, steps, seed)
        label += " (diverged)" if diverged else ""
        axes[0].plot(np.arange(len(losses)), losses, color=color, label=label,
                     gid=f"path:{label}")
        axes[1].plot(np.asarray(seen) / len(task.x_train), losses, color=color, label=label,
                     gid=f"path:{label}")
    for ax, xlabel in zip(axes, ("step t", "epochs (examples processed / N)"), strict=True):
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("full training loss L(w)")
        ax.legend(loc="best", fontsize=8)
    axes[1].set_xlim(0, epochs)
    axes[0].set_title("per step: SGD is noisy")
    axes[1].set_title("per example processed: SGD is cheap")
    fig.suptitle(f"{prob.title}: SGD vs full-batch GD (L5)")
    return fig


def plot_momentum_zigzag(condition: float = 25.0, steps: int = 60, lr: float | None = None,
                         gamma: float = 0.8) -> Figure:
    """Plain GD zig-zags across a ravine; heavy-ball momentum (L7) averages the zig-zag out.

    On the quadratic with the given condition number, GD at ``lr = 1.9 / condition``
    (just below the stability limit) bounces between the ravine's walls; momentum at a
    quarter of that lr keeps the consistent direction (its velocity builds up to
    ``lr / (1 - gamma)`` along the ravine) and cancels the alternating one.
    """
    if lr is not None and lr <= 0:
        raise ValueError(f"Invalid lr: {lr} (must be > 0)")
    surf = quadratic(condition)
    lr = lr or 1.9 / condition
    gd = run_path(surf, "sgd", lr, steps=steps)
    mom = run_path(surf, "momentum", lr / 4, steps=steps, gamma=gamma)
    fig = plot_paths(surf, [gd, mom], labels=[
        f"GD, lr={gd.lr:.3g}" + (" (diverged)" if gd.diverged else ""),
        f"momentum γ={gamma:g}, lr={mom.lr:.3g}" + (" (diverged)" if mom.diverged else "")],
        title="momentum smooths the zig-zag in a ravine (L7)")
    return fig


def plot_adaptive_vs_sgd(condition: float = 100.0, steps: int = 150,
                         optimizers: Sequence[str] = ("sgd", "adagrad", "rmsprop", "adam"),
                         adaptive_lr: float = 0.1) -> Figure:
    """One step size for all axes vs per-axis steps, on an axis-aligned ill-conditioned quadratic.

    GD must keep ``lr < 2 / condition`` for the steep axis, so it crawls along the flat
    one; AdaGrad, RMSprop and Adam (L9-L12) scale each axis by its own gradient history.
    """
    surf = quadratic(condition)
    paths = []
    for name in optimizers:
        spec = get_optimizer(name)
        lr = adaptive_lr if spec.family == "adaptive" else 1.9 / condition * (
            1.0 if spec.family == "sgd" else 0.2)
        paths.append(run_path(surf, spec, lr, steps=steps))
    fig = plot_paths(surf, paths, title=f"condition number {condition:g}: per-axis step sizes")
    return fig


