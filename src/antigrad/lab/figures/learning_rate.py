"""Choosing the learning rate (L4): too large diverges, too small crawls; the range test."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...problems.surfaces import Surface, quadratic
from ...train.lr_finder import LRFinderResult
from ..paths import run_path
from ._draw import new_figure
from .trajectories import plot_paths

__all__ = ["plot_lr_regimes", "plot_lr_range"]


def plot_lr_regimes(surface: Surface | None = None, lrs: tuple[float, float, float] | None = None,
                    optimizer: str = "sgd", steps: int = 40) -> Figure:
    """The same method at a too small, a good and a too large learning rate.

    Default: plain GD on a quadratic with condition number 10 (stable for ``lr < 0.2``)
    at ``lr = 0.01, 0.1, 0.21``: the first crawls, the second converges, the third
    zig-zags outwards and is marked diverged.
    """
    surf = surface or quadratic(10.0)
    small, good, large = lrs or (0.01, 0.1, 0.21)
    if not 0 < small < good < large:
        raise ValueError(f"Invalid lrs: {(small, good, large)} (need 0 < small < good < large)")
    names = ("too small", "good", "too large")
    paths = [run_path(surf, optimizer, lr, steps=steps, escape=3.0)
             for lr in (small, good, large)]
    labels = [f"{n}: lr={p.lr:g}" + (" (diverged)" if p.diverged else "")
              for n, p in zip(names, paths, strict=True)]
    return plot_paths(surf, paths, labels=labels,
                      title=f"{optimizer}: the learning rate decides (L4)")


def plot_lr_range(result: LRFinderResult) -> Figure:
    """The range test's loss against the lr (log axis), with the suggested lr marked.

    ``result`` is :func:`antigrad.find_lr`'s, or the lab's
    :func:`~antigrad.lab.lr_range.lr_range_test` (whose optimizer is named in the title)."""
    if len(result.lrs) < 2:
        raise ValueError("Invalid range test result: fewer than 2 points")
    fig, (ax,) = new_figure(1, width=7.0)
    lrs = np.asarray(result.lrs)
    ax.plot(lrs, result.losses, color="#bbbbbb", linewidth=0.8, label="minibatch loss",
            gid="raw")
    ax.plot(lrs, result.smoothed, color="#1f77b4", linewidth=2, label="smoothed loss",
            gid="smoothed")
    if result.suggestion is not None:
        ax.axvline(result.suggestion, color="#d62728", linestyle="--", gid="suggestion",
                   label=f"suggested lr = {result.suggestion:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate ε (log scale)")
    ax.set_ylabel("training loss")
    finite = np.asarray(result.smoothed)[np.isfinite(result.smoothed)]
    if finite.size:
        top = min(float(finite.max()), 4 * float(finite.min()))
        ax.set_ylim(float(finite.min()) * 0.9 if finite.min() > 0 else None, top * 1.05)
    name = getattr(result, "optimizer", "")
    ax.set_title("learning-rate range test" + (f": {name}" if name else "")
                 + (" (stopped: loss exploded)" if result.diverged else ""))
    ax.legend(loc="best")
    return fig
