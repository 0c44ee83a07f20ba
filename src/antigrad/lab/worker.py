"""Running what a comparison still has to run (:mod:`~antigrad.lab.plan`), saving each
result as it finishes.

- :func:`work_on` is one worker on a comparison in a store: it claims work from the
  comparison's shared work list (:mod:`~antigrad.lab.queue`), trains it, saves it, and
  goes on until the comparison is complete, waiting while other workers hold all that is
  left. Any number of workers, on one machine or several (a PostgreSQL store), share a
  comparison this way; ``antigrad compare`` is one of them, ``antigrad work ID`` adds more.
- :func:`run_remaining` goes on with a comparison in this process alone, without a work
  list: the missing runs of each optimizer's current stage (an lr grid's missing points,
  the range test, the next trial, the missing seeds), the lr chosen as soon as its stage
  1 is complete.

Both take their work the same way (:func:`~antigrad.lab.plan.next_items`) and train it
through one loop: an item alone, or the grid points (trials, seeds) of several optimizers
together as one batch of replicas (:func:`~antigrad.lab.batching.run_many`) when there
are at least :data:`~antigrad.lab.replicas.MIN_REPLICAS` of them.

Either way the result is the one an uninterrupted
:func:`~antigrad.lab.compare.run_compare` makes.

Example::

    >>> from antigrad.lab import CompareConfig, new_comparison
    >>> cmp = run_remaining(new_comparison(CompareConfig("breast-cancer", ["sgd"],
    ...                                                  grid_points=2, seeds=2, steps=5)))
    >>> cmp.complete, len(cmp.runs)
    (True, 3)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..problems.registry import get_training_problem
from . import compare
from .batching import MAX_REPLICAS, run_many
from .compare import Comparison, Progress, Recorder, count_runs
from .lr_range import LRRangeResult, lr_range_test
from .optimizers import get_optimizer
from .plan import Work, choose, next_items, pending, ready_to_choose, remaining
from .queue import LEASE, Claim, WorkQueue
from .replicas import batchable
from .runner import RunRequest, RunResult
from .store import Store

__all__ = ["run_remaining", "execute", "work_on", "WorkerReport", "POLL"]

#: Seconds between looks at the work list while other workers hold all that is left.
POLL = 1.0


def execute(cmp: Comparison, items: list[Work], replicas: bool = True
            ) -> Iterator[RunResult | LRRangeResult]:
    """Run ``items`` (of one kind: one range test, or grid points, trials or seeds of any
    optimizers), yielding each result in their order, as batches of replicas where
    worthwhile (:func:`~antigrad.lab.batching.run_many`). A trial's lr is drawn from the
    trials ``cmp`` holds (:func:`~antigrad.lab.tuning.trial_request`)."""
    config = cmp.config
    problem = get_training_problem(config.problem)
    kind = items[0].kind
    if any(w.kind != kind for w in items) or (kind == "range" and len(items) > 1):
        raise ValueError("Invalid work: grid points, trials or seeds of one kind, or one "
                         "range test, at a time")
    if kind == "range":
        yield lr_range_test(problem, get_optimizer(items[0].optimizer),
                            batch_size=config.batch_size)
        return
    common: dict[str, Any] = dict(steps=config.steps, batch_size=config.batch_size,
                                  eval_every=config.eval_every)
    if kind == "group":  # one result per group: its new member runs and its ensemble
        from .tuning import run_group

        for w in items:
            yield list(run_group(cmp, w.optimizer, w.seed, problem))
        return
    if kind == "trial":
        from . import tuning

        drawn = [tuning.draw_trial(cmp, w.optimizer, w.number) for w in items]
        runs = run_many(tuning.validation_problem(problem), [q for q, _ in drawn],
                        replicas=replicas, train_alone=tuning.train_run, **common)
        yield from _with_params(runs, [params for _, params in drawn])
        return
    requests, params = [], []
    for w in items:
        spec, drawn = _configured(cmp, w)
        requests.append(RunRequest(spec, w.lr, w.seed, w.phase))
        params.append(drawn)
    # runs alone train as compare's do (its train_run, looked up when they run)
    yield from _with_params(run_many(problem, requests, replicas=replicas,
                                     train_alone=compare.train_run, **common), params)


def _configured(cmp: Comparison, w: Work) -> tuple[Any, dict[str, Any]]:
    """The optimizer ``w`` trains with, and the drawn hyperparameters it has: a tuned
    optimizer's seeds use its chosen configuration."""
    if cmp.config.budget is None or w.kind != "seed":
        return get_optimizer(w.optimizer), {}
    from .tuning import chosen, final_spec

    return final_spec(cmp, w.optimizer), chosen(cmp, w.optimizer)[1]


