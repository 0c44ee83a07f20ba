"""One training run: an optimizer at one learning rate and seed on a training problem.

The run is minibatch SGD as the lecture has it (L5): shuffle the training set before
every epoch, walk through it ``batch_size`` examples at a time, one optimizer step per
minibatch (a problem with ``shuffle=False`` walks its stored order every epoch instead;
a last partial batch is skipped either way), through antigrad's training loop
(:mod:`antigrad.train.loop`). Divergence (L4) is detected, not continued: a non-finite
loss, a step the optimizer refuses (caught by type: a ``FloatingPointError`` such as
:class:`~antigrad.errors.NonFiniteGradientError`, a finite loss with a NaN/inf gradient),
or a loss above ``divergence_factor`` times the first one ends the run and marks it
``diverged``. An optimizer that evaluates the loss itself (second-order methods, torch's
LBFGS) gets a closure over the step's minibatch; the spec's lr schedule, if any, steps
after every step.

Only the training steps are timed (the loop's :class:`~antigrad.train.loop.Stopwatch`,
innermost of its hooks); evaluations of the metric (every ``eval_every`` steps on the
test set) and the run's bookkeeping are not counted in ``seconds``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..problems.base import Task, TrainingProblem
from ..train.loop import (
    ClosureStep,
    Every,
    GradientStep,
    Hook,
    Loop,
    LossAbove,
    StepRecord,
    StopAfter,
    StopOnDivergence,
    Stopwatch,
)
from .optimizers import OptimizerSpec, needs_closure

__all__ = ["RunResult", "RunRequest", "train_run", "DIVERGENCE_FACTOR", "MAX_CURVE_POINTS",
           "MAX_EVALS", "flush_denormals"]

#: A loss above this multiple of the first loss counts as diverged.
DIVERGENCE_FACTOR = 1e3

#: Most ``(step, loss)`` points a run keeps: longer runs keep means over consecutive steps,
#: so a run's memory does not grow with its length.
MAX_CURVE_POINTS = 10_000

#: Most evaluations of the metric in a run: longer runs evaluate less often.
MAX_EVALS = 1_000


#: Intra-op threads per run: the lab's models are small, one thread is as fast as two
#: and does not spin-wait (and slow down many-fold) when other processes share the CPU.
#: A batch of replicas may use more (:mod:`~antigrad.lab.batch_threads` times it).
RUN_THREADS = 1


@contextmanager
def flush_denormals(threads: int | None = RUN_THREADS) -> Iterator[None]:
    """CPU settings for a timed run, restored afterwards.

    Denormal floats are treated as zero: large-lr runs drive weights and activations into
    the denormal range, where CPU arithmetic is over ten times slower, and timings would
    measure that, not the method. ``threads`` (if not ``None``) sets torch's intra-op
    thread count for the run.
    """
    changed = torch.set_flush_denormal(True)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        if changed:
            torch.set_flush_denormal(False)


@dataclass
class RunResult:
    """What one run measured.

    ``losses`` holds ``(step, minibatch loss)`` for every step (a run of more than
    :data:`MAX_CURVE_POINTS` steps keeps the mean over each block of consecutive steps,
    stamped with the block's last step); ``evals`` holds ``(step, training seconds so far,
    metric)``, starting with step 0 (at most about :data:`MAX_EVALS` of them).
    ``final_loss`` is the last step's minibatch loss.
    ``steps_to_target``/``seconds_to_target`` are ``None`` when the target was not met.
    ``phase`` is ``tune`` (a search run), ``final`` (a seed at the chosen configuration)
    or ``ensemble`` (the averaged predictions of a group of final runs: its metric, no
    loss curve). ``params``: the hyperparameters a tuning trial drew besides the lr
    (:mod:`~antigrad.lab.search_space`), the chosen ones for a final run.
    """

    optimizer: str
    lr: float
    seed: int
    steps: int
    diverged: bool
    final_loss: float
    final_metric: float
    seconds: float
    steps_to_target: int | None = None
    seconds_to_target: float | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)
    evals: list[tuple[int, float, float]] = field(default_factory=list)
    phase: str = "final"
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return asdict(self)

    def tail_loss(self, fraction: float = 0.1) -> float:
        """Mean minibatch loss over the last ``fraction`` of steps (``inf`` if diverged)."""
        if self.diverged or not self.losses:
            return math.inf
        k = max(1, int(len(self.losses) * fraction))
        return sum(v for _, v in self.losses[-k:]) / k


@dataclass(frozen=True)
class RunRequest:
    """One run to train: ``spec`` at ``lr`` from ``seed``, saved as ``phase`` (``"tune"``
    or ``"final"``); ``overrides`` are hyperparameters of this run's own, given to the
    optimizer beside ``spec.kwargs`` (``{"weight_decay": 0.1}``, ``{"betas": (0.8,
    0.99)}``). :func:`~antigrad.lab.batching.run_many` trains many at once."""

    spec: OptimizerSpec
    lr: float
    seed: int = 0
    phase: str = "final"
    overrides: Mapping[str, Any] = field(default_factory=dict)


def train_run(problem: TrainingProblem, spec: OptimizerSpec, lr: float, seed: int = 0, *,
              steps: int | None = None, batch_size: int | None = None,
              eval_every: int | None = None, phase: str = "final",
              divergence_factor: float = DIVERGENCE_FACTOR,
              on_step: Callable[[int], None] | None = None,
              overrides: Mapping[str, Any] | None = None,
              on_done: Callable[[Task], None] | None = None) -> RunResult:
    """Train ``problem``'s model from ``seed`` with ``spec`` at ``lr``; see the module doc.
    ``overrides`` go to the optimizer's constructor beside ``spec.kwargs``;
    ``on_done(task)`` receives the trained task (its model holds the final weights), e.g.
    to make an ensemble of runs."""
    with flush_denormals():
        return _train(problem, spec, lr, seed, steps, batch_size, eval_every, phase,
                      divergence_factor, on_step, dict(overrides or {}), on_done)


def _settings(problem: TrainingProblem, steps: int | None, batch_size: int | None,
              eval_every: int | None) -> tuple[int, int, int]:
    """The run's steps, batch size and evaluation interval (the problem's by default;
    evaluations thinned to at most :data:`MAX_EVALS`)."""
    steps = problem.steps if steps is None else steps
    batch_size = problem.batch_size if batch_size is None else batch_size
    eval_every = problem.eval_every if eval_every is None else eval_every
    for name, value in (("steps", steps), ("batch_size", batch_size), ("eval_every", eval_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Invalid {name}: {value!r} (must be an int >= 1)")
    return steps, batch_size, max(eval_every, -(-steps // MAX_EVALS))


class _Curve:
    """``(step, loss)`` at bounded resolution: every step while ``steps <= limit``, else the
    mean over each ``ceil(steps / limit)`` consecutive steps, stamped with its last step."""

    def __init__(self, steps: int, limit: int) -> None:
        self.every, self.points = max(1, -(-steps // limit)), []
        self._sum, self._n = 0.0, 0

    def add(self, step: int, value: float) -> None:
        if self.every == 1:  # exactly the loss, as it always was
            self.points.append((step, value))
            return
        self._sum, self._n = self._sum + value, self._n + 1
        if self._n == self.every:
            self.flush(step)

    def flush(self, step: int) -> None:
        if self._n:
            self.points.append((step, self._sum / self._n))
            self._sum, self._n = 0.0, 0


class _Minibatches:
    """The run's minibatch order (L5): a new epoch whenever the next batch would run past
    the end of the training set, in a fresh permutation drawn from a generator seeded with
    the run's seed (or, without ``shuffle``, in the stored order); each call returns the
    next batch's row indices."""

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.gen = torch.Generator().manual_seed(10_000 + seed)
        self.order, self.pos = self._epoch(), 0

    def _epoch(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self.gen) if self.shuffle else \
            torch.arange(self.n)

    def __call__(self) -> torch.Tensor:
        if self.pos + self.batch_size > self.n:  # new epoch: reshuffle (or the same order)
            self.order, self.pos = self._epoch(), 0
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx


