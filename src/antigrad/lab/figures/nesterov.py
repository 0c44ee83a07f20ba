"""Nesterov's look-ahead (L8) against heavy-ball momentum (L7).

Heavy ball takes the gradient where it stands, ``v_t = γ v_{t−1} + ε ∇L(w_t)``; Nesterov
takes it at the look-ahead point ``w_t − γ v_{t−1}``, where the velocity is about to carry
it, so it brakes before a wall instead of after. Both paths are computed by antigrad's
textbook optimizers through the training loop with a closure step
(:class:`~antigrad.train.loop.ClosureStep`), which each optimizer calls exactly where it
takes its gradient: the points the closure sees *are* the evaluation points drawn.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from ... import validation
from ...problems.surfaces import Point, Surface, quadratic
from ...train.loop import ClosureStep, Hook, Loop, StepRecord, StopAfter
from ..optimizers import get_optimizer
from ._draw import color_for, draw_surface, new_figure

__all__ = ["plot_nesterov_lookahead", "momentum_run"]


def momentum_run(surface: Surface, name: str, lr: float, gamma: float, steps: int,
                 start: Point | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(iterates, evaluation points, losses at the iterates)`` of ``steps`` steps of the
    optimizer ``name`` (``"momentum"`` or ``"nesterov"``); row ``t`` of the evaluation
    points is where step ``t + 1`` took its gradient."""
    w = torch.nn.Parameter(torch.tensor(start or surface.start, dtype=torch.float64))
    opt = get_optimizer(name).build([w], lr, gamma=gamma)
    seen: list[np.ndarray] = []

    def objective(_: None) -> torch.Tensor:
        seen.append(w.detach().numpy().copy())   # where the optimizer takes its gradient
        return surface(w)

    iterates = _Iterates(w)
    Loop(ClosureStep(opt, objective, lambda: None), [StopAfter(steps), iterates]).run()
    points = iterates.points
    with torch.no_grad():
        losses = surface(torch.from_numpy(np.array(points))).numpy()
    return np.array(points), np.array(seen), losses


class _Iterates(Hook):
    """Every iterate, from the start."""

    def __init__(self, w: torch.Tensor) -> None:
        self.w, self.points = w, [w.detach().numpy().copy()]

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        self.points.append(self.w.detach().numpy().copy())


def plot_nesterov_lookahead(condition: float = 20.0, lr: float = 0.04, gamma: float = 0.9,
                            steps: int = 40, shown: int = 8) -> Figure:
    """Heavy ball and Nesterov with the same ``lr`` and ``gamma`` on an ill-conditioned
    quadratic; Nesterov's first ``shown`` look-ahead points (hollow) joined to the iterate
    each belongs to. Right: the loss per step of both.

    Heavy ball evaluates its gradient at its iterates and overshoots the ravine's floor
    again and again; Nesterov's look-ahead point is already past the floor when the
    velocity points across it, so its gradient pushes back early and the oscillation dies
    out faster.
    """
    if not (validation.number("lr", lr) > 0 and 0 < validation.number("gamma", gamma) < 1):
        raise ValueError(f"Invalid settings: lr={lr!r}, gamma={gamma!r} (need lr > 0 and "
                         "0 < gamma < 1)")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"Invalid steps: {steps!r} (must be an int >= 2)")
    surf = quadratic(condition)
    fig, (ax, loss_ax) = new_figure(2)
    draw_surface(ax, surf)
    for name, label in (("momentum", "heavy ball: ∇L at w_t"),
                        ("nesterov", "Nesterov: ∇L at w_t − γv_{t−1}")):
        points, seen, losses = momentum_run(surf, name, lr, gamma, steps)
        color = color_for(name)
        ax.plot(points[:, 0], points[:, 1], "-o", color=color, markersize=3, linewidth=1.4,
                label=label, gid=f"path:{name}", zorder=4)
        ax.plot(seen[:, 0], seen[:, 1], linestyle="none", gid=f"evaluated:{name}")
        loss_ax.plot(np.arange(len(losses)), losses, color=color, label=label,
                     gid=f"path:{name}")
        if name == "nesterov":
            k = min(shown, len(seen))
            for t in range(1, k):
                ax.plot([points[t, 0], seen[t, 0]], [points[t, 1], seen[t, 1]], ":",
                        color=color, linewidth=1, gid="lookahead-link", zorder=5)
            ax.plot(seen[1:k, 0], seen[1:k, 1], "o", markerfacecolor="none",
                    markeredgecolor=color, markersize=7, gid="lookahead", zorder=6,
                    label="look-ahead points w_t − γv_{t−1}")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{surf.title}: ε = {lr:g}, γ = {gamma:g}")
    loss_ax.set(yscale="log", xlabel="step t", ylabel="loss L(w_t)", title="loss per step")
    loss_ax.legend(loc="best", fontsize=8)
    fig.suptitle("Nesterov (L8) takes the gradient at the look-ahead point")
    return fig
