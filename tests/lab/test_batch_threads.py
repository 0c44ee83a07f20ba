"""A batch of replicas trains on the process's threads when its steps are faster so, on
one thread otherwise; a run alone always on one."""

import math

import pytest
import torch

from antigrad.lab import batch_threads, get_optimizer, replicas, train_run
from antigrad.lab.batch_threads import (
    MAX_RECHECK,
    PROBE_STEPS,
    RECHECK,
    WATCH_STEPS,
    ThreadChoice,
)
from antigrad.lab.replicas import train_replicas
from antigrad.problems import get_training_problem
from antigrad.train import loop
from antigrad.train.loop import StepRecord


class _Clock:
    """A step costs ``cost(threads, step)`` seconds: the clock advances by that much on
    every reading taken while torch runs on ``threads``."""

    def __init__(self, cost) -> None:
        self.cost, self.now, self.step, self.reads = cost, 0.0, 0, 0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads % 2 == 0:  # the reading after a step: the step's time has passed
            self.now += self.cost(torch.get_num_threads(), self.step)
        return self.now


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _drive(hook: ThreadChoice, clock: _Clock, steps: int) -> list[int]:
    """The thread count of each step the hook runs."""
    seen = []
    for n in range(1, steps + 1):
        clock.step = n
        hook.before_step(None)
        seen.append(torch.get_num_threads())
        hook.after_step(None, StepRecord(n, 0.0))
    return seen


def test_threads_win_then_lose_when_load_arrives(two_threads):
    # two threads twice as fast until step 40, then ten times slower (other processes)
    clock = _Clock(lambda t, n: 1.0 if t == 1 else (0.5 if n < 40 else 10.0))
    hook = ThreadChoice(2, clock=clock)
    seen = _drive(hook, clock, 60)
    probe = 3 + PROBE_STEPS  # steps 1-2 warm up, then the probe
    assert seen[:probe - 1] == [1] * (probe - 1)
    assert seen[probe - 1:39] == [2] * (40 - probe)
    # the slow steps start a probe within the watch window; its first threaded step is
    # already slower, so one thread it is
    assert seen[-10:] == [1] * 10
    assert [t for _, t in hook.choices] == [2, 1]
    assert hook.choices[1][0] < 40 + WATCH_STEPS + PROBE_STEPS + 1


def test_losing_probes_are_cut_short_and_grow_apart(two_threads):
    clock = _Clock(lambda t, n: 1.0 if t == 1 else 30.0)
    hook = ThreadChoice(2, clock=clock)
    seen = _drive(hook, clock, 2000)
    # each probe ran one threaded step only
    assert seen.count(2) == len(hook.choices)
    steps = [s for s, _ in hook.choices]
    gaps = [b - a for a, b in zip(steps, steps[1:], strict=False)]
    assert gaps[0] == RECHECK + PROBE_STEPS + 1 and max(gaps) <= MAX_RECHECK + PROBE_STEPS + 1
    assert all(b > a for a, b in zip(gaps, gaps[1:], strict=False))


def test_threads_must_win_by_a_margin(two_threads):
    clock = _Clock(lambda t, n: 1.0 if t == 1 else 0.99)
    hook = ThreadChoice(2, clock=clock)
    assert set(_drive(hook, clock, 50)[3 + 2 * PROBE_STEPS:]) == {1}


def _threads_in_steps(monkeypatch, step_class) -> list[int]:
    seen: list[int] = []
    original = step_class.__call__

    def counting(self, n):
        seen.append(torch.get_num_threads())
        return original(self, n)

    monkeypatch.setattr(step_class, "__call__", counting)
    return seen


@pytest.mark.parametrize("problem_name", ["digits-mlp", "mnist1d-cnn"])
def test_a_batch_uses_the_process_threads_a_run_alone_one(monkeypatch, two_threads,
                                                          problem_name):
    # the batch's steps time faster on two threads (a fake clock: the test must not
    # depend on this machine's load); the batched products on two threads (the MLP's
    # baddbmm, the CNN's columns) still give the runs alone
    clock = _Clock(lambda t, n: 1.0 if t == 1 else 0.5)
    monkeypatch.setattr(replicas, "ThreadChoice",
                        lambda threads: batch_threads.ThreadChoice(threads, clock=clock))
    problem, spec = get_training_problem(problem_name), get_optimizer("adam")
    runs = [(1e-3, seed) for seed in range(4)]
    in_batch = _threads_in_steps(monkeypatch, replicas._ReplicaStep)
    together = train_replicas(problem, spec, runs, steps=12)
    assert in_batch[:2 + PROBE_STEPS] == [1] * (2 + PROBE_STEPS)
    assert in_batch[-4:] == [2] * 4
    in_run = _threads_in_steps(monkeypatch, loop.GradientStep)
    alone = [train_run(problem, spec, lr, seed, steps=12) for lr, seed in runs]
    assert set(in_run) == {1}
    assert torch.get_num_threads() == 2  # the process's setting is back
    for a, b in zip(together, alone, strict=True):
        assert math.isclose(a.final_loss, b.final_loss, rel_tol=1e-5)


def test_one_process_thread_no_choice(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        made = []
        monkeypatch.setattr(replicas, "ThreadChoice", lambda t: made.append(t))
        train_replicas(get_training_problem("digits-mlp"), get_optimizer("sgd"),
                       [(0.1, 0), (0.1, 1)], steps=3)
        assert made == []
    finally:
        torch.set_num_threads(before)