def _with_params(runs: list[RunResult], params: list[dict[str, Any]]) -> Iterator[RunResult]:
    """``runs``, each given its drawn hyperparameters (saved with it)."""
    for run, drawn in zip(runs, params, strict=True):
        run.params = dict(drawn)
        yield run


def run_remaining(cmp: Comparison, progress: Progress | None = None,
                  recorder: Recorder | None = None, *, replicas: bool = True) -> Comparison:
    """Run every missing run of ``cmp`` in this process (see the module doc); ``progress``
    and ``recorder`` as for :func:`~antigrad.lab.compare.run_compare`; ``replicas`` as for
    :func:`work_on`."""
    if cmp.complete:
        raise ValueError(f"Invalid comparison: comparison {cmp.id} is complete "
                         "(nothing to resume)")
    cmp.config.validate()
    total = count_runs(cmp.config)
    plan = _PlannedWork(cmp, recorder, _batchable(cmp) if replicas else set())

    def done(work: Work, result: Any, stored: int | None) -> None:
        if progress is not None:
            progress(_label(result), stored or 0, total)

    _work_through(plan, replicas, done)
    cmp.seconds = plan.seconds()
    cmp.complete = True
    if recorder is not None:
        recorder.finish()
    return cmp


Result = RunResult | LRRangeResult | list[RunResult]


class _Source(Protocol):
    """Where the work comes from and its results go: the comparison's plan in this process
    (:class:`_PlannedWork`) or its shared work list (:class:`_ClaimedWork`)."""

    def take(self) -> list[Work] | None:
        """The next items to run together; empty while others hold all that is left,
        ``None`` when the comparison is complete."""

    def comparison(self, items: list[Work]) -> Comparison:
        """The comparison as ``items`` need it (a trial is drawn from the trials before it)."""

    def keep(self, work: Work, result: Result, seconds: float) -> int | None:
        """Save ``result`` (``seconds`` of work); the results stored, ``None`` if lost."""

    def give_back(self, items: list[Work]) -> None:
        """``items`` will not be run here (this process is interrupted)."""


def _work_through(source: _Source, replicas: bool,
                  done: Callable[[Work, Result, int | None], None],
                  poll: float = POLL) -> None:
    """The one loop that finishes a comparison: take the next items from ``source``,
    train them (:func:`execute`), keep each result, until ``source`` has none left;
    ``done(work, result, stored)`` after each result."""
    while (items := source.take()) is not None:
        if not items:
            time.sleep(poll)
            continue
        left, start = list(items), time.perf_counter()
        try:
            results = execute(source.comparison(items), items, replicas)
            for work, result in zip(items, results, strict=True):
                now = time.perf_counter()
                stored = source.keep(work, result, now - start)
                start = now
                left.remove(work)
                done(work, result, stored)
        except BaseException:
            source.give_back(left)
            raise


class _PlannedWork:
    """The missing work of a comparison held in this process (:mod:`~antigrad.lab.plan`),
    optimizer by optimizer in the configured order, batched across optimizers as the work
    list is (:func:`~antigrad.lab.plan.next_items`); an lr is chosen as soon as its stage 1
    is complete."""

    def __init__(self, cmp: Comparison, recorder: Recorder | None,
                 together: set[str]) -> None:
        self.cmp, self.recorder, self.together = cmp, recorder, together
        self.start, self.before = time.perf_counter(), cmp.seconds

    def seconds(self) -> float:
        return self.before + time.perf_counter() - self.start

    def take(self) -> list[Work] | None:
        cmp = self.cmp
        for name in cmp.config.optimizers:
            if ready_to_choose(cmp, name):
                final = choose(cmp, name)
                if self.recorder is not None:
                    self.recorder.choose(name, final)
        free = [w for name in cmp.config.optimizers for w in pending(cmp, name)]
        return next_items(free, self.together, most=MAX_REPLICAS) if free else None

    def comparison(self, items: list[Work]) -> Comparison:
        return self.cmp

    def keep(self, work: Work, result: Result, seconds: float) -> int:
        self.cmp.seconds = self.seconds()
        _keep(self.cmp, result, self.recorder)
        return count_runs(self.cmp.config) - remaining(self.cmp)

    def give_back(self, items: list[Work]) -> None:
        """Nothing to do: the plan is read again from the runs held."""


