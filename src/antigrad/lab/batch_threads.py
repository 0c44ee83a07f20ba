"""How many intra-op threads a batch of replicas trains on, chosen by timing its steps.

A run alone trains on one thread (:data:`~antigrad.lab.runner.RUN_THREADS`): its
products are too small to share. A batch of replicas is R times larger and can use the
process's intra-op threads (torch's default, the cores; or what ``OMP_NUM_THREADS`` /
``torch.set_num_threads`` set before) when the cores are idle. But a thread that has to
wait for a core another process holds stalls every parallel region: on a 2-core machine
with a load average of 5-7, 64 Adam replicas of mnist1d-mlp ran a step 4x *slower* on two
threads than on one, 8 replicas 20x slower (``benchmarks/replicas_threads.py``,
benchmarks/RESULTS.md). Neither the batch size nor the load average says in advance
which wins, so the batch measures it:

- a *probe* times :data:`PROBE_STEPS` steps on one thread, then as many on the process's
  thread count (it stops early if the first of those is already slower), and the batch
  goes on with the faster, the threaded one only if it is at least :data:`MARGIN` faster;
- while on several threads, a step that takes longer than the one-thread steps did (a
  window of :data:`WATCH_STEPS` steps, :data:`SLOWER` times slower) starts a probe at
  once, so load that arrives mid-batch costs a few steps, not the rest of the batch;
- probes repeat every :data:`RECHECK` steps (the load may have gone), the interval
  doubling each time one thread wins again (up to :data:`MAX_RECHECK`), which bounds
  what losing probes cost on a busy machine.

Only the step is timed (the hook runs innermost, as the loop's stopwatch); the thread
count is torch's global setting, restored when the batch ends (the batch runs inside
:func:`~antigrad.lab.runner.flush_denormals`). On the CPU measured a batch's results
are bit-identical on one or two threads (float32: mnist1d-mlp, digits-mlp, mnist1d-cnn);
a math library may round a product differently on another thread count elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from ..train.loop import Hook, Loop, StepRecord
from .runner import RUN_THREADS

__all__ = ["ThreadChoice", "PROBE_STEPS", "MARGIN", "SLOWER", "WATCH_STEPS", "RECHECK",
           "MAX_RECHECK"]

#: Steps timed on each thread count by a probe.
PROBE_STEPS = 3
#: The threaded steps must take at most this fraction of the one-thread steps' time.
MARGIN = 0.95
#: Threaded steps this many times slower than one thread's (over a window) start a probe.
SLOWER = 1.2
#: Steps in the window that watches the threaded steps.
WATCH_STEPS = 5
#: Steps from one probe to the next, at first.
RECHECK = 100
#: Most steps from one probe to the next.
MAX_RECHECK = 1600


class ThreadChoice(Hook):
    """Sets torch's intra-op thread count before every step of a batch: one thread or
    ``threads``, whichever its probes timed faster (see the module doc). ``clock`` is
    the timer (seconds). Put it last among the loop's hooks: it times the step alone."""

    def __init__(self, threads: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.threads, self.clock = threads, clock
        # the first probe after two steps: the first ones pay for warming up
        self.current, self.plan, self.next_probe = RUN_THREADS, [], 2
        self.timed: dict[int, list[float]] = {RUN_THREADS: [], threads: []}
        self.watch: list[float] = []
        self.recheck, self.baseline, self._t0 = RECHECK, 0.0, 0.0
        self.choices: list[tuple[int, int]] = []  # (step, threads) after every probe

    def before_step(self, loop: Loop) -> None:
        wanted = self.plan[0] if self.plan else self.current
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
        self._t0 = self.clock()

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        seconds = self.clock() - self._t0
        if self.plan:
            self._probed(self.plan.pop(0), seconds, record.step)
        elif self.current != RUN_THREADS:
            self._watch(seconds, record.step)
        elif record.step >= self.next_probe:
            self._probe()

    def _probed(self, threads: int, seconds: float, step: int) -> None:
        self.timed[threads].append(seconds)
        one = self.timed[RUN_THREADS]
        if threads != RUN_THREADS and seconds > sum(one) / len(one):
            self.plan.clear()  # already slower: no need to time the others
        if not self.plan:
            self._choose(step)

    def _choose(self, step: int) -> None:
        one, many = (sum(t) / len(t) for t in (self.timed[RUN_THREADS],
                                               self.timed[self.threads]))
        if many <= MARGIN * one:
            self.current, self.recheck = self.threads, RECHECK
        else:
            self.current = RUN_THREADS
            if self.choices and self.choices[-1][1] == RUN_THREADS:
                self.recheck = min(MAX_RECHECK, 2 * self.recheck)
        self.choices.append((step, self.current))
        self.next_probe, self.watch = step + self.recheck, []
        self.baseline = one

    def _watch(self, seconds: float, step: int) -> None:
        self.watch = [*self.watch[1 - WATCH_STEPS:], seconds]
        slow = len(self.watch) == WATCH_STEPS and \
            sum(self.watch) / WATCH_STEPS > SLOWER * self.baseline
        if slow or step >= self.next_probe:
            self._probe()

    def _probe(self) -> None:
        self.plan = [RUN_THREADS] * PROBE_STEPS + [self.threads] * PROBE_STEPS
        self.timed = {RUN_THREADS: [], self.threads: []}
