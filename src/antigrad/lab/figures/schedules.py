"""Learning-rate schedules and the Robbins–Monro conditions (L6): ε_t, Σε_t and Σε_t².

SGD reaches the optimum when ``Σ_t ε_t = ∞`` (any point is reachable) and
``Σ_t ε_t² < ∞`` (the gradient noise it accumulates stays bounded). The picture draws both
partial sums of :mod:`antigrad.schedules`' closed-form schedules over a long horizon, with
each schedule's analytic verdict (``schedule.robbins_monro``) in its legend.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from matplotlib.figure import Figure

from ... import validation
from ...schedules import Constant, Exponential, InverseTime, Schedule
from ._draw import new_figure

__all__ = ["plot_robbins_monro", "DEFAULT_SCHEDULES", "schedule_values"]

Factory = Callable[[torch.optim.Optimizer], Schedule]

#: The schedules drawn by default: label -> ``optimizer -> Schedule``.
DEFAULT_SCHEDULES: dict[str, Factory] = {
    "constant": Constant,
    "ε₀/(1 + t/10)": lambda opt: InverseTime(opt, tau=10, p=1.0),
    "ε₀/(1 + t/10)^0.75": lambda opt: InverseTime(opt, tau=10, p=0.75),
    "ε₀/(1 + t/10)^0.5": lambda opt: InverseTime(opt, tau=10, p=0.5),
    "ε₀·0.999^t": lambda opt: Exponential(opt, gamma=0.999),
}

_COLORS = ["#7f7f7f", "#2ca02c", "#17becf", "#ff7f0e", "#d62728", "#9467bd", "#8c564b"]


def schedule_values(factory: Factory, base_lr: float, horizon: int) -> tuple[np.ndarray, Schedule]:
    """``ε_t`` for ``t = 0 .. horizon−1`` of the schedule ``factory`` builds (on a throwaway
    one-parameter SGD with lr ``base_lr``), and the schedule itself."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    schedule = factory(opt)
    return np.array([schedule.lr_at(t)[0] for t in range(horizon)]), schedule


def plot_robbins_monro(schedules: dict[str, Factory] | None = None, base_lr: float = 0.1,
                       horizon: int = 20_000) -> Figure:
    """ε_t, ``Σ_{k≤t} ε_k`` and ``Σ_{k≤t} ε_k²`` of several schedules, log-log (L6).

    A schedule satisfies Robbins–Monro when its middle curve keeps rising (Σε = ∞) and its
    right curve levels off (Σε² < ∞): of the defaults only ``ε₀/(1+t/τ)^p`` with
    ``1/2 < p ≤ 1`` does. A constant lr keeps Σε² growing (noise never averages out), an
    exponential decay stops Σε (the optimum may be out of reach), and ``p = 1/2`` is the
    boundary where Σε² still grows like ``log t``. The legends carry each schedule's
    analytic verdict (``✓`` / ``✗``), computed by :mod:`antigrad.schedules`.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 10:
        raise ValueError(f"Invalid horizon: {horizon!r} (must be an int >= 10)")
    if not 0 < validation.number("base_lr", base_lr) < float("inf"):
        raise ValueError(f"Invalid base_lr: {base_lr!r} (must be a finite number > 0)")
    chosen = DEFAULT_SCHEDULES if schedules is None else schedules
    if not chosen:
        raise ValueError("Invalid schedules: empty (draw at least one)")
    fig, axes = new_figure(3, width=4.6)
    steps = np.arange(1, horizon + 1)
    for i, (label, factory) in enumerate(chosen.items()):
        eps, schedule = schedule_values(factory, base_lr, horizon)
        verdict = schedule.robbins_monro
        mark = "✓" if verdict.satisfied else "✗"
        color = _COLORS[i % len(_COLORS)]
        for ax, values, what in zip(axes, (eps, np.cumsum(eps), np.cumsum(eps**2)),
                                    ("lr", "sum", "sum-squares"), strict=True):
            ax.plot(steps, values, color=color, linewidth=2 if verdict.satisfied else 1.2,
                    label=f"{mark} {label}", gid=f"{what}:{label}")
    titles = ("learning rate ε_t", "Σ ε_t  (must grow without bound)",
              "Σ ε_t²  (must stay bounded)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step t")
        ax.set_title(title)
    axes[0].set_ylim(base_lr * 1e-5, base_lr * 2)  # an exponential decay would squash the rest
    axes[0].legend(loc="lower left", fontsize=8, title="✓ = Robbins–Monro holds")
    fig.suptitle(f"Robbins–Monro (L6): Σε = ∞ and Σε² < ∞, ε₀ = {base_lr:g}, "
                 f"{horizon:,} steps")
    return fig