def _keep(cmp: Comparison, result: RunResult | LRRangeResult | list[RunResult],
          recorder: Recorder | None) -> None:
    if isinstance(result, list):  # an ensemble group's runs
        for run in result:
            _keep(cmp, run, recorder)
    elif isinstance(result, RunResult):
        cmp.runs.append(result)
        if recorder is not None:
            recorder.add_run(result)
    else:
        cmp.range_tests.append(result)
        if recorder is not None:
            recorder.add_range_test(result)


def _label(result: RunResult | LRRangeResult | list[RunResult]) -> str:
    if isinstance(result, list):
        result = result[-1]  # the group's ensemble
    if isinstance(result, LRRangeResult):
        return f"{result.optimizer}: range test"
    what = {"tune": f"lr={result.lr:g}", "ensemble": f"ensemble of seed {result.seed}"
            }.get(result.phase, f"seed {result.seed}")
    return f"{result.optimizer} {what}"


@dataclass
class WorkerReport:
    """What one worker did: the work it stored, and the work whose result it did not
    store because its claim was taken over meanwhile (it had stalled past the lease)."""

    worker: str
    stored: list[Work] = field(default_factory=list)
    lost: list[Work] = field(default_factory=list)


def work_on(store: Store, cid: int, *, worker: str | None = None, lease: float = LEASE,
            poll: float = POLL, replicas: bool = True,
            progress: Callable[[Work, int | None, int], None] | None = None) -> WorkerReport:
    """Work on comparison ``cid`` in ``store`` until it is complete (see the module doc).

    ``worker`` names this worker (default ``host:pid``; a worker restarted under its old
    name retakes its claims at once); ``lease``: seconds after which a claim without
    heartbeat is retaken by others; ``poll``: seconds between looks while others hold all
    the work; ``replicas``: claim an optimizer's grid or seeds of at least
    :data:`~antigrad.lab.replicas.MIN_REPLICAS` runs (of any optimizers that can) as one
    batch of replicas, as :func:`~antigrad.lab.compare.run_compare` trains them.
    ``progress(work, stored, total)`` is called for each result (``stored`` is ``None``
    when it was not saved). On an interruption the claims in hand are given back.
    """
    with WorkQueue(store, cid, worker, lease) as queue, queue.heartbeats():
        claimed = _ClaimedWork(queue, replicas)
        total = count_runs(claimed.cmp.config)
        report = WorkerReport(queue.worker)

        def done(work: Work, result: Result, stored: int | None) -> None:
            (report.stored if stored is not None else report.lost).append(work)
            if progress is not None:
                progress(work, stored, total)

        _work_through(claimed, replicas, done, poll)
        return report


def _batchable(cmp: Comparison) -> set[str]:
    """The optimizers whose runs may train together as replicas on the problem."""
    problem = get_training_problem(cmp.config.problem)
    return {name for name in cmp.config.optimizers
            if batchable(problem, get_optimizer(name))}


class _ClaimedWork:
    """The work this worker claims from the comparison's shared work list; a result is
    saved by completing its claim, an interruption gives the claims in hand back."""

    def __init__(self, queue: WorkQueue, replicas: bool) -> None:
        # its settings: the grid points and a range test need nothing else of it
        self.queue, self.cmp = queue, queue.load(curves=False)
        self.together = _batchable(self.cmp) if replicas else set()
        self.claims: dict[Work, Claim] = {}
        self.complete = queue.plan()

    def take(self) -> list[Work] | None:
        if self.complete:
            return None
        claims = self.queue.claim(self.together, most=MAX_REPLICAS)
        if claims:
            self.claims = {c.work: c for c in claims}
            return [c.work for c in claims]
        self.complete, open_rows = self.queue.status()
        if not self.complete and not open_rows:  # nothing listed: plan (or finish) it
            self.complete = self.queue.plan()
        return None if self.complete else []

    def comparison(self, items: list[Work]) -> Comparison:
        if items[0].kind in ("trial", "seed", "group"):
            # a trial is drawn from the trials before it; a tuned seed or group trains at
            # the configuration chosen from them (by their final metrics: only a group,
            # which may keep its member of lowest final loss, needs the runs' curves)
            return self.queue.load(curves=items[0].kind == "group")
        return self.cmp

    def keep(self, work: Work, result: Result, seconds: float) -> int | None:
        return self.queue.complete(self.claims[work], result, seconds)

    def give_back(self, items: list[Work]) -> None:
        self.queue.release([self.claims[w] for w in items])
