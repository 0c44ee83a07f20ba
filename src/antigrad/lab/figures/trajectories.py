"""Optimizer paths over a surface's contour lines, with their loss curves (L18)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ...problems.registry import get_surface
from ...problems.surfaces import Point, Surface
from ..paths import Path, run_path
from ..surface_range import surface_range_lr
from ._draw import color_for, draw_loss, draw_path, draw_surface, new_figure

__all__ = ["plot_trajectories", "plot_paths"]

DEFAULT_OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam")
LR_RULES = ("range-test", "surface")


def plot_paths(surface: Surface, paths: Sequence[Path], title: str | None = None,
               loss_panel: bool = True, labels: Sequence[str] | None = None) -> Figure:
    """Draw already computed ``paths`` over ``surface`` (and their losses, if asked)."""
    if not paths:
        raise ValueError("Invalid paths: empty (draw at least one)")
    fig, axes = new_figure(2 if loss_panel else 1)
    draw_surface(axes[0], surface)
    for i, path in enumerate(paths):
        color = color_for(path.optimizer, i) if len({p.optimizer for p in paths}) == len(
            paths) else _cycle(i)
        label = labels[i] if labels else None
        draw_path(axes[0], path, color, label)
        if loss_panel:
            offset = surface.min_value if surface.min_value is not None else 0.0
            draw_loss(axes[1], path, color, label, offset=offset)
    axes[0].legend(loc="best", fontsize=8)
    if loss_panel:
        ax = axes[1]
        gaps = np.concatenate([p.losses - (surface.min_value or 0.0) for p in paths])
        gaps = gaps[np.isfinite(gaps)]
        if surface.min_value is not None and gaps.size and gaps.min() > 0:
            ax.set_yscale("log")
        ax.set_title("loss per step")
        ax.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _cycle(i: int) -> str:
    return ["#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b"][i % 6]


def plot_trajectories(surface: str | Surface = "rosenbrock",
                      optimizers: Sequence[str] | Mapping[str, float | None] = DEFAULT_OPTIMIZERS,
                      steps: int = 3000, start: Point | None = None,
                      loss_panel: bool = True, lr_rule: str = "range-test") -> Figure:
    """Paths of several optimizers from one start over ``surface``'s contour lines.

    ``optimizers`` is a list of names or a mapping ``name -> lr``. An lr not given (a
    name in a list, or ``None`` in a mapping) is chosen by ``lr_rule``: ``"range-test"``
    (default) runs the learning-rate range test on the surface from the start and takes
    a tenth of the lr of its lowest loss (:mod:`antigrad.lab.surface_range`) — the lr a
    method would be given in practice; ``"surface"`` takes the surface's suggested lr
    for the method's family. Diverged runs are marked with a red ``x``.

    The default, Rosenbrock's valley over 3000 steps, shows who reaches the minimum at
    its own range-test lr: Adam does within about 1000 steps, momentum and Nesterov
    come close, RMSprop hovers around it at its constant lr, plain GD is still crawling.

    Example::

        >>> fig = plot_trajectories("beale", {"sgd": 0.01, "adam": 0.05}, steps=50)
        >>> len(fig.axes)
        2
    """
    if lr_rule not in LR_RULES:
        raise ValueError(f"Invalid lr_rule: {lr_rule!r} (must be one of {', '.join(LR_RULES)})")
    surf = get_surface(surface) if isinstance(surface, str) else surface
    lrs = dict(optimizers) if isinstance(optimizers, Mapping) else dict.fromkeys(optimizers)
    for name, lr in lrs.items():
        if lr is None and lr_rule == "range-test":
            lrs[name] = surface_range_lr(surf, name, start)
    paths = [run_path(surf, name, lr, steps=steps, start=start) for name, lr in lrs.items()]
    fig = plot_paths(surf, paths, title=f"{len(paths)} optimizers, {steps} steps"
                     + (", lr by range test" if lr_rule == "range-test" else ""),
                     loss_panel=loss_panel)
    if surf.minima:
        _note_distances(fig.axes[0], surf, paths)
    if loss_panel and surf.min_value is not None and fig.axes[1].get_yscale() == "log":
        low, high = fig.axes[1].get_ylim()  # a converged path's 1e-30 would flatten the rest
        fig.axes[1].set_ylim(max(low, 1e-12), high)
    return fig


def _note_distances(ax, surface: Surface, paths: Sequence[Path]) -> None:
    """How far each path ends from the nearest known minimum, in a corner of the plot."""
    lines = ["distance of the end to a minimum:"]
    for path in paths:
        dist = min(math.dist(path.end, m) for m in surface.all_minima)
        lines.append(f"{path.optimizer}: {dist:.1g}" + (" (diverged)" if path.diverged else ""))
    ax.text(0.02, 0.02, "\n".join(lines), transform=ax.transAxes, fontsize=8,
            verticalalignment="bottom", gid="distances",
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
