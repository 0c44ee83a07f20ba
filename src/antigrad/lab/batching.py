"""Many runs on one problem, batched into replicas where the method and problem allow it.

:func:`run_many` takes :class:`~antigrad.lab.runner.RunRequest` s — any mix of
optimizers (textbook names, antigrad's torch-face classes, ``torch.optim`` classes,
chains), learning rates, seeds, phases and per-run hyperparameters — and returns what
``train_run`` would return for each, in request order:

- every request is checked before any training: its lr and seed, and its spec built once
  with its overrides on a throw-away parameter, so a bad key or value raises the error
  the sequential run would raise;
- the requests whose method and problem can train as replicas
  (:func:`~antigrad.lab.replicas.batchable`) train as batched models of at most
  ``max_replicas`` replicas each (:func:`~antigrad.lab.replicas.train_batch`: one
  forward and backward pass for the whole batch, one optimizer per spec owning its
  replicas' param groups), when there are at least ``min_replicas`` of them;
- the others (second-order methods and LBFGS, recurrent models, or too few to pay) train
  one after another with :func:`~antigrad.lab.runner.train_run`, as do all of them with
  ``replicas=False``.

``on_result(i, result)`` is called as each run finishes (the runs of a batch finish
together, at its end), so a store can save every run at once.

Example: an lr grid of two optimizers in one batch::

    >>> from antigrad.lab import RunRequest, get_optimizer, run_many
    >>> from antigrad.problems import get_training_problem
    >>> adam, sgd = get_optimizer("adam"), get_optimizer("torch:SGD(momentum=0.9)")
    >>> requests = [RunRequest(spec, lr) for spec in (adam, sgd) for lr in (0.01, 0.1)]
    >>> runs = run_many(get_training_problem("digits-mlp"), requests, steps=5, min_replicas=2)
    >>> [(r.optimizer, r.lr, r.steps) for r in runs]  # doctest: +NORMALIZE_WHITESPACE
    [('adam', 0.01, 5), ('adam', 0.1, 5), ('torch:SGD(momentum=0.9)', 0.01, 5),
     ('torch:SGD(momentum=0.9)', 0.1, 5)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch

from ..problems.base import TrainingProblem
from ..validation import count
from .optimizers import OptimizerSpec
from .replicas import (
    MIN_REPLICAS,
    batchable_method,
    batchable_problem,
    check_requests,
    train_batch,
)
from .runner import DIVERGENCE_FACTOR, RunRequest, RunResult, train_run

__all__ = ["run_many", "plan_batches", "MAX_REPLICAS"]

#: Most replicas in one batched model: larger batches run no faster per run on a CPU
#: (benchmarks/replicas.py: 8 and 64 replicas of mnist1d-mlp ran at the same runs per
#: second) and take memory in proportion.
MAX_REPLICAS = 64


def run_many(problem: TrainingProblem, requests: Sequence[RunRequest], *,
             steps: int | None = None, batch_size: int | None = None,
             eval_every: int | None = None, divergence_factor: float = DIVERGENCE_FACTOR,
             replicas: bool = True, min_replicas: int = MIN_REPLICAS,
             max_replicas: int = MAX_REPLICAS,
             on_result: Callable[[int, RunResult], None] | None = None,
             train_alone: Callable[..., RunResult] = train_run) -> list[RunResult]:
    """Train every request on ``problem``; see the module doc. ``train_alone`` trains a
    run that is not batched (:func:`~antigrad.lab.runner.train_run`'s signature)."""
    requests = list(requests)
    check_requests(requests)
    _check_overrides(requests)
    common: dict[str, Any] = dict(steps=steps, batch_size=batch_size, eval_every=eval_every,
                                  divergence_factor=divergence_factor)
    alone = partial(train_alone, problem, **common)
    results: list[RunResult | None] = [None] * len(requests)
    plan = plan_batches(problem, requests, replicas=replicas, min_replicas=min_replicas,
                        max_replicas=max_replicas)
    for members in plan:
        batch = [requests[i] for i in members]
        runs = train_batch(problem, batch, **common) if len(members) > 1 else \
            [alone(q.spec, q.lr, q.seed, phase=q.phase, overrides=q.overrides) for q in batch]
        for i, result in zip(members, runs, strict=True):
            results[i] = result
            if on_result is not None:
                on_result(i, result)
    return results  # type: ignore[return-value]


def plan_batches(problem: TrainingProblem, requests: Sequence[RunRequest], *,
                 replicas: bool = True, min_replicas: int = MIN_REPLICAS,
                 max_replicas: int = MAX_REPLICAS) -> list[list[int]]:
    """How :func:`run_many` trains ``requests``: a list of units in the order they run,
    each the indices of one batch of replicas (more than one index) or of one run alone.
    Batches are consecutive batchable requests, split evenly into at most
    ``max_replicas`` each; a unit runs in the place of its first request."""
    count("min_replicas", min_replicas)
    count("max_replicas", max_replicas, 2)
    together = _batchable(problem, requests) if replicas and requests else []
    if len(together) < min_replicas:
        together = []
    chunks = math.ceil(len(together) / max_replicas)
    units = [together[k * len(together) // chunks:(k + 1) * len(together) // chunks]
             for k in range(chunks)]
    batched = set(together)
    units += [[i] for i in range(len(requests)) if i not in batched]
    return sorted(units, key=lambda unit: unit[0])


def _batchable(problem: TrainingProblem, requests: Sequence[RunRequest]) -> list[int]:
    """Indices of the requests whose spec can train as replicas on ``problem`` (the
    problem and each distinct spec asked once)."""
    if not batchable_problem(problem):
        return []
    verdicts: list[tuple[OptimizerSpec, bool]] = []

    def verdict(spec: OptimizerSpec) -> bool:
        for other, ok in verdicts:
            if other == spec:
                return ok
        verdicts.append((spec, batchable_method(spec)))
        return verdicts[-1][1]

    return [i for i, q in enumerate(requests) if verdict(q.spec)]


def _check_overrides(requests: Sequence[RunRequest]) -> None:
    """Each distinct spec with overrides built once on a throw-away parameter: a key the
    optimizer does not take, or a bad value, raises its constructor's error before any
    training (a param group would take it silently)."""
    seen: list[tuple[OptimizerSpec, dict[str, Any]]] = []
    for q in requests:
        overrides = dict(q.overrides)
        if not overrides or (q.spec, overrides) in seen:
            continue
        seen.append((q.spec, overrides))
        q.spec.build([torch.nn.Parameter(torch.zeros(2))], q.lr, **overrides)
