r"""The learning-rate range test (L4): grow ε exponentially until the loss diverges.

Step i of ``steps`` trains with ``ε_i = lr_min · (lr_max / lr_min)^(i / (steps − 1))`` and
records the batch loss; the loss is smoothed with a bias-corrected exponential moving
average (``s_i = EMA_β(L) / (1 − β^{i+1})``, β = ``beta``). The test stops early when the
loss is NaN/inf, the optimizer refuses a NaN/inf gradient (a ``FloatingPointError`` such
as :class:`~antigrad.engine.NonFiniteGradientError`), or ``s_i > diverge · min_{j<=i} s_j``.
Suggestions:

- ``"steepest"`` (default): the ε where the smoothed loss falls fastest per decade of ε,
  ``argmin_i ds/d log10 ε`` over the points up to the minimum of ``s`` (slopes by central
  differences over ±10% of the points, skipping the first 10%) — the middle of the range
  where training is fast and still stable;
- ``"min/10"``: a tenth of the ε at the minimum of ``s`` (a more conservative rule).

The steps run through antigrad's training loop (:mod:`antigrad.train.loop`): the sweep is
one of its hooks. The model's weights and, for an optimizer instance, the optimizer's
state (lr included) are restored afterwards; the caller's global RNG is left untouched.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .data import Data, forward_loss
from .loop import GradientStep, Hook, Loop, StepRecord, StopAfter, StopOnDivergence
from .parallel import World

__all__ = ["find_lr", "LRFinderResult"]


@dataclass
class LRFinderResult:
    """The range test's curve and suggestion (``suggestion`` is None when fewer than 3
    points preceded divergence: lower ``lr_min``)."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None
    method: str
    lr_at_min: float
    diverged_at: float | None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def safe_suggestion(self) -> float:
        """The suggestion capped at a tenth of the lr of the lowest smoothed loss
        (``min/10``): a whole run at the steepest point alone can sit next to instability."""
        cap = self.lr_at_min / 10
        return cap if self.suggestion is None else min(self.suggestion, cap)

    def plot(self, ax: Any = None) -> Any:
        """Loss and smoothed loss against lr (log scale), with the suggestion marked."""
        import matplotlib.pyplot as plt
        ax = ax or plt.gca()
        ax.plot(self.lrs, self.losses, alpha=0.3, label="loss")
        ax.plot(self.lrs, self.smoothed, label="smoothed")
        if self.suggestion is not None:
            ax.axvline(self.suggestion, ls="--", c="k", label=f"suggested {self.suggestion:.2g}")
        ax.set(xscale="log", xlabel="learning rate", ylabel="loss")
        ax.legend()
        return ax


def _suggest(lrs: list[float], smoothed: list[float], method: str) -> float | None:
    s = np.asarray(smoothed)
    low = int(np.argmin(s))
    if method == "min/10":
        return lrs[low] / 10
    if low < 2:
        return None
    s, x = s[:low + 1], np.log10(lrs[:low + 1])
    w = max(1, len(s) // 10)             # slopes over ±w points, past the noisy start
    i = np.arange(len(s))
    a, b = np.clip(i - w, 0, low), np.clip(i + w, 0, low)
    slope = (s[b] - s[a]) / (x[b] - x[a])
    start = w if low > w else 0
    return float(lrs[start + int(np.argmin(slope[start:]))])


def _check(lr_min: Any, lr_max: Any, steps: Any, beta: Any, diverge: Any, method: Any) -> None:
    for name, value in (("lr_min", lr_min), ("lr_max", lr_max)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"Invalid {name}: {value!r} (must be a number > 0)")
    if not lr_max > lr_min:
        raise ValueError(f"Invalid lr_max: {lr_max} (must be > lr_min = {lr_min})")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"Invalid steps: {steps!r} (must be an integer >= 2)")
    if not 0 <= beta < 1:
        raise ValueError(f"Invalid beta: {beta} (must be in [0, 1))")
    if not diverge > 1:
        raise ValueError(f"Invalid diverge: {diverge} (must be > 1)")
    if method not in ("steepest", "min/10"):
        raise ValueError(f"Invalid method: {method!r} (must be 'steepest' or 'min/10')")


def _optimizer(optimizer: Any, params: list[torch.Tensor], lr_min: float
               ) -> torch.optim.Optimizer:
    if optimizer is None:
        from ..optim import SGD
        return SGD(params, lr=lr_min)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        return optimizer(params)
    raise TypeError(f"Invalid optimizer: {optimizer!r} (must be None, an Optimizer or "
                    "a callable params -> Optimizer)")