class _Record(Hook):
    """Every step's loss into the curve, the steps taken and the last loss into the result;
    ``on_step(step)`` for a progress display."""

    def __init__(self, result: RunResult, curve: _Curve,
                 on_step: Callable[[int], None] | None) -> None:
        self.result, self.curve, self.on_step = result, curve, on_step

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        self.curve.add(record.step, record.loss)
        self.result.steps, self.result.final_loss = record.step, record.loss
        self.result.diverged = record.diverged is not None
        if self.on_step is not None:
            self.on_step(record.step)


class _Schedule(Hook):
    """The lr schedule: one scheduler step after every step that did not diverge, but not
    after the last one (no step follows it)."""

    def __init__(self, scheduler: Any, steps: int) -> None:
        self.scheduler, self.steps = scheduler, steps

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        if record.diverged is None and record.step < self.steps:
            self.scheduler.step()


class _Evaluate:
    """The metric on the test set into ``result.evals`` (model in eval mode), and the
    first step and training second it reached the problem's target."""

    def __init__(self, problem: TrainingProblem, task: Any, result: RunResult) -> None:
        self.problem, self.task, self.result = problem, task, result

    def __call__(self, step: int, seconds: float) -> None:
        model = self.task.model
        model.eval()
        value = self.task.metric(model, self.task.x_test, self.task.y_test)
        model.train()
        self.result.evals.append((step, seconds, value))
        if self.result.steps_to_target is None and self.problem.reached(value):
            self.result.steps_to_target, self.result.seconds_to_target = step, seconds


