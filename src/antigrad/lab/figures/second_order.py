"""GD against the second-order methods (L15, L16) on one surface, with what each costs.

Every second-order path is taken by :mod:`antigrad.second_order`'s public optimizers:
``step(closure)`` with ``max_iter=1`` moves one iteration at a time (so every iterate can be
drawn), and one more run with ``max_iter`` iterations in a single ``step`` gives the counts
the optimizer reports in ``opt.result`` — evaluations of ``L`` and ``∇L`` (closure calls)
and Hessian-vector products — which the per-iteration run would overcount by re-evaluating
the point each ``step`` starts from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

from ...problems.registry import get_surface
from ...problems.surfaces import Surface
from ...second_order import BFGS, LBFGS, DiagonalNewton, Newton, SolveResult
from ...train.loop import ClosureStep, Hook, Loop, StepRecord, StopAfter, StopOnDivergence
from ..paths import run_path
from ._draw import draw_surface, new_figure

__all__ = ["plot_second_order", "SECOND_ORDER_METHODS", "MethodRun", "second_order_run"]

Factory = Callable[..., torch.optim.Optimizer]

#: The methods drawn: name -> ``(params, max_iter) -> optimizer`` (their own defaults).
SECOND_ORDER_METHODS: dict[str, Factory] = {
    "Newton": lambda params, max_iter: Newton(params, max_iter=max_iter),
    "diagonal Newton": lambda params, max_iter: DiagonalNewton(params, max_iter=max_iter),
    "BFGS": lambda params, max_iter: BFGS(params, max_iter=max_iter),
    "L-BFGS": lambda params, max_iter: LBFGS(params, max_iter=max_iter,
                                             line_search_fn="strong_wolfe"),
}

_COLORS = {"GD": "#000000", "Newton": "#d62728", "diagonal Newton": "#ff7f0e",
           "BFGS": "#2ca02c", "L-BFGS": "#1f77b4"}


@dataclass
class MethodRun:
    """A method's iterates and losses, and its costs (``evaluations`` of ``L`` and ``∇L``,
    ``hvps`` Hessian-vector products, ``iterations``)."""

    name: str
    points: np.ndarray
    losses: np.ndarray
    evaluations: int
    hvps: int
    iterations: int


def _closure(surface: Surface, w: torch.Tensor) -> Callable[[], torch.Tensor]:
    def closure() -> torch.Tensor:
        w.grad = None
        loss = surface(w)
        loss.backward()
        return loss
    return closure


def _solve(surface: Surface, factory: Factory, max_iter: int) -> SolveResult:
    """One ``step`` of up to ``max_iter`` iterations: the optimizer's own accounting."""
    w = torch.nn.Parameter(torch.tensor(surface.start, dtype=torch.float64))
    opt = factory([w], max_iter)
    opt.step(_closure(surface, w))
    return opt.result


def second_order_run(surface: Surface, name: str, max_iter: int = 100) -> MethodRun:
    """The iterates of ``SECOND_ORDER_METHODS[name]`` from the surface's start, one
    iteration per ``step``, and its costs from a single ``step`` of ``max_iter``."""
    factory = SECOND_ORDER_METHODS[name]
    w = torch.nn.Parameter(torch.tensor(surface.start, dtype=torch.float64))
    opt = factory([w], 1)
    track = _Iterations(opt, w)
    Loop(ClosureStep(opt, lambda _: surface(w), lambda: None),
         [StopAfter(max_iter), StopOnDivergence(), track]).run()
    points = track.points
    with torch.no_grad():
        losses = surface(torch.from_numpy(np.array(points))).numpy()
    result = _solve(surface, factory, max_iter)
    return MethodRun(name, np.array(points), losses, result.func_evals, result.hvp_evals,
                     result.iterations)


class _Iterations(Hook):
    """The iterate after every step that made an iteration; stops where the method
    converged (where the single solve stops too)."""

    def __init__(self, opt: torch.optim.Optimizer, w: torch.Tensor) -> None:
        self.opt, self.w, self.points = opt, w, [w.detach().numpy().copy()]

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        if self.opt.result.iterations:
            self.points.append(self.w.detach().numpy().copy())
        if self.opt.result.converged:
            loop.stop("converged")


def _gd_run(surface: Surface, lr: float | None, steps: int) -> MethodRun:
    path = run_path(surface, "sgd", lr, steps=steps)
    evaluations = len(path.points) - 1  # one gradient per step
    return MethodRun(f"GD, lr={path.lr:g}", path.points, path.losses, evaluations, 0,
                     evaluations)


def _label(run: MethodRun, minimum: tuple[float, float]) -> str:
    dist = math.dist(tuple(run.points[-1]), minimum)
    cost = f"{run.evaluations} evaluations"
    if run.hvps:
        cost += f" + {run.hvps} Hessian-vector products"
    return f"{run.name}: {run.iterations} iterations, {cost}; ends {dist:.1g} from w*"


def plot_second_order(surface: str | Surface = "rosenbrock", gd_steps: int = 1000,
                      gd_lr: float | None = None, max_iter: int = 100) -> Figure:
    """GD, Newton, diagonal Newton, BFGS and L-BFGS from one start over the contour lines,
    each labelled with its iterations and evaluations; right: ``L − L*`` per iteration.

    On Rosenbrock's curved valley Newton and the quasi-Newton methods reach the minimum in
    a few dozen evaluations; GD (at the surface's suggested lr) is still in the valley
    after ``gd_steps`` evaluations, and diagonal Newton, whose model ignores the coupling
    of ``x`` and ``y`` that bends the valley, crawls too (L16: a diagonal Hessian is a cheap
    but crude model).
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"Invalid max_iter: {max_iter!r} (must be an int >= 1)")
    surf = get_surface(surface) if isinstance(surface, str) else surface
    if not surf.minima:
        raise ValueError(f"Invalid surface: {surf.name!r} has no known minimum to measure "
                         "against")
    minimum = surf.minima[0]
    runs = [_gd_run(surf, gd_lr, gd_steps)]
    runs += [second_order_run(surf, name, max_iter) for name in SECOND_ORDER_METHODS]
    fig, (ax, loss_ax) = new_figure(2, width=6.5)
    draw_surface(ax, surf)
    floor = surf.min_value if surf.min_value is not None else 0.0
    for run in runs:
        color = _COLORS.get(run.name.split(",")[0], "#8c564b")
        label = _label(run, minimum)
        gd = run.name.startswith("GD")  # drawn wide and below: the others run along it
        ax.plot(run.points[:, 0], run.points[:, 1], "-", marker=None if gd else ".",
                color=color, linewidth=5 if gd else 1.5, alpha=0.6 if gd else 1.0,
                label=label, gid=f"path:{run.name}", zorder=3 if gd else 4)
        gap = np.maximum(run.losses - floor, 1e-16)
        loss_ax.plot(np.arange(len(gap)), gap, color=color, label=run.name.split(",")[0],
                     gid=f"path:{run.name}")
    ax.legend(loc="lower left", fontsize=7)
    ax.set_title(f"{surf.title}: who gets there, at what cost")
    loss_ax.set_xscale("symlog", linthresh=10)
    loss_ax.set(yscale="log", xlabel="iteration", ylabel="L(w) − L(w*)",
                title="loss gap per iteration")
    loss_ax.legend(loc="lower left", fontsize=8)
    fig.suptitle("GD vs Newton, diagonal Newton, BFGS, L-BFGS (L15, L16)")
    return fig
