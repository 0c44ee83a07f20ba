"""The figures of a comparison report: curves, lr sensitivity, final metric per optimizer."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ..compare import Comparison
from ..tuning import best_so_far
from ._draw import color_for, new_figure

__all__ = ["plot_loss_curves", "plot_metric_curves", "plot_lr_sensitivity",
           "plot_final_metric", "plot_best_so_far", "comparison_figures"]


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_loss_curves(cmp: Comparison, window: int = 25) -> Figure:
    """Training (minibatch) loss per step, smoothed; mean over seeds, band = min..max."""
    fig, (ax,) = new_figure(1, width=7.5)
    for i, name in enumerate(cmp.config.optimizers):
        runs = [r for r in cmp.final_runs(name) if r.losses]
        if not runs:
            continue
        length = min(len(r.losses) for r in runs)
        curves = np.array([_smooth(np.array([v for _, v in r.losses[:length]]), window)
                           for r in runs])
        stamps = np.array([s for s, _ in runs[0].losses[:length]])  # blocks in long runs
        steps = stamps[window - 1:] if length >= window else stamps
        color = color_for(name, i)
        diverged = sum(r.diverged for r in runs)
        label = f"{name} (lr={cmp.chosen_lr.get(name, math.nan):.3g})"
        label += f" ({diverged} diverged)" if diverged else ""
        ax.plot(steps, curves.mean(0), color=color, label=label, gid=f"path:{name}")
        if len(runs) > 1:
            ax.fill_between(steps, curves.min(0), curves.max(0), color=color, alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("step t")
    ax.set_ylabel(f"training loss (moving average of {window} minibatches)")
    ax.set_title(f"{cmp.title}: training loss")
    ax.legend(loc="best", fontsize=8)
    return fig


def plot_metric_curves(cmp: Comparison) -> Figure:
    """The problem's metric (test set) against step; mean ± std over seeds; target dashed."""
    fig, (ax,) = new_figure(1, width=7.5)
    for i, name in enumerate(cmp.config.optimizers):
        runs = [r for r in cmp.final_runs(name) if not r.diverged and r.evals]
        if not runs:
            continue
        length = min(len(r.evals) for r in runs)
        steps = np.array([s for s, _, _ in runs[0].evals[:length]])
        vals = np.array([[m for _, _, m in r.evals[:length]] for r in runs])
        color = color_for(name, i)
        ax.plot(steps, vals.mean(0), color=color, label=name, gid=f"path:{name}")
        if len(runs) > 1:
            sd = vals.std(0, ddof=1)
            ax.fill_between(steps, vals.mean(0) - sd, vals.mean(0) + sd, color=color, alpha=0.15)
    ax.axhline(cmp.target, color="black", linestyle="--", linewidth=1, gid="target",
               label=f"target {cmp.target:g}")
    ax.set_xlabel("step t")
    ax.set_ylabel(cmp.metric)
    ax.set_title(f"{cmp.title}: {cmp.metric}")
    ax.legend(loc="best", fontsize=8)
    return fig


def plot_lr_sensitivity(cmp: Comparison) -> Figure:
    """Final training loss of seed 0 against the lr tried; chosen lr circled, diverged ``x``.

    For a comparison that chose lrs by range test, the range-test curves are drawn instead,
    with the suggestions marked.
    """
    fig, (ax,) = new_figure(1, width=7.5)
    if cmp.range_tests:
        for i, test in enumerate(cmp.range_tests):
            color = color_for(test.optimizer, i)
            ax.plot(test.lrs, test.smoothed, color=color, label=test.optimizer,
                    gid=f"path:{test.optimizer}")
            if test.suggestion is not None:
                ax.axvline(test.suggestion, color=color, linestyle=":", linewidth=1)
        ax.set_ylabel("smoothed training loss (range test)")
        ax.set_title("learning-rate range tests; dotted: suggestions")
    else:
        finite = [r.tail_loss() for r in cmp.runs
                  if r.seed == 0 and not r.diverged and r.phase != "ensemble"]
        top = max(finite) * 1.5 if finite else 1.0
        for i, name in enumerate(cmp.config.optimizers):
            runs = sorted((r for r in cmp.runs if r.optimizer == name and r.seed == 0
                           and (cmp.config.budget is None or r.phase == "tune")),
                          key=lambda r: r.lr)
            if not runs:
                continue
            color = color_for(name, i)
            lrs = [r.lr for r in runs]
            losses = [top if r.diverged else r.tail_loss() for r in runs]
            ax.plot(lrs, losses, "-o", color=color, label=name, gid=f"path:{name}",
                    markersize=4)
            for r, y in zip(runs, losses, strict=True):
                if r.diverged:
                    ax.plot([r.lr], [y], "x", color="red", markersize=10, markeredgewidth=2.5,
                            gid=f"diverged:{name}")
                if r.lr == cmp.chosen_lr.get(name):
                    ax.plot([r.lr], [y], "o", markerfacecolor="none", markeredgecolor=color,
                            markersize=12, markeredgewidth=2, gid=f"chosen:{name}")
        ax.set_ylabel("final training loss (seed 0; diverged drawn at top)")
        ax.set_title(("learning-rate grid" if cmp.config.budget is None else
                      "learning rates tried (validation trials)")
                     + ": circled = chosen, red x = diverged")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate ε (log scale)")
    ax.legend(loc="best", fontsize=8)
    return fig


def plot_final_metric(cmp: Comparison) -> Figure:
    """Final metric of every seed (dots) and mean ± std (bars), one row per optimizer."""
    fig, (ax,) = new_figure(1, width=7.5, height=0.45 * len(cmp.config.optimizers) + 1.8)
    names = cmp.config.optimizers
    for i, name in enumerate(names):
        vals = [r.final_metric for r in cmp.final_runs(name) if not r.diverged]
        color = color_for(name, i)
        if vals:
            ax.plot(vals, [i] * len(vals), "o", color=color, alpha=0.6, gid=f"seeds:{name}")
            sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            ax.errorbar([float(np.mean(vals))], [i], xerr=[sd], fmt="D", color=color,
                        capsize=4, gid=f"mean:{name}")
    ax.axvline(cmp.target, color="black", linestyle="--", linewidth=1, label="target")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"final {cmp.metric}")
    ax.set_ylabel("optimizer")
    ax.set_title("final metric: seeds (dots), mean ± std (diamond)")
    return fig


def plot_best_so_far(cmp: Comparison) -> Figure:
    """Best validation metric after k trials against k, one line per optimizer (a
    comparison run with a tuning budget): how the ranking depends on the budget."""
    fig, (ax,) = new_figure(1, width=7.5)
    for i, name in enumerate(cmp.config.optimizers):
        curve = best_so_far(cmp, name)
        if curve:
            ax.step(range(1, len(curve) + 1), curve, where="post", color=color_for(name, i),
                    label=name, gid=f"path:{name}")
    ax.set_xlabel("trials (search budget)")
    ax.set_ylabel(f"best validation metric so far ({cmp.metric.replace('test ', '')})")
    ax.set_title("tuning: best validation metric vs trials")
    ax.legend(loc="best", fontsize=8)
    return fig


def comparison_figures(cmp: Comparison) -> dict[str, Figure]:
    """Every report figure by file stem, in report order (``tuning`` only for a
    comparison run with a tuning budget)."""
    return {
        "metric": plot_metric_curves(cmp),
        "loss": plot_loss_curves(cmp),
        "final": plot_final_metric(cmp),
        "lr": plot_lr_sensitivity(cmp),
        **({} if cmp.config.budget is None else {"tuning": plot_best_so_far(cmp)}),
    }
