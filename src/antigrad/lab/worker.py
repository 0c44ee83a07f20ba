"""Running what a comparison still has to run (:mod:`~antigrad.lab.plan`), saving each
result as it finishes.

- :func:`work_on` is one worker on a comparison in a store: it claims work from the
  comparison's shared work list (:mod:`~antigrad.lab.queue`), trains it, saves it, and
  goes on until the comparison is complete, waiting while other workers hold all that is
  left. Any number of workers, on one machine or several (a PostgreSQL store), share a
  comparison this way; ``antigrad compare`` is one of them, ``antigrad work ID`` adds more.
- :func:`run_remaining` goes on with a comparison in this process alone, without a work
  list: optimizer by optimizer, the missing runs of the current stage (an lr grid's
  missing points, the range test, the next trial, the missing seeds), then the lr choice.

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
from typing import Any

from ..problems.registry import get_training_problem
from . import compare
from .batching import MAX_REPLICAS, run_many
from .compare import Comparison, Progress, Recorder, count_runs
from .lr_range import LRRangeResult, lr_range_test
from .optimizers import get_optimizer
from .plan import Work, choose, pending, ready_to_choose, remaining
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
    and ``recorder`` as for :func:`~antigrad.lab.compare.run_compare`."""
    if cmp.complete:
        raise ValueError(f"Invalid comparison: comparison {cmp.id} is complete "
                         "(nothing to resume)")
    cmp.config.validate()
    start, before = time.perf_counter(), cmp.seconds
    total = count_runs(cmp.config)
    for name in cmp.config.optimizers:
        while True:
            if items := pending(cmp, name):
                for result in execute(cmp, items, replicas):
                    cmp.seconds = before + time.perf_counter() - start
                    _keep(cmp, result, recorder)
                    if progress is not None:
                        progress(_label(result), total - remaining(cmp), total)
            elif ready_to_choose(cmp, name):
                final = choose(cmp, name)
                if recorder is not None:
                    recorder.choose(name, final)
            else:
                break
    cmp.seconds = before + time.perf_counter() - start
    cmp.complete = True
    if recorder is not None:
        recorder.finish()
    return cmp


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
        cmp = queue.load()
        total = count_runs(cmp.config)
        together = _batchable(cmp) if replicas else set()
        report = WorkerReport(queue.worker)
        complete = queue.plan()
        while not complete:
            claims = queue.claim(together, most=MAX_REPLICAS)
            if claims:
                _run_claims(queue, cmp, claims, replicas, report,
                            lambda w, n: progress and progress(w, n, total))
                continue
            complete, open_rows = queue.status()
            if not complete and not open_rows:  # nothing listed: plan (or finish) it
                complete = queue.plan()
            if not complete:
                time.sleep(poll)
        return report


def _batchable(cmp: Comparison) -> set[str]:
    """The optimizers whose runs may train together as replicas on the problem."""
    problem = get_training_problem(cmp.config.problem)
    return {name for name in cmp.config.optimizers
            if batchable(problem, get_optimizer(name))}


def _run_claims(queue: WorkQueue, cmp: Comparison, claims: list[Claim],
                replicas: bool, report: WorkerReport,
                progress: Callable[[Work, int | None], None]) -> None:
    """Train ``claims`` and save each result; give back what is left on an interruption."""
    if claims[0].work.kind in ("trial", "seed", "group"):
        # a trial is drawn from the trials before it; a tuned seed or group trains at the
        # configuration chosen from them
        cmp = queue.load()
    left, start = list(claims), time.perf_counter()
    try:
        results = execute(cmp, [c.work for c in claims], replicas)
        for claim, result in zip(claims, results, strict=True):
            now = time.perf_counter()
            stored = queue.complete(claim, result, now - start)
            start = now
            left.remove(claim)
            (report.stored if stored is not None else report.lost).append(claim.work)
            progress(claim.work, stored)
    except BaseException:
        queue.release(left)
        raise
