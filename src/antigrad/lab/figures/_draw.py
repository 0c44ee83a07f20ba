"""Drawing helpers shared by the figures: contours, paths, minima, divergence marks.

Figures are built with :class:`matplotlib.figure.Figure` directly (no ``pyplot``), so
they need no GUI backend and never accumulate in a global figure list.

Conventions the tests rely on: every optimizer path is a ``Line2D`` whose ``gid`` is
``"path:<name>"``; a diverged run gets an ``"x"`` marker with gid ``"diverged:<name>"``
and ``"(diverged)"`` in its legend label; global minima are drawn with gid ``"minimum"``,
local ones with ``"local-minimum"``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ...problems.surfaces import Surface
from ..paths import Path

__all__ = ["new_figure", "draw_surface", "draw_path", "draw_loss", "color_for", "label_for"]

_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
            "#17becf", "#7f7f7f", "#bcbd22"]
_ORDER = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam-simple", "adam", "nadam",
          "adamw"]


def color_for(name: str, index: int = 0) -> str:
    """A stable colour per optimizer name (the same in every figure)."""
    if name in _ORDER:
        return _PALETTE[_ORDER.index(name)]
    return _PALETTE[index % len(_PALETTE)]


def label_for(path: Path, with_lr: bool = True) -> str:
    """``"adam, lr=0.05"`` plus ``" (diverged)"`` for a diverged path."""
    text = f"{path.optimizer}, lr={path.lr:g}" if with_lr else path.optimizer
    return text + (" (diverged)" if path.diverged else "")


def new_figure(ncols: int = 1, width: float = 6.0,
               height: float = 4.8) -> tuple[Figure, list[Axes]]:
    """A figure with ``ncols`` side-by-side axes and a constrained layout."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def draw_surface(ax: Axes, surface: Surface, levels: int = 30, resolution: int = 200) -> None:
    """Contour lines of ``surface`` over its box, its global minima (gold stars), local
    minima (white stars) and saddles (crosses)."""
    X, Y, Z = surface.grid(resolution)
    if surface.log_levels:
        shift = Z.min()
        Zp = Z - shift + 1e-3
        lv = np.geomspace(Zp.min(), Zp.max(), levels)
        ax.contour(X, Y, Zp, levels=lv, norm=LogNorm(), cmap="viridis", linewidths=0.7)
    else:
        ax.contour(X, Y, Z, levels=levels, cmap="viridis", linewidths=0.7)
    for i, (mx, my) in enumerate(surface.minima):
        ax.plot([mx], [my], marker="*", color="gold", markeredgecolor="black", markersize=14,
                linestyle="none", gid="minimum", zorder=5,
                label="known minimum" if i == 0 else None)
    for i, (mx, my) in enumerate(surface.local_minima):
        ax.plot([mx], [my], marker="*", color="white", markeredgecolor="black", markersize=11,
                linestyle="none", gid="local-minimum", zorder=5,
                label="local minimum" if i == 0 else None)
    for sx, sy in surface.saddles:
        ax.plot([sx], [sy], marker="X", color="white", markeredgecolor="black",
                markersize=9, linestyle="none", gid="saddle", zorder=5)
    (x0, x1), (y0, y1) = surface.bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(surface.title)


def draw_path(ax: Axes, path: Path, color: str, label: str | None = None,
              marker: str = ".", markevery: int | None = None) -> None:
    """One optimizer's iterates as a line; start ``o``; a diverged run ends in a red ``x``."""
    pts = path.points
    every = markevery or max(1, len(pts) // 40)
    ax.plot(pts[:, 0], pts[:, 1], color=color, marker=marker, markersize=3, markevery=every,
            linewidth=1.4, label=label or label_for(path), gid=f"path:{path.optimizer}",
            zorder=4)
    ax.plot(pts[0, 0], pts[0, 1], marker="o", color=color, markeredgecolor="black",
            markersize=6, linestyle="none", gid="start", zorder=6)
    if path.diverged:  # mark where it left, pulled back onto the visible box
        x = float(np.clip(pts[-1, 0], *sorted(ax.get_xlim())))
        y = float(np.clip(pts[-1, 1], *sorted(ax.get_ylim())))
        ax.plot([x], [y], marker="x", color="red", markersize=14, markeredgewidth=3,
                linestyle="none", gid=f"diverged:{path.optimizer}", zorder=7, clip_on=False)


def draw_loss(ax: Axes, path: Path, color: str, label: str | None = None,
              offset: float = 0.0) -> None:
    """Loss per step (log scale when positive); a diverged run ends in a red ``x``."""
    y = path.losses - offset
    steps = np.arange(len(y))
    ax.plot(steps, y, color=color, label=label or label_for(path),
            gid=f"path:{path.optimizer}")
    if path.diverged:
        finite = np.flatnonzero(np.isfinite(y))
        if finite.size:
            k = finite[-1]
            ax.plot([k], [y[k]], marker="x", color="red", markersize=12, markeredgewidth=3,
                    linestyle="none", gid=f"diverged:{path.optimizer}")
    ax.set_xlabel("step t")
    ax.set_ylabel("loss L(w)" if offset == 0 else "L(w) - L(w*)")
