"""Newton's method (L15): the local quadratic model and the step to its minimum.

At ``w_t`` Newton replaces the loss by its second-order Taylor model
``q(w) = L(w_t) + ∇L(w_t)ᵀ(w − w_t) + ½ (w − w_t)ᵀ ∇²L(w_t) (w − w_t)`` and steps to the
model's minimum ``w_t − [∇²L(w_t)]⁻¹ ∇L(w_t)``. On a quadratic loss the model *is* the
loss, so one step lands on the optimum. Every step drawn is taken by
:class:`antigrad.second_order.Newton`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from matplotlib.figure import Figure

from ... import validation
from ...problems.surfaces import Surface, quadratic
from ...second_order import Newton
from ..paths import run_path
from ._draw import draw_surface, new_figure

__all__ = ["plot_newton_step", "newton_step"]


def newton_step(loss: Callable[[torch.Tensor], torch.Tensor], start: tuple[float, ...]
                ) -> np.ndarray:
    """Where one iteration of ``antigrad.second_order.Newton`` (full step ``t = 1``
    accepted by its line search) moves ``start`` on ``loss``."""
    w = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    opt = Newton([w], max_iter=1)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        value = loss(w)
        value.backward()
        return value

    opt.step(closure)
    return w.detach().numpy().copy()


def _exp_loss(w: torch.Tensor) -> torch.Tensor:
    """``e^w − 2w``: convex, not quadratic, minimum ``2 − 2 ln 2`` at ``ln 2``."""
    return (torch.exp(w) - 2 * w).sum()


def _taylor_1d(w0: float) -> tuple[float, float, float]:
    """``L, L', L''`` of :func:`_exp_loss` at ``w0``, by autograd."""
    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    value = _exp_loss(w)
    (d1,) = torch.autograd.grad(value, w, create_graph=True)
    (d2,) = torch.autograd.grad(d1, w)
    return float(value.detach()), float(d1.detach()), float(d2)


def plot_newton_step(w0: float = 1.5, surface: Surface | None = None) -> Figure:
    """Left: the loss ``e^w − 2w`` (not quadratic), its quadratic model at ``w0`` and
    Newton's step to the model's minimum, which lands near — not on — the loss's minimum.
    Right: on a rotated ill-conditioned quadratic (``surface``, default condition number
    10) the model equals the loss and one Newton step from the surface's start lands on
    the minimum, where ten gradient steps (at half the surface's suggested lr) are still
    on their way along the flat direction.
    """
    if not math.isfinite(validation.number("w0", w0)):
        raise ValueError(f"Invalid w0: {w0!r} (must be finite)")
    fig, (ax, quad_ax) = new_figure(2)
    value, d1, d2 = _taylor_1d(w0)
    (w1,) = newton_step(_exp_loss, (w0,))
    ws = np.linspace(min(w1, math.log(2)) - 1.2, w0 + 0.6, 300)
    curve = torch.from_numpy(ws)
    ax.plot(ws, (torch.exp(curve) - 2 * curve).numpy(), color="black", linewidth=2,
            gid="loss", label="loss L(w) = e^w − 2w")
    model = value + d1 * (ws - w0) + 0.5 * d2 * (ws - w0) ** 2
    ax.plot(ws, model, "--", color="#d62728", gid="model",
            label="model L + L′(w − w_t) + ½L″(w − w_t)²")
    model_min = value + d1 * (w1 - w0) + 0.5 * d2 * (w1 - w0) ** 2
    ax.plot([w0], [value], "o", color="#1f77b4", markersize=8, gid="w_t", label=f"w_t = {w0:g}")
    ax.plot([w1], [model_min], "v", color="#d62728", markersize=9, gid="model-minimum",
            label=f"model's minimum, w_t+1 = {w1:.4g}")
    landed = float(_exp_loss(torch.tensor(w1, dtype=torch.float64)))
    ax.plot([w1], [landed], "o", color="#2ca02c", markersize=8, gid="w_t+1", label="L(w_t+1)")
    ax.annotate("", (w1, model_min), (w0, value),
                arrowprops={"arrowstyle": "-|>", "color": "#1f77b4", "lw": 2})
    ax.axvline(math.log(2), color="gray", linestyle=":", linewidth=1, gid="minimum",
               label="minimum of L (ln 2)")
    ax.set_ylim(min(model_min, 2 - 2 * math.log(2)) - 0.5, value + 1.5)
    ax.set_xlabel("w")
    ax.set_ylabel("loss")
    ax.set_title(f"Newton step −L′/L″ = {w1 - w0:.4g} to the model's minimum")
    ax.legend(loc="upper left", fontsize=8)
    _draw_quadratic_step(quad_ax, surface or quadratic(10.0, angle=0.5))
    fig.suptitle("Newton's method (L15): step to the minimum of the local quadratic model")
    return fig


def _draw_quadratic_step(ax, surf: Surface, gd_steps: int = 10) -> None:
    """One Newton step and ``gd_steps`` gradient steps from ``surf.start`` over its contours."""
    draw_surface(ax, surf, levels=15)
    start = np.array(surf.start)
    end = newton_step(surf, surf.start)
    gd = run_path(surf, "sgd", surf.lrs.get("sgd", 0.1) / 2, steps=gd_steps)
    ax.plot(gd.points[:, 0], gd.points[:, 1], "-o", color="#1f77b4", linewidth=1.5,
            markersize=4, gid="path:gd", zorder=5,
            label=f"{gd_steps} gradient steps, lr = {gd.lr:.3g}")
    ax.plot([start[0], end[0]], [start[1], end[1]], "-o", color="#d62728", linewidth=2.5,
            markersize=6, gid="step:newton", zorder=6,
            label=f"one Newton step → ({end[0]:.3f}, {end[1]:.3f})")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{surf.title}: the model is the loss")