def _train(problem: TrainingProblem, spec: OptimizerSpec, lr: float, seed: int,
           steps: int | None, batch_size: int | None, eval_every: int | None, phase: str,
           divergence_factor: float, on_step: Callable[[int], None] | None,
           overrides: dict[str, Any],
           on_done: Callable[[Task], None] | None = None) -> RunResult:
    steps, batch_size, eval_every = _settings(problem, steps, batch_size, eval_every)
    task = problem.make(seed)
    model, x, y = task.model, task.x_train, task.y_train
    opt = spec.build(model.parameters(), lr, **overrides)
    result = RunResult(spec.name, float(lr), seed, 0, False, math.nan, math.nan, 0.0,
                       phase=phase)
    evaluate, curve, clock = _Evaluate(problem, task, result), _Curve(steps, MAX_CURVE_POINTS), \
        Stopwatch()
    evaluate(0, 0.0)
    step = (ClosureStep if needs_closure(opt) else GradientStep)(
        opt, lambda idx: task.loss(model, x[idx], y[idx]),
        _Minibatches(len(x), min(batch_size, len(x)), seed, problem.shuffle))
    schedule = spec.build_schedule(opt, steps, lr)
    # after a step the hooks run last to first: the stopwatch stops first (it times the
    # step alone), then divergence is marked and acted on, then the schedule, the record
    # and evaluation
    Loop(step, [Every(eval_every, lambda loop: evaluate(loop.step, clock.seconds)),
                _Record(result, curve, on_step),
                *([] if schedule is None else [_Schedule(schedule, steps)]),
                StopAfter(steps), StopOnDivergence(), LossAbove(divergence_factor),
                clock]).run()
    curve.flush(result.steps)
    result.losses, result.seconds = curve.points, clock.seconds
    result.final_metric = math.nan if result.diverged else result.evals[-1][2]
    if on_done is not None:
        on_done(task)
    return result
