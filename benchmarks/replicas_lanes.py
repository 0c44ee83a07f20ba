"""One step of a batch of replicas: one batch on one thread, one batch on the process's
intra-op threads, or the replicas split into two *lanes* (two batched models, each with
its own optimizers) stepping at the same time on two Python threads, one intra-op thread
each (torch releases the GIL inside its ops; autograd's CPU backward runs on the thread
that calls it).

Per problem and batch size R: R Adam replicas (seeds 0..R-1, lr 1e-3) built as the lab
builds a batch (:mod:`antigrad.lab.replicas`' own pieces: the stacked model, the
optimizers, the minibatch draws, the step), once as R and once as two halves. Four ways
of stepping, interleaved step by step (ABCD ABCD ...) after warm-up steps:

- ``1 thread``: the batch of R on one intra-op thread;
- ``N threads``: the batch of R on the process's thread count (``torch.get_num_threads()``
  at start: the cores, or ``OMP_NUM_THREADS``);
- ``halves, 1 thread``: the two halves one after the other on the main thread, one
  intra-op thread (what splitting alone costs);
- ``lanes``: the two halves at once, each on its own Python worker thread (created once,
  each set to one intra-op thread), the main thread waiting for both.

Only the step is timed (minibatch draw, batched forward/backward, finiteness check,
optimizer steps), not evaluations. Printed: median wall and process-CPU milliseconds per
step of each way, the ratios to ``N threads``, the lanes' overlap (the sum of the two
workers' own thread CPU times over the lanes' wall time: 2 when both run the whole time),
and the one-minute load average before and after.

    PYTHONPATH=src .venv/bin/python benchmarks/replicas_lanes.py
    PYTHONPATH=src .venv/bin/python benchmarks/replicas_lanes.py --problems digits-mlp \\
        --sizes 16,64 --steps 60 --repeats 3

``--op-share`` measures instead, for each problem and size, the share of a one-thread
step's wall time spent inside torch's ops (by torch's profiler), in which the GIL is
released: with ``s`` the rest, two lanes can at best run ``1 / (s + (1 - s) / 2)`` times
as fast as one batch on one thread (Amdahl), before the split's own cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable

import torch

from antigrad.lab import get_optimizer
from antigrad.lab.replicas import _Batched, _optimizers, _ReplicaStep
from antigrad.lab.runner import RunRequest, _Minibatches, flush_denormals
from antigrad.problems import get_training_problem
from antigrad.problems.base import TrainingProblem


def _stepper(problem: TrainingProblem, seeds: list[int], steps: int) -> Callable[[], None]:
    """One step of the batch of ``seeds``' Adam replicas, built as the lab builds one."""
    spec = get_optimizer("adam")
    requests = [RunRequest(spec, 1e-3, s, "final", {}) for s in seeds]
    tasks = [problem.make(s) for s in seeds]
    batched = _Batched(tasks)
    optimizers, _ = _optimizers(requests, batched.views, steps)
    n = len(tasks[0].x_train)
    orders = [_Minibatches(n, min(problem.batch_size, n), s, problem.shuffle) for s in seeds]
    step = _ReplicaStep(batched, optimizers, tasks[0], orders, [True] * len(seeds))
    counter = iter(range(1, 10 ** 9))
    return lambda: step(next(counter))


