"""A batch of replicas on one thread, on the process's threads, and as the lab runs it.

For each batch size R: R Adam runs (lrs over a half-decade grid, seeds 0..R-1) trained by
:func:`antigrad.lab.train_replicas` three ways, interleaved, ``--repeats`` times each, in
this process: forced to one intra-op thread, forced to the process's thread count
(``torch.get_num_threads()`` at start: the cores, or ``OMP_NUM_THREADS``), and as the lab
trains a batch (:class:`antigrad.lab.batch_threads.ThreadChoice`: its probes pick one or
the other). Printed: the median milliseconds per step (end to end, evaluations
included), the one-minute load average after each repeat, and the lab's choices.

    PYTHONPATH=src .venv/bin/python benchmarks/replicas_threads.py
    PYTHONPATH=src .venv/bin/python benchmarks/replicas_threads.py --problem digits-mlp \\
        --sizes 8,64 --steps 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from antigrad.lab import batch_threads, get_optimizer, replicas, train_replicas
from antigrad.problems import get_training_problem
from antigrad.train.loop import Hook, Loop


class _Fixed(Hook):
    """Every step on ``threads`` threads."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def before_step(self, loop: Loop) -> None:
        torch.set_num_threads(self.threads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="mnist1d-mlp")
    ap.add_argument("--sizes", default="4,8,16,64", help="comma-separated replica counts")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    many = torch.get_num_threads()
    problem, spec = get_training_problem(args.problem), get_optimizer("adam")
    train_replicas(problem, spec, [(1e-3, 0), (1e-3, 1)], steps=2)  # kernels compiled
    chosen: list[batch_threads.ThreadChoice] = []

    def lab(threads: int) -> batch_threads.ThreadChoice:
        chosen.append(batch_threads.ThreadChoice(threads))
        return chosen[-1]

    modes = {"1 thread": lambda threads: _Fixed(1), f"{many} threads": _Fixed, "lab": lab}
    print(f"{args.problem}, adam, {args.steps} steps, process threads {many}, "
          f"{os.cpu_count()} cores")
    print(f"{'R':>4} " + " ".join(f"{m + ' ms':>12}" for m in modes) +
          "  lab's choices (step, threads)  load averages")
    for size in map(int, args.sizes.split(",")):
        runs = [(spec.default_lr * 10 ** (0.5 * (k % 3 - 1)), k) for k in range(size)]
        times: dict[str, list[float]] = {m: [] for m in modes}
        loads, choices = [], []
        for _ in range(args.repeats):
            for mode, hook in modes.items():
                replicas.ThreadChoice = hook  # what train_batch puts in its loop
                t0 = time.perf_counter()
                train_replicas(problem, spec, runs, steps=args.steps)
                times[mode].append((time.perf_counter() - t0) * 1000 / args.steps)
            loads.append(round(os.getloadavg()[0], 1))
            choices.append(chosen[-1].choices)
        print(f"{size:>4} " + " ".join(f"{statistics.median(t):>12.2f}"
                                       for t in times.values()) + f"  {choices}  {loads}",
              flush=True)


if __name__ == "__main__":
    main()
