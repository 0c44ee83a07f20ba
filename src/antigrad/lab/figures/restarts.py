"""Many optima (L17): restarts from different ``w_0`` land in different minima."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...problems.registry import get_surface
from ...problems.surfaces import Surface
from ..paths import run_path
from ._draw import draw_surface, new_figure

__all__ = ["plot_restarts"]

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


def plot_restarts(surface: str | Surface = "six-hump-camel", restarts: int = 12,
                  optimizer: str = "adam", lr: float | None = None, steps: int = 200,
                  seed: int = 0) -> Figure:
    """``restarts`` runs of one method from random starts, coloured by the minimum reached.

    Starts are drawn uniformly from the surface's box (``seed`` fixes them). Each path's
    colour says which known minimum its end is nearest to; the title counts how many
    distinct minima were found. The right panel shows each restart's final loss with the
    global minimum's value dashed and the best restart starred — the "keep the best
    restart" rule of L17, which matters because the default surface's minima differ in
    value (−1.03, −0.22 and 2.10).
    """
    if not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"Invalid restarts: {restarts!r} (must be an int >= 1)")
    surf = get_surface(surface) if isinstance(surface, str) else surface
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = surf.bounds
    starts = np.column_stack([rng.uniform(x0, x1, restarts), rng.uniform(y0, y1, restarts)])
    fig, (ax, bar) = new_figure(2)
    draw_surface(ax, surf)
    found, finals = set(), []
    for i, (sx, sy) in enumerate(starts):
        path = run_path(surf, optimizer, lr, steps=steps, start=(float(sx), float(sy)))
        k = surf.nearest_minimum(path.end) if surf.all_minima else i
        found.add(k)
        color = _COLORS[k % len(_COLORS)]
        pts = path.points
        ax.plot(pts[:, 0], pts[:, 1], color=color, linewidth=1.2, gid=f"path:restart-{i}")
        ax.plot(pts[0, 0], pts[0, 1], "o", color=color, markeredgecolor="black",
                markersize=5, gid="start")
        ax.plot(*path.end, "s", color=color, markeredgecolor="black", markersize=6,
                gid="end")
        finals.append((path.losses[-1], color))
    ax.set_title(f"{surf.title}\n{restarts} restarts of {optimizer} found "
                 f"{len(found)} of {len(surf.all_minima)} minima")
    values = np.array([f for f, _ in finals])
    bar.bar(np.arange(restarts), values, color=[c for _, c in finals], gid="final-loss")
    best = int(np.argmin(values))
    bar.plot([best], [values[best]], "*", color="gold", markeredgecolor="black",
             markersize=16, gid="best", label=f"best: restart {best}, L = {values[best]:.4g}")
    if surf.min_value is not None:
        bar.axhline(surf.min_value, color="black", linestyle="--", linewidth=1,
                    gid="global-minimum", label=f"global minimum {surf.min_value:.4g}")
    bar.set_xlabel("restart")
    bar.set_ylabel("final loss L(w)")
    bar.set_title("final loss per restart: keep the best (or ensemble)")
    bar.legend(loc="best", fontsize=8)
    return fig