class _Sweep(Hook):
    """Sets step i's lr ``lr_min · (lr_max / lr_min)^(i / (steps − 1))`` (each param group
    keeps its ratio to the first), records lr, loss and smoothed loss, and marks a step
    whose smoothed loss exceeds ``diverge`` times the lowest so far as diverged."""

    def __init__(self, opt: torch.optim.Optimizer, lr_min: float, lr_max: float, steps: int,
                 beta: float, diverge: float) -> None:
        self.opt, self.lr_min, self.lr_max, self.steps = opt, lr_min, lr_max, steps
        self.beta, self.diverge = beta, diverge
        first = opt.param_groups[0]["lr"]
        self.ratios = [g["lr"] / first if first else 1.0 for g in opt.param_groups]
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.avg, self.best, self.diverged_at = 0.0, math.inf, None

    def before_step(self, loop: Loop) -> None:
        lr = self.lr_min * (self.lr_max / self.lr_min) ** (loop.step / (self.steps - 1))
        for g, r in zip(self.opt.param_groups, self.ratios, strict=True):
            g["lr"] = lr * r
        self.lrs.append(lr)

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        self.losses.append(record.loss)
        if not math.isfinite(record.loss):
            self.smoothed.append(record.loss)
        else:
            i = record.step - 1
            self.avg = self.beta * self.avg + (1 - self.beta) * record.loss
            self.smoothed.append(self.avg / (1 - self.beta ** (i + 1)))
            self.best = min(self.best, self.smoothed[-1])
            if i > 0 and self.smoothed[-1] > self.diverge * self.best and \
                    record.diverged is None:
                record.diverged = f"smoothed loss > {self.diverge:g} x its minimum"
        if record.diverged is not None:
            self.diverged_at = self.lrs[-1]


class _Cycle:
    """The next batch of ``data``, epoch after epoch (a fresh order each epoch)."""

    def __init__(self, data: Data, generator: torch.Generator) -> None:
        self.data, self.generator = data, generator
        self.batches = data.epoch(generator)

    def __call__(self) -> Any:
        batch = next(self.batches, None)
        if batch is None:
            self.batches = self.data.epoch(self.generator)
            batch = next(self.batches)
        return batch[0]


def _sweep(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], data: Data,
           opt: torch.optim.Optimizer, sweep: _Sweep, seed: int | None) -> None:
    """The range test's steps through the training loop, on the caller's model and
    optimizer (the caller restores both)."""
    device, world = next(iter(model.parameters())).device, World()
    world.size, world.rank = 1, 0       # each rank runs its own test
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        if seed is not None:
            torch.manual_seed(seed)
        step = GradientStep(opt, lambda batch: forward_loss(model, loss_fn, batch, device,
                                                            world)[0],
                            _Cycle(data, generator))
        # after a step the hooks run last to first: the sweep records and marks, then
        # the divergence stop sees the mark
        Loop(step, [StopAfter(sweep.steps), StopOnDivergence(), sweep]).run()


def _result(sweep: _Sweep, method: str, lr_min: float) -> LRFinderResult:
    lrs, losses, smoothed = sweep.lrs, sweep.losses, sweep.smoothed
    finite = [k for k, s in enumerate(smoothed) if math.isfinite(s)]
    if not finite:
        raise ValueError(f"Invalid lr_min: {lr_min} (the loss is not finite even there)")
    n = len(finite)                     # a finite prefix; drop the point that diverged
    if sweep.diverged_at is not None and math.isfinite(smoothed[-1]):
        n = max(1, n - 1)
    curve_lrs, curve_s = lrs[:n], smoothed[:n]
    low = int(np.argmin(curve_s))
    return LRFinderResult(lrs=lrs, losses=losses, smoothed=smoothed,
                          suggestion=_suggest(curve_lrs, curve_s, method), method=method,
                          lr_at_min=curve_lrs[low], diverged_at=sweep.diverged_at)


def find_lr(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], train: Any, *,
            optimizer: Any = None, lr_min: float = 1e-7, lr_max: float = 10.0,
            steps: int = 100, batch_size: int | None = None, beta: float = 0.9,
            diverge: float = 4.0, method: str = "steepest", seed: int | None = 0
            ) -> LRFinderResult:
    """Run the learning-rate range test and return the curve and a suggested lr.

    ``optimizer`` is None (``antigrad.SGD``), an instance (its param groups keep their lr
    ratios; its state is restored afterwards) or a callable ``params -> Optimizer``.

    Example::

        >>> import torch, antigrad
        >>> x = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
        >>> y = x.sum(1, keepdim=True)
        >>> model = torch.nn.Linear(4, 1)
        >>> before = model.weight.clone()
        >>> r = antigrad.find_lr(model, torch.nn.functional.mse_loss, (x, y), lr_min=1e-4,
        ...                      lr_max=10, steps=60)
        >>> r.diverged, 1e-3 < r.suggestion < 2, torch.equal(model.weight, before)
        (True, True, True)
    """
    _check(lr_min, lr_max, steps, beta, diverge, method)
    data = Data(train, batch_size)
    opt = _optimizer(optimizer, [p for p in model.parameters() if p.requires_grad], lr_min)
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    sweep = _Sweep(opt, lr_min, lr_max, steps, beta, diverge)
    was_training = model.training
    model.train()
    try:
        _sweep(model, loss_fn, data, opt, sweep, seed)
    finally:
        model.load_state_dict(saved_model)
        opt.load_state_dict(saved_opt)
        opt.zero_grad(set_to_none=True)
        model.train(was_training)
    return _result(sweep, method, lr_min)
