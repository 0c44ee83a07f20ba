r"""The training loop: every step antigrad takes goes through :class:`Loop`.

:func:`antigrad.fit`, the learning-rate range test (:func:`antigrad.find_lr`), the lab's
runs (:func:`antigrad.lab.train_run`), its trajectories (:func:`antigrad.lab.run_path`)
and the lecture figures all build a :class:`Loop` from a *step* and a list of *hooks*.

The loss convention
    The loop sees a loss only through the step: a step computes ``loss = objective(batch)``,
    a 0-dim tensor, the **mean** loss over the batch's examples (the gradient is that of
    the mean, ``1/K Σ_{n∈I_t} ∇ℓ_n``), calls ``backward`` on it once and reports
    ``float(loss)``. :class:`GradientStep` is that step for one optimizer
    (:class:`ClosureStep` for one that evaluates the loss itself, through a closure);
    :func:`antigrad.fit` builds its objective from ``loss_fn(model(*inputs), target)``,
    the lab from its task's ``loss(model, x, y)``.

Divergence, by type
    A step whose loss is NaN/inf is not applied; a step the optimizer refuses by raising
    :class:`FloatingPointError` (:class:`~antigrad.errors.NonFiniteGradientError`: a
    finite loss with a NaN/inf gradient; :class:`~antigrad.errors.NonFiniteLossError`)
    is reported as diverged. Both end in the step's :class:`StepRecord` (``diverged``
    says why); a hook decides what a diverged step means (:class:`StopOnDivergence` ends
    the loop). Errors are never matched by their message.

The hook protocol
    A hook overrides any of :class:`Hook`'s methods: ``on_start(loop)`` once,
    ``before_step(loop)`` and ``after_step(loop, record)`` around every step,
    ``on_end(loop)`` once. Hooks nest like context managers: ``before_step`` runs in list
    order, ``after_step`` in reverse order, so the *last* hook is the innermost one —
    put :class:`Stopwatch` last and it times the step alone, not the other hooks. A hook
    ends the loop with ``loop.stop(reason)``: the loop finishes the current round of
    hooks (every hook sees every step) and returns. Evaluation every N steps
    (:class:`Every`), early divergence (:class:`StopOnDivergence`,
    :class:`LossAbove`), timing (:class:`Stopwatch`) and the step budget
    (:class:`StopAfter`) are hooks; so are fit's stopping rules, validation, schedulers,
    checkpoints and user callbacks (:mod:`antigrad.train.run`).

Example: 20 steps of SGD on a quadratic, timed, evaluated every 5 steps::

    >>> import torch
    >>> from antigrad.train.loop import Every, GradientStep, Loop, StopAfter, Stopwatch
    >>> w = torch.nn.Parameter(torch.tensor([3.0]))
    >>> opt = torch.optim.SGD([w], lr=0.1)
    >>> step = GradientStep(opt, lambda batch: (w ** 2).sum(), lambda: None)
    >>> seen = []
    >>> clock = Stopwatch()
    >>> loop = Loop(step, [Every(5, lambda lp: seen.append(lp.step)), StopAfter(20), clock])
    >>> loop.run()
    'reached 20 steps'
    >>> seen, loop.step, clock.seconds > 0, round(float(w.detach()), 4)
    ([5, 10, 15, 20], 20, True, 0.0346)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from .collector import objects_frozen

__all__ = ["Loop", "Hook", "Step", "StepRecord", "GradientStep", "ClosureStep", "Stopwatch",
           "Every",
           "StopAfter", "StopOnDivergence", "LossAbove", "refused_step"]


@dataclass
class StepRecord:
    """What one step did: its number, the batch's mean loss, and why it diverged (None
    when it was applied); ``extra`` holds a step's own measurements."""

    step: int
    loss: float
    diverged: str | None = None
    extra: Any = None


class Step(Protocol):
    """One step of training: ``step(n) -> StepRecord`` for step number ``n`` (from 1)."""

    def __call__(self, n: int) -> StepRecord: ...


