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

The model's weights and, for an optimizer instance, the optimizer's state (lr included)
are restored afterwards; the caller's global RNG is left untouched.
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


def _stepped(opt: Any) -> bool:
    """One optimizer step, its verdict settled (a device backend may leave it pending);
    False when the optimizer refused a NaN/inf gradient: that lr diverged."""
    try:
        opt.step()
        getattr(opt, "synchronize", lambda: None)()
    except FloatingPointError:
        return False
    return True


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
    data = Data(train, batch_size)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None:
        from ..optim import SGD
        opt = SGD(params, lr=lr_min)
    elif isinstance(optimizer, torch.optim.Optimizer):
        opt = optimizer
    elif callable(optimizer):
        opt = optimizer(params)
    else:
        raise TypeError(f"Invalid optimizer: {optimizer!r} (must be None, an Optimizer or "
                        "a callable params -> Optimizer)")
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    ratios = [g["lr"] / opt.param_groups[0]["lr"] if opt.param_groups[0]["lr"] else 1.0
              for g in opt.param_groups]
    device, world = params[0].device, World()
    world.size, world.rank = 1, 0       # each rank runs its own test
    lrs, losses, smoothed = [], [], []
    avg, best, diverged_at = 0.0, math.inf, None
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    was_training = model.training
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        if seed is not None:
            torch.manual_seed(seed)
        model.train()
        try:
            batches = data.epoch(generator)
            for i in range(steps):
                lr = lr_min * (lr_max / lr_min) ** (i / (steps - 1))
                for g, r in zip(opt.param_groups, ratios, strict=True):
                    g["lr"] = lr * r
                batch = next(batches, None)
                if batch is None:
                    batches = data.epoch(generator)
                    batch = next(batches)
                opt.zero_grad(set_to_none=True)
                loss, _, _ = forward_loss(model, loss_fn, batch[0], device, world)
                value = float(loss.detach())
                lrs.append(lr)
                losses.append(value)
                if not math.isfinite(value):
                    smoothed.append(value)
                    diverged_at = lr
                    break
                avg = beta * avg + (1 - beta) * value
                smoothed.append(avg / (1 - beta ** (i + 1)))
                best = min(best, smoothed[-1])
                if i > 0 and smoothed[-1] > diverge * best:
                    diverged_at = lr
                    break
                loss.backward()
                if not _stepped(opt):
                    diverged_at = lr
                    break
        finally:
            model.load_state_dict(saved_model)
            opt.load_state_dict(saved_opt)
            opt.zero_grad(set_to_none=True)
            model.train(was_training)
    finite = [k for k, s in enumerate(smoothed) if math.isfinite(s)]
    if not finite:
        raise ValueError(f"Invalid lr_min: {lr_min} (the loss is not finite even there)")
    n = len(finite)                     # a finite prefix; drop the point that diverged
    if diverged_at is not None and math.isfinite(smoothed[-1]):
        n = max(1, n - 1)
    curve_lrs, curve_s = lrs[:n], smoothed[:n]
    low = int(np.argmin(curve_s))
    return LRFinderResult(lrs=lrs, losses=losses, smoothed=smoothed,
                          suggestion=_suggest(curve_lrs, curve_s, method), method=method,
                          lr_at_min=curve_lrs[low], diverged_at=diverged_at)