class _Lane(threading.Thread):
    """A worker that runs ``work`` on one intra-op thread each time it is asked, and
    records its own thread CPU time."""

    def __init__(self, work: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.work, self.go, self.done = work, threading.Event(), threading.Event()
        self.cpu, self.quit = 0.0, False

    def run(self) -> None:
        torch.set_num_threads(1)  # a thread's own setting (OpenMP's is per thread)
        torch.set_flush_denormal(True)
        while True:
            self.go.wait()
            self.go.clear()
            if self.quit:
                return
            c0 = time.thread_time()
            self.work()
            self.cpu = time.thread_time() - c0
            self.done.set()


def _both(lanes: list[_Lane]) -> None:
    for lane in lanes:
        lane.go.set()
    for lane in lanes:
        lane.done.wait()
        lane.done.clear()


def _measure(problem: TrainingProblem, size: int, steps: int, warm: int,
             many: int) -> dict[str, tuple[list[float], list[float]]]:
    total = steps + warm
    whole = _stepper(problem, list(range(size)), total)
    half = size // 2
    parts = [_stepper(problem, list(range(half)), 2 * total),
             _stepper(problem, list(range(half, size)), 2 * total)]
    lanes = [_Lane(_stepper(problem, list(range(half)), total)),
             _Lane(_stepper(problem, list(range(half, size)), total))]
    for lane in lanes:
        lane.start()

    def on(threads: int, work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            torch.set_num_threads(threads)
            work()
        return run

    ways: dict[str, Callable[[], None]] = {
        "1 thread": on(1, whole), f"{many} threads": on(many, whole),
        "halves, 1 thread": on(1, lambda: [p() for p in parts]),
        "lanes": lambda: _both(lanes)}
    times: dict[str, tuple[list[float], list[float]]] = {w: ([], []) for w in ways}
    overlap: list[float] = []
    for i in range(total):
        for way, run in ways.items():
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if i >= warm:
                times[way][0].append(wall * 1e3)
                times[way][1].append(cpu * 1e3)
                if way == "lanes":
                    overlap.append(sum(lane.cpu for lane in lanes) / wall)
    for lane in lanes:
        lane.quit = True
        lane.go.set()
        lane.join()
    times["overlap"] = (overlap, overlap)
    return times


def _op_share(problem: TrainingProblem, size: int, steps: int, warm: int) -> float:
    """The share of a one-thread step's wall time spent inside torch's ops (``aten::``
    calls and autograd's backward functions, outermost only, by torch's profiler): time
    in which the GIL is released, so that the other lane's Python can run. The rest is
    Python holding the GIL (and the engine's compiled kernel, which releases it too but
    is not an op: the share is a lower bound)."""
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    step = _stepper(problem, list(range(size)), steps + warm)
    for _ in range(warm):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - t0
    ops = sorted(((e.time_range.start, e.time_range.end) for e in prof.events()
                  if e.name.startswith(("aten::", "autograd::engine"))),
                 key=lambda span: (span[0], -span[1]))
    inside, end = 0.0, -1.0
    for start, stop in ops:  # outermost spans only: an op's inner ops are inside it
        if start >= end:
            inside, end = inside + stop - start, stop
    return inside / 1e6 / wall  # profiler times are in microseconds


def _print_op_shares(args: argparse.Namespace) -> None:
    print("share of a one-thread step's wall time inside torch's ops (GIL released)")
    for name in args.problems.split(","):
        problem = get_training_problem(name)
        for size in map(int, args.sizes.split(",")):
            with flush_denormals():
                shares = [_op_share(problem, size, args.steps, args.warm)
                          for _ in range(args.repeats)]
            print(f"{name} R={size}: " + " ".join(f"{x:.2f}" for x in shares) +
                  f"  load {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", default="mnist1d-mlp,mnist1d-cnn,digits-mlp")
    ap.add_argument("--sizes", default="16,27,64", help="comma-separated replica counts")
    ap.add_argument("--steps", type=int, default=40, help="timed steps of each way")
    ap.add_argument("--warm", type=int, default=5, help="untimed steps first")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--op-share", action="store_true",
                    help="instead: the share of a one-thread step inside torch's ops")
    args = ap.parse_args()
    if args.op_share:
        _print_op_shares(args)
        return
    many = torch.get_num_threads()
    print(f"process threads {many}, {os.cpu_count()} cores; medians of {args.steps} steps, "
          f"wall ms / CPU ms per step")
    for name in args.problems.split(","):
        problem = get_training_problem(name)
        for size in map(int, args.sizes.split(",")):
            for _ in range(args.repeats):
                load0 = os.getloadavg()[0]
                with flush_denormals():
                    times = _measure(problem, size, args.steps, args.warm, many)
                torch.set_num_threads(many)
                med = {w: (statistics.median(t[0]), statistics.median(t[1]))
                       for w, t in times.items()}
                ref = med[f"{many} threads"][0]
                cells = "  ".join(f"{w} {m[0]:.1f}/{m[1]:.1f} ({ref / m[0]:.2f}x)"
                                  for w, m in med.items() if w != "overlap")
                print(f"{name} R={size}: {cells}  lane overlap {med['overlap'][0]:.2f}  "
                      f"load {load0:.1f}->{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