class Hook:
    """Base class of the loop's hooks; every method does nothing until overridden."""

    def on_start(self, loop: Loop) -> None:
        """Once, before the first step."""

    def before_step(self, loop: Loop) -> None:
        """Before every step (``loop.step`` is still the previous step's number)."""

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        """After every step (``loop.step == record.step``)."""

    def on_end(self, loop: Loop) -> None:
        """Once, after the last step (``loop.stop_reason`` says why it ended)."""


def _overridden(hooks: Sequence[Hook], name: str) -> list[Callable[..., None]]:
    """The hooks' bound ``name`` methods, only where a hook overrides it: a step calls no
    empty method."""
    return [getattr(h, name) for h in hooks if getattr(type(h), name) is not getattr(Hook, name)]


class Loop:
    """``step`` taken again and again, with ``hooks`` around it, until a hook stops it.

    ``loop.step`` is the number of steps taken (from ``start``: the steps a resumed run
    already took), ``loop.stop_reason`` why it ended (None while it runs), ``loop.last``
    the last step's :class:`StepRecord`.
    """

    def __init__(self, step: Step, hooks: Sequence[Hook], *, start: int = 0) -> None:
        if not hooks:
            raise ValueError("Invalid hooks: none given, so nothing would stop the loop "
                             "(add StopAfter(n) or another stopping hook)")
        for h in hooks:
            if not isinstance(h, Hook):
                raise TypeError(f"Invalid hook: {h!r} (must be an antigrad.train.loop.Hook)")
        self.take_step, self.hooks = step, list(hooks)
        self.step, self.stop_reason = start, None
        self.last: StepRecord | None = None
        self._before = _overridden(self.hooks, "before_step")
        self._after = _overridden(self.hooks, "after_step")[::-1]

    def stop(self, reason: str) -> None:
        """End the loop after this step's hooks; the first reason given is kept."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def run(self) -> str:
        """Take steps until a hook stops the loop; returns why it stopped.

        The objects alive when it starts are frozen for the garbage collector while it
        runs (:func:`~antigrad.train.collector.objects_frozen`): a collection of the
        oldest generation walks the loop's own objects, not the whole process's."""
        with objects_frozen():
            return self._run()

    def _run(self) -> str:
        for hook in self.hooks:
            hook.on_start(self)
        while self.stop_reason is None:
            for before in self._before:
                before(self)
            record = self.take_step(self.step + 1)
            self.step, self.last = record.step, record
            for after in self._after:
                after(self, record)
        for hook in self.hooks:
            hook.on_end(self)
        return self.stop_reason


def refused_step(optimizer: torch.optim.Optimizer,
                 closure: Callable[[], torch.Tensor] | None = None) -> str | None:
    """``optimizer.step()`` (or ``step(closure)``), its verdict settled (a device backend
    may leave it pending); returns why the optimizer refused the step (it raised a
    :class:`FloatingPointError`, such as :class:`~antigrad.errors.NonFiniteGradientError`),
    else None."""
    try:
        optimizer.step() if closure is None else optimizer.step(closure)
        getattr(optimizer, "synchronize", _nothing)()
    except FloatingPointError as err:   # by type: NonFiniteGradientError/LossError
        return f"{type(err).__name__}: {err}"
    return None


def _nothing() -> None:
    return None


class GradientStep:
    """One minibatch step of ``optimizer`` on ``objective(batches())``.

    ``batches()`` returns the next batch (it runs inside the step, so a timed step
    includes choosing its batch); ``objective(batch)`` returns the batch's mean loss as a
    0-dim tensor. A NaN/inf loss is neither back-propagated nor applied; a step the
    optimizer refuses is reported as diverged (see the module doc).
    """

    def __init__(self, optimizer: torch.optim.Optimizer,
                 objective: Callable[[Any], torch.Tensor], batches: Callable[[], Any]) -> None:
        self.optimizer, self.objective, self.batches = optimizer, objective, batches

    def __call__(self, n: int) -> StepRecord:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.objective(self.batches())
        value = float(loss.detach())
        if not math.isfinite(value):
            return StepRecord(n, value, "non-finite loss")
        loss.backward()
        return StepRecord(n, value, refused_step(self.optimizer))


class ClosureStep:
    """One ``optimizer.step(closure)``, for methods that evaluate the loss themselves
    (second-order methods and their line searches, a look-ahead): the closure zeroes the
    gradients, computes ``objective(batch)`` on the step's batch, back-propagates and
    returns it, as often as the optimizer calls it. The record's loss is the closure's
    first value in the step (the loss where the step started, as for
    :class:`GradientStep`); a NaN/inf one, or a step refused with a
    :class:`FloatingPointError`, is reported as diverged.
    """

    def __init__(self, optimizer: torch.optim.Optimizer,
                 objective: Callable[[Any], torch.Tensor], batches: Callable[[], Any]) -> None:
        self.optimizer, self.objective, self.batches = optimizer, objective, batches
        self.values: list[float] = []

    def __call__(self, n: int) -> StepRecord:
        batch, self.values = self.batches(), []

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.objective(batch)
            self.values.append(float(loss.detach()))
            loss.backward()
            return loss

        refused = refused_step(self.optimizer, closure)
        first = self.values[0] if self.values else math.nan
        if refused is None and not math.isfinite(first):
            refused = "non-finite loss"
        return StepRecord(n, first, refused)


class Stopwatch(Hook):
    """Seconds spent inside the steps (``seconds``); put it last among the hooks so that
    it times the step alone."""

    def __init__(self) -> None:
        self.seconds, self._t0 = 0.0, 0.0

    def before_step(self, loop: Loop) -> None:
        self._t0 = time.perf_counter()

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        self.seconds += time.perf_counter() - self._t0


class Every(Hook):
    """``fn(loop)`` after every ``n``-th step and after the step the loop stops at (unless
    that step diverged): evaluation every N steps."""

    def __init__(self, n: int, fn: Callable[[Loop], Any], *, at_end: bool = True) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"Invalid n: {n!r} (must be an integer >= 1)")
        self.n, self.fn, self.at_end = n, fn, at_end

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        if record.diverged is None and self.due(loop, record.step):
            self.fn(loop)

    def due(self, loop: Loop, step: int) -> bool:
        """Whether ``fn`` runs after ``step`` (if that step did not diverge)."""
        return step % self.n == 0 or (self.at_end and loop.stop_reason is not None)


class StopAfter(Hook):
    """The budget: stop after step ``steps``."""

    def __init__(self, steps: int) -> None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"Invalid steps: {steps!r} (must be an integer >= 1)")
        self.steps = steps

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        if record.step >= self.steps:
            loop.stop(f"reached {self.steps} steps")


class StopOnDivergence(Hook):
    """Stop at the first diverged step (its ``diverged`` reason becomes the loop's)."""

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        if record.diverged is not None:
            loop.stop(f"diverged: {record.diverged}")


class LossAbove(Hook):
    """Early divergence: mark a step diverged when its loss exceeds ``factor`` times the
    first step's (``|loss_1|``, at least 1e-12). Put it after :class:`StopOnDivergence`
    (hooks run in reverse order after a step), so the mark is seen there."""

    def __init__(self, factor: float) -> None:
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
            raise ValueError(f"Invalid factor: {factor!r} (must be a number > 0)")
        self.factor, self.limit = float(factor), None

    def on_start(self, loop: Loop) -> None:
        self.limit = None

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        if self.limit is None:
            self.limit = self.limit_from(record.loss)
        elif record.diverged is None and record.loss > self.limit:
            record.diverged = f"loss {record.loss:.4g} > {self.factor:g} x the first loss"

    def limit_from(self, first_loss: float) -> float:
        """The loss above which a step diverged, given the first step's loss."""
        return self.factor * max(abs(first_loss), 1e-12)
