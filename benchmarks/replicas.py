"""Replicas against sequential runs: throughput (runs per second) and peak memory per run.

Trains R runs of one optimizer on a problem (lrs spread over a half-decade grid, seeds
0..R-1) once as replicas (:func:`antigrad.lab.train_replicas`) and, for comparison, a
few of the same runs one after another (:func:`antigrad.lab.train_run`). Both are timed
end to end (evaluations included: what a comparison waits for). Throughput is runs per
second of wall time; the sequential rate comes from ``--sequential`` runs (all runs are
alike in cost: fewer runs than replicas give the same rate, extrapolated), timed before
and after each batch of replicas; a batch's ``x seq`` is its rate over the mean rate of
the sequential runs around it (the load of a shared machine drifts). Each
measurement runs in a fresh process, so its peak resident memory (``ru_maxrss``) above the
same process's memory just before training is that configuration's own (the warm-up that
compiles the kernels trains on 8 examples, so the baseline holds none of the measured
runs' activations); divided by the runs, it is the memory per run.

Threads are the lab's: a sequential run trains on one intra-op thread, a batch of
replicas on one or on the process's intra-op thread count (torch's default, the cores;
or ``OMP_NUM_THREADS``), whichever its own probes time faster
(:mod:`antigrad.lab.batch_threads`; the ``threaded`` column is the share of its steps it
ran on more than one). ``--threaded-sequential`` runs (first, one by default) are
sequential runs forced onto the process's thread count, to show what a run alone would
gain from more threads. With ``OMP_NUM_THREADS=1`` everything runs on one thread.

    PYTHONPATH=src .venv/bin/python benchmarks/replicas.py
    PYTHONPATH=src .venv/bin/python benchmarks/replicas.py \\
        --problem digits-mlp --replicas 8,64 --sequential 8
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import resource
import subprocess
import sys
import time

import torch


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _first_rows(task, rows: int = 8):
    """``task`` with its training and test data cut to the first ``rows`` examples."""
    return dataclasses.replace(task, x_train=task.x_train[:rows], y_train=task.y_train[:rows],
                               x_test=task.x_test[:rows], y_test=task.y_test[:rows])


def _threaded_share(choices: list[tuple[int, int]], steps: int) -> float:
    """Share of a batch's steps run on more than one thread, from its probes' choices
    (``(step, threads)`` from that step on; one thread before the first)."""
    ends = [step for step, _ in choices[1:]] + [steps]
    return sum(end - step for (step, threads), end in zip(choices, ends, strict=True)
               if threads > 1) / steps


def measure(problem_name: str, optimizer: str, mode: str, runs: int, steps: int) -> dict:
    """One configuration, in this process: seconds and peak memory above the baseline."""
    from antigrad.lab import (
        batch_threads,
        get_optimizer,
        replicas,
        runner,
        train_replicas,
        train_run,
    )
    from antigrad.problems import get_training_problem

    probes: list[batch_threads.ThreadChoice] = []

    def recorded(threads: int) -> batch_threads.ThreadChoice:
        probes.append(batch_threads.ThreadChoice(threads))
        return probes[-1]

    replicas.ThreadChoice = recorded  # the lab's own choice, recorded to report it
    if mode == "threaded-sequential":  # a run alone on the process's threads
        runner.flush_denormals = functools.partial(runner.flush_denormals, None)

    problem, spec = get_training_problem(problem_name), get_optimizer(optimizer)
    grid = [spec.default_lr * 10 ** (0.5 * (k % 3 - 1)) for k in range(runs)]
    pairs = [(lr, seed) for seed, lr in enumerate(grid)]
    problem.make(0)  # data loaded and cached before the baseline
    # kernels compiled before timing, on 8 examples (training and test): the baseline
    # holds no activations of the measured runs' size
    tiny = dataclasses.replace(problem, build=lambda seed: _first_rows(problem.build(seed)))
    train_run(tiny, spec, pairs[0][0], 0, steps=2, batch_size=2)
    train_replicas(tiny, spec, pairs[:2], steps=2, batch_size=2)
    base = _peak_kib()
    t0 = time.perf_counter()
    if mode == "replicas":
        results = train_replicas(problem, spec, pairs, steps=steps)
    else:
        results = [train_run(problem, spec, lr, seed, steps=steps) for lr, seed in pairs]
    seconds = time.perf_counter() - t0
    threaded = _threaded_share(probes[-1].choices, steps) if mode == "replicas" and probes \
        else float(mode == "threaded-sequential" and torch.get_num_threads() > 1)
    return {"mode": mode, "runs": runs, "seconds": seconds, "runs_per_s": runs / seconds,
            "extra_kib": max(_peak_kib() - base, 0), "diverged": sum(r.diverged for r in results),
            "threaded": threaded, "load": os.getloadavg()[0]}


def _child(args: argparse.Namespace, mode: str, runs: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, str(runs), "--problem", args.problem,
           "--optimizer", args.optimizer, "--steps", str(args.steps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="mnist1d-mlp")
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--replicas", default="8,64", help="comma-separated replica counts")
    ap.add_argument("--sequential", type=int, default=3, help="sequential runs timed")
    ap.add_argument("--threaded-sequential", type=int, default=1, help="sequential runs "
                    "on the process's threads, timed first (0: none)")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "RUNS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.problem, args.optimizer, args.child[0],
                                 int(args.child[1]), args.steps)))
        return
    print(f"{args.problem}, {args.optimizer}, {args.steps} steps, process threads "
          f"{torch.get_num_threads()} (sequential runs: 1, as the lab runs them)")
    # sequential runs timed before and after every replica batch: on a shared machine the
    # load drifts, and each batch is compared with the mean rate of the runs around it
    rows = [_child(args, "threaded-sequential", args.threaded_sequential)] \
        if args.threaded_sequential else []
    rows.append(_child(args, "sequential", args.sequential))
    for r in args.replicas.split(","):
        rows += [_child(args, "replicas", int(r)), _child(args, "sequential", args.sequential)]
    print(f"{'mode':>19} {'runs':>5} {'seconds':>9} {'runs/s':>8} {'x seq':>6} "
          f"{'peak MiB':>8} {'MiB/run':>8} {'diverged':>8} {'threaded':>8} {'load':>5}")
    for k, row in enumerate(rows):
        peak = row["extra_kib"] / 1024
        # sequential runs live one at a time: each one's memory is the peak
        per_run = peak / row["runs"] if row["mode"] == "replicas" else peak
        around = [rows[k]] if row["mode"] == "sequential" else \
            [rows[k + 1]] if row["mode"] == "threaded-sequential" else [rows[k - 1], rows[k + 1]]
        seq_rate = sum(s["runs_per_s"] for s in around) / len(around)
        print(f"{row['mode']:>19} {row['runs']:>5} {row['seconds']:>9.2f} "
              f"{row['runs_per_s']:>8.3f} {row['runs_per_s'] / seq_rate:>6.2f} "
              f"{peak:>8.1f} {per_run:>8.2f} {row['diverged']:>8} {row['threaded']:>8.2f} "
              f"{row['load']:>5.1f}")

if __name__ == "__main__":
    main()
