"""A stopping rule driven from outside :func:`antigrad.fit`, by another trainer's hooks.

:class:`RuleWatch` keeps the bookkeeping the fit loop keeps around its rule (the step and
epoch counters, the previous step's loss, the epoch's example-weighted mean loss, the
gradient norm and weight change when the rule needs them) and builds the same
:class:`~antigrad.stop.Observation`, so a rule fires at the same step as in ``fit``. The
trainer calls, for every optimizer step:

1. :meth:`before_step` once the gradients are ready (lr, gradient norm, weights before);
2. :meth:`after_step` after the step, with the step's loss and number of examples; it
   returns the observation, which the trainer may hold back until the epoch's end or a
   validation that follows the step, and fill in with :meth:`judge` (``val=``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from ..stop import Fired, Observation, StopRule

__all__ = ["RuleWatch", "WatchedRule"]


def _grad_norm(params: list[torch.Tensor]) -> float:
    # float64 like the fit loop, so a threshold test agrees with fit bit for bit
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(g.detach().to(torch.float64)) for g in grads])))


class RuleWatch:
    """One run's stopping rule and the bookkeeping around it (see the module docstring)."""

    def __init__(self, rule: StopRule) -> None:
        if not isinstance(rule, StopRule):
            raise TypeError(f"Invalid rule: {rule!r} (must be an antigrad.stop rule, e.g. "
                            "stop.LossChange(1e-6) | stop.MaxSteps(1000))")
        self.rule = rule
        self.reset()

    def reset(self) -> None:
        """Start a new run: forget the counters and the rule's state."""
        self.rule.reset()
        self.step = self.epoch = 0
        self.prev_loss: float | None = None
        self.epoch_sum, self.epoch_n = 0.0, 0
        self.fired: Fired | None = None
        self._lr: float | None = None
        self._grad_norm: float | None = None
        self._before: list[torch.Tensor] | None = None

    def before_step(self, params: Iterable[torch.Tensor], lr: float) -> None:
        """The gradients of this step are in ``.grad``; the optimizer has not stepped."""
        params = [p for p in params if p.requires_grad]
        self._lr = float(lr)
        self._grad_norm = _grad_norm(params) if "grad_norm" in self.rule.needs else None
        self._before = [p.detach().clone() for p in params] \
            if "weight_change" in self.rule.needs else None

    def after_step(self, loss: float, n: int, params: Iterable[torch.Tensor],
                   epoch_end: bool = False) -> Observation:
        """Count the step (loss of its batch of ``n`` examples at the weights before it)."""
        change = None
        if self._before is not None:
            now = [p.detach() for p in params if p.requires_grad]
            change = math.sqrt(sum(float((p - b).to(torch.float64).pow(2).sum())
                                   for p, b in zip(now, self._before, strict=True)))
        self.step += 1
        self.epoch_sum += loss * n
        self.epoch_n += n
        epoch_loss = None
        if epoch_end:
            self.epoch += 1
            epoch_loss = self.epoch_sum / self.epoch_n if self.epoch_n else loss
            self.epoch_sum, self.epoch_n = 0.0, 0
        obs = Observation(step=self.step, epoch=self.epoch, loss=float(loss),
                          prev_loss=self.prev_loss, lr=self._lr, epoch_end=epoch_end,
                          epoch_loss=epoch_loss, grad_norm=self._grad_norm,
                          weight_change=change)
        self.prev_loss = float(loss)
        self._before = None
        return obs

    def judge(self, obs: Observation, val: dict[str, float] | None = None,
              model: torch.nn.Module | None = None) -> Fired | None:
        """Ask the rule about ``obs`` (once per step), with the validation results of that
        step if any; the first rule that fires is kept in :attr:`fired`."""
        obs.val, obs.model = val, model
        fired = self.rule(obs)
        if fired is not None and self.fired is None:
            self.fired = fired
        return fired


class WatchedRule:
    """What a trainer's stop callback tells about its rule (``self.watch`` is its
    :class:`RuleWatch`): the rule, the firing, and its name and reason as ``fit`` reports
    them. Shared by the Lightning and Hugging Face callbacks."""

    watch: RuleWatch

    @property
    def rule(self) -> StopRule:
        return self.watch.rule

    @property
    def fired(self) -> Fired | None:
        return self.watch.fired

    @property
    def stopped_by(self) -> str | None:
        return None if self.fired is None else repr(self.fired.rule)

    @property
    def stop_reason(self) -> str | None:
        return None if self.fired is None else self.fired.reason
