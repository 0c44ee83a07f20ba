"""Running what a comparison still has to run (:mod:`~antigrad.lab.plan`), saving each
result as it finishes.

:func:`run_remaining` goes on with a comparison read back from a store (an interrupted
grid, range-test or tuned comparison) or a fresh one: optimizer by optimizer, the missing
runs of the current stage (an lr grid's missing points, the range test, the next trial,
the missing seeds), then the lr choice, exactly as an uninterrupted
:func:`~antigrad.lab.compare.run_compare` makes it.

Example::

    >>> from antigrad.lab import CompareConfig, new_comparison
    >>> cmp = run_remaining(new_comparison(CompareConfig("breast-cancer", ["sgd"],
    ...                                                  grid_points=2, seeds=2, steps=5)))
    >>> cmp.complete, len(cmp.runs)
    (True, 3)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ..problems.registry import get_training_problem
from . import compare
from .batching import run_many
from .compare import Comparison, Progress, Recorder, count_runs
from .lr_range import LRRangeResult, lr_range_test
from .optimizers import get_optimizer
from .plan import Work, choose, pending, ready_to_choose, remaining
from .runner import RunRequest, RunResult

__all__ = ["run_remaining", "execute"]


def execute(cmp: Comparison, items: list[Work], replicas: bool = True
            ) -> Iterator[RunResult | LRRangeResult]:
    """Run ``items`` (work of one optimizer and one kind), yielding each result as it
    finishes: grid points and seeds as one batch of replicas where worthwhile."""
    config = cmp.config
    problem = get_training_problem(config.problem)
    name, kind = items[0].optimizer, items[0].kind
    if any((w.optimizer, w.kind) != (name, kind) for w in items):
        raise ValueError("Invalid work: items of one optimizer and one kind at a time")
    spec = get_optimizer(name)
    common: dict[str, Any] = dict(steps=config.steps, batch_size=config.batch_size,
                                  eval_every=config.eval_every)
    if kind == "range":
        yield lr_range_test(problem, spec, batch_size=config.batch_size)
    elif kind == "trial":
        from .tuning import run_trial, validation_problem

        held_out = validation_problem(problem)
        for w in items:
            yield run_trial(cmp, name, w.number, held_out)
    else:
        # runs alone train as compare's do (its train_run, looked up when they run)
        yield from run_many(problem, [RunRequest(spec, w.lr, w.seed, w.phase) for w in items],
                            replicas=replicas, train_alone=compare.train_run, **common)


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


def _keep(cmp: Comparison, result: RunResult | LRRangeResult,
          recorder: Recorder | None) -> None:
    if isinstance(result, RunResult):
        cmp.runs.append(result)
        if recorder is not None:
            recorder.add_run(result)
    else:
        cmp.range_tests.append(result)
        if recorder is not None:
            recorder.add_range_test(result)


def _label(result: RunResult | LRRangeResult) -> str:
    if isinstance(result, LRRangeResult):
        return f"{result.optimizer}: range test"
    what = f"lr={result.lr:g}" if result.phase == "tune" else f"seed {result.seed}"
    return f"{result.optimizer} {what}"
