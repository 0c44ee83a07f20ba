"""Steepest descent (L2): the gradient, the antigradient and the slope of every direction.

First-order Taylor: ``L(w + λd) ≈ L(w) + λ ∇L(w)ᵀd``, so the slope of the loss along a unit
direction ``d`` is ``∇L(w)ᵀd``; by Cauchy–Schwarz it lies in ``[−‖∇L‖, ‖∇L‖]``, with the
extremes at ``d = ±∇L/‖∇L‖``: the loss rises fastest along the gradient and falls fastest
along the antigradient.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from ... import validation
from ...problems.registry import get_surface
from ...problems.surfaces import Point, Surface, quadratic
from ._draw import draw_surface, new_figure

__all__ = ["plot_steepest_descent", "gradient_at"]


def gradient_at(surface: Surface, point: Point) -> tuple[float, np.ndarray]:
    """``(L(w), ∇L(w))`` at ``point``, by autograd in float64."""
    w = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    loss = surface(w)
    (grad,) = torch.autograd.grad(loss, w)
    return float(loss.detach()), grad.numpy()


def _finite_slopes(surface: Surface, point: Point, dirs: np.ndarray, h: float) -> np.ndarray:
    """``(L(w + h d) − L(w)) / h`` for every row ``d`` of ``dirs``: the slope measured."""
    w = torch.tensor(point, dtype=torch.float64)
    with torch.no_grad():
        moved = surface(w + h * torch.from_numpy(dirs))
        return ((moved - surface(w)) / h).numpy()


def plot_steepest_descent(surface: str | Surface | None = None, point: Point | None = None,
                          directions: int = 16, h: float = 1e-4) -> Figure:
    """The gradient and antigradient at ``point`` over the contour lines, and the slope
    ``∇L(w)ᵀd`` of every unit direction ``d`` (L2).

    Left: ``directions`` unit directions around ``w`` coloured by their slope, the steepest
    ascent ``∇L/‖∇L‖`` (red) and descent ``−∇L/‖∇L‖`` (green), both perpendicular to the
    contour line through ``w`` (dashed: its tangent, the directions of slope 0). Right: the
    slope against the angle of ``d`` — a cosine between the Cauchy–Schwarz bounds
    ``±‖∇L‖``, touching them at the ascent and descent directions — and the slopes measured
    by finite differences ``(L(w + h d) − L(w)) / h`` (dots), which it predicts.

    Default: a rotated quadratic with condition number 4 at ``(−2.5, 1)``, where the
    antigradient does not point at the minimum.
    """
    if isinstance(directions, bool) or not isinstance(directions, int) or directions < 4:
        raise ValueError(f"Invalid directions: {directions!r} (must be an int >= 4)")
    if not validation.number("h", h) > 0:
        raise ValueError(f"Invalid h: {h!r} (must be > 0)")
    surf = quadratic(4.0, angle=0.5) if surface is None else (
        get_surface(surface) if isinstance(surface, str) else surface)
    w = point or ((-2.5, 1.0) if surface is None else surf.start)
    _, grad = gradient_at(surf, w)
    norm = float(np.linalg.norm(grad))
    if not norm > 0:
        raise ValueError(f"Invalid point: {w} is a stationary point (∇L = 0): no direction "
                         "is steepest")
    fig, (ax, slope_ax) = new_figure(2)
    draw_surface(ax, surf, levels=15)
    ax.set_aspect("equal")  # right angles look right: ∇L is normal to the contour
    (x0, x1), _ = surf.bounds
    radius = 0.12 * (x1 - x0)
    angles = np.linspace(0.0, 2 * math.pi, directions, endpoint=False)
    dirs = np.column_stack([np.cos(angles), np.sin(angles)])
    slopes = dirs @ grad
    ax.quiver(np.full(directions, w[0]), np.full(directions, w[1]), dirs[:, 0], dirs[:, 1],
              slopes, cmap="coolwarm", clim=(-norm, norm), angles="xy", scale_units="xy",
              scale=1 / (0.6 * radius), width=0.004, gid="directions", zorder=6)
    ascent, descent = grad / norm, -grad / norm
    for name, d, color in (("ascent", ascent, "#d62728"), ("descent", descent, "#2ca02c")):
        tip = (w[0] + radius * d[0], w[1] + radius * d[1])
        ax.plot([w[0], tip[0]], [w[1], tip[1]], color=color, linewidth=3, gid=name, zorder=7,
                label=f"steepest {name} {'+' if name == 'ascent' else '−'}∇L/‖∇L‖")
        ax.annotate("", tip, w, arrowprops={"arrowstyle": "-|>", "color": color, "lw": 3},
                    zorder=7)
    tangent = np.array([-ascent[1], ascent[0]])
    ax.plot([w[0] - radius * tangent[0], w[0] + radius * tangent[0]],
            [w[1] - radius * tangent[1], w[1] + radius * tangent[1]], "--", color="black",
            linewidth=1, gid="tangent", label="contour tangent (slope 0)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{surf.title}: ∇L at w = ({w[0]:g}, {w[1]:g})")
    _draw_slopes(slope_ax, grad, norm, angles, _finite_slopes(surf, w, dirs, h))
    fig.suptitle("steepest descent: the antigradient is the direction of fastest decrease (L2)")
    return fig


def _draw_slopes(ax, grad: np.ndarray, norm: float, angles: np.ndarray,
                 measured: np.ndarray) -> None:
    """The slope ``∇Lᵀd(θ)`` against θ, its bounds ``±‖∇L‖`` and the measured slopes."""
    theta = np.linspace(0.0, 2 * math.pi, 361)
    deg = np.degrees(theta)
    ax.plot(deg, grad[0] * np.cos(theta) + grad[1] * np.sin(theta), color="#1f77b4",
            gid="taylor-slope", label="first-order Taylor slope ∇L(w)ᵀd")
    ax.plot(np.degrees(angles), measured, "o", color="black", markersize=4,
            gid="finite-difference", label="measured (L(w + hd) − L(w)) / h")
    for sign, name, color in ((1, "ascent", "#d62728"), (-1, "descent", "#2ca02c")):
        ax.axhline(sign * norm, color=color, linestyle=":", linewidth=1)
        at = math.degrees(math.atan2(sign * grad[1], sign * grad[0])) % 360
        ax.plot([at], [sign * norm], "*", color=color, markersize=14,
                markeredgecolor="black", gid=f"steepest-{name}",
                label=f"steepest {name}: slope {sign * norm:+.3g} at θ = {at:.0f}°")
    ax.set_xlim(0, 360)
    ax.set_xticks(range(0, 361, 90))
    ax.set_xlabel("direction d = (cos θ, sin θ), θ in degrees")
    ax.set_ylabel("slope of L along d")
    ax.set_title("every unit direction's slope lies within ±‖∇L‖ (Cauchy–Schwarz)")
    ax.legend(loc="best", fontsize=8)
