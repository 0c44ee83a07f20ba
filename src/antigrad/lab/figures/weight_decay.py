"""L2 regularization inside Adam against AdamW's decoupled weight decay (L14).

With ``λ‖w‖²`` added to the loss, Adam divides the decay gradient ``2λw`` by the same
``sqrt(Ĝ)`` as the data gradient, so a weight whose gradients are large (``sqrt(Ĝ) ≈ σ``) is
shrunk by about ``ε·2λw/σ`` per step — much less than one whose gradients are small. AdamW
subtracts ``ε·2λw`` after the adaptive step: every weight shrinks alike.

The experiment: weights ``w_i = 1`` whose data gradient is pure noise of size ``σ_i``
(``±σ_i``, alternating: zero mean, so without regularization they stay put). Three runs
of antigrad's textbook optimizers see the same gradients: ``Adam`` without decay (the
reference), ``Adam(weight_decay=λ)`` (L2 in the gradient) and ``AdamW(weight_decay=λ)``.
The *shrink* of a weight is how far below the reference its regularized run ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

from ... import validation
from ...textbook import Adam, AdamW
from ...train.loop import GradientStep, Hook, Loop, StepRecord, StopAfter
from ._draw import new_figure

__all__ = ["plot_weight_decay", "ShrinkRuns", "shrink_runs"]


@dataclass
class ShrinkRuns:
    """Weights per step (rows: steps ``0..T``, columns: the gradient scales ``sigmas``)."""

    sigmas: np.ndarray
    reference: np.ndarray
    l2_adam: np.ndarray
    adamw: np.ndarray

    def shrink(self, which: str) -> np.ndarray:
        """Final reference weight minus the final regularized weight, per scale."""
        return self.reference[-1] - getattr(self, which)[-1]


def _run(optimizer_class: type, sigmas: torch.Tensor, steps: int, **kwargs: float) -> np.ndarray:
    w = torch.nn.Parameter(torch.ones_like(sigmas))
    opt = optimizer_class([w], **kwargs)
    trace = _Trace(w)

    def noise(t: int) -> torch.Tensor:          # data gradient ±σ_i: pure noise
        return ((1.0 if t % 2 == 0 else -1.0) * sigmas * w).sum()

    Loop(GradientStep(opt, noise, _Clock()), [StopAfter(steps), trace]).run()
    return torch.stack(trace.points).numpy()


class _Clock:
    """The "batch" of step t is t itself (0, 1, 2, ...): it picks the gradient's sign."""

    def __init__(self) -> None:
        self.t = -1

    def __call__(self) -> int:
        self.t += 1
        return self.t


class _Trace(Hook):
    """The weights after every step, from the start."""

    def __init__(self, w: torch.Tensor) -> None:
        self.w, self.points = w, [w.detach().clone()]

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        self.points.append(self.w.detach().clone())


def shrink_runs(sigmas: np.ndarray, lr: float, weight_decay: float, steps: int) -> ShrinkRuns:
    """The three runs of the module docstring (float64)."""
    s = torch.as_tensor(np.asarray(sigmas, dtype=np.float64))
    return ShrinkRuns(
        sigmas=s.numpy(),
        reference=_run(Adam, s, steps, lr=lr),
        l2_adam=_run(Adam, s, steps, lr=lr, weight_decay=weight_decay),
        adamw=_run(AdamW, s, steps, lr=lr, weight_decay=weight_decay),
    )


def plot_weight_decay(lr: float = 0.01, weight_decay: float = 0.005, steps: int = 300,
                      sigmas: np.ndarray | None = None) -> Figure:
    """How much L2-in-Adam and AdamW actually shrink weights with small and large gradients.

    Left: the weights with the smallest and the largest gradient scale under both methods
    (the no-decay reference stays at 1). Right: the shrink after ``steps`` steps against the
    gradient scale σ (log-log): AdamW's is flat at about ``steps·ε·2λ`` whatever σ is;
    L2-in-Adam's falls like ``steps·ε·2λ/σ`` (dashed) — weights with large gradients are
    hardly regularized, weights with tiny gradients are pulled all the way to 0.
    """
    if not (validation.number("lr", lr) > 0
            and validation.number("weight_decay", weight_decay) > 0):
        raise ValueError(f"Invalid settings: lr={lr!r}, weight_decay={weight_decay!r} "
                         "(both must be > 0)")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 10:
        raise ValueError(f"Invalid steps: {steps!r} (must be an int >= 10)")
    sig = np.geomspace(1e-3, 10.0, 13) if sigmas is None else np.asarray(sigmas, float)
    if sig.ndim != 1 or sig.size < 2 or not np.all(sig > 0):
        raise ValueError("Invalid sigmas: need at least 2 gradient scales, all > 0")
    runs = shrink_runs(sig, lr, weight_decay, steps)
    fig, (ax, shrink_ax) = new_figure(2)
    t = np.arange(steps + 1)
    ax.plot(t, runs.reference[:, -1], color="#7f7f7f", label="no decay (either σ)",
            gid="weight:reference")
    for col, size in ((0, "small"), (-1, "large")):
        sigma = runs.sigmas[col]
        ax.plot(t, runs.l2_adam[:, col], color="#d62728",
                linestyle="-" if size == "small" else "--",
                label=f"L2 in Adam, σ = {sigma:g} ({size} gradients)", gid=f"weight:l2-{size}")
        ax.plot(t, runs.adamw[:, col], color="#2ca02c",
                linestyle="-" if size == "small" else "--",
                label=f"AdamW, σ = {sigma:g} ({size} gradients)", gid=f"weight:adamw-{size}")
    ax.set_xlabel("step t")
    ax.set_ylabel("weight w_t (starts at 1)")
    ax.set_title(f"ε = {lr:g}, λ = {weight_decay:g}: which weights shrink")
    ax.legend(loc="lower left", fontsize=8)
    nominal = steps * lr * 2 * weight_decay
    shrink_ax.plot(runs.sigmas, runs.shrink("l2_adam"), "-o", color="#d62728",
                   label="L2 in Adam (Adam, weight_decay=λ)", gid="shrink:l2-adam")
    shrink_ax.plot(runs.sigmas, runs.shrink("adamw"), "-s", color="#2ca02c",
                   label="AdamW (weight_decay=λ)", gid="shrink:adamw")
    shrink_ax.plot(runs.sigmas, nominal / runs.sigmas, ":", color="#d62728",
                   label=f"T·ε·2λ/σ = {nominal:.3g}/σ", gid="formula:l2-adam")
    shrink_ax.axhline(nominal, color="#2ca02c", linestyle=":", gid="formula:adamw",
                      label=f"T·ε·2λ = {nominal:.3g}")
    shrink_ax.set_xscale("log")
    shrink_ax.set_yscale("log")
    shrink_ax.set_ylim(nominal / runs.sigmas.max() / 3, 2.0)
    shrink_ax.set_xlabel("gradient scale σ (|∂L/∂w|)")
    shrink_ax.set_ylabel(f"shrink after T = {steps} steps")
    shrink_ax.set_title("large gradients: L2-in-Adam barely regularizes")
    shrink_ax.legend(loc="lower left", fontsize=8)
    fig.suptitle("weight decay in Adam: L2 in the gradient vs decoupled (AdamW, L14)")
    return fig
