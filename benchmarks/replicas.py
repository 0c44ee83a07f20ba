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

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/replicas.py
    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/replicas.py \\
        --problem digits-mlp --replicas 8,64 --sequential 8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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


def measure(problem_name: str, optimizer: str, mode: str, runs: int, steps: int) -> dict:
    """One configuration, in this process: seconds and peak memory above the baseline."""
    from antigrad.lab import get_optimizer, train_replicas, train_run
    from antigrad.problems import get_training_problem

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
    return {"mode": mode, "runs": runs, "seconds": seconds, "runs_per_s": runs / seconds,
            "extra_kib": max(_peak_kib() - base, 0), "diverged": sum(r.diverged for r in results)}


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
    ap.add_argument("--child", nargs=2, metavar=("MODE", "RUNS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        torch.set_num_threads(1)
        print(json.dumps(measure(args.problem, args.optimizer, args.child[0],
                                 int(args.child[1]), args.steps)))
        return
    print(f"{args.problem}, {args.optimizer}, {args.steps} steps, threads 1")
    # sequential runs timed before and after every replica batch: on a shared machine the
    # load drifts, and each batch is compared with the mean rate of the runs around it
    rows = [_child(args, "sequential", args.sequential)]
    for r in args.replicas.split(","):
        rows += [_child(args, "replicas", int(r)), _child(args, "sequential", args.sequential)]
    print(f"{'mode':>10} {'runs':>5} {'seconds':>9} {'runs/s':>8} {'x seq':>6} "
          f"{'peak MiB':>8} {'MiB/run':>8} {'diverged':>8}")
    for k, row in enumerate(rows):
        peak = row["extra_kib"] / 1024
        # sequential runs live one at a time: each one's memory is the peak
        per_run = peak / row["runs"] if row["mode"] == "replicas" else peak
        around = [rows[k]] if row["mode"] == "sequential" else [rows[k - 1], rows[k + 1]]
        seq_rate = sum(s["runs_per_s"] for s in around) / len(around)
        print(f"{row['mode']:>10} {row['runs']:>5} {row['seconds']:>9.2f} "
              f"{row['runs_per_s']:>8.3f} {row['runs_per_s'] / seq_rate:>6.2f} "
              f"{peak:>8.1f} {per_run:>8.2f} {row['diverged']:>8}")

if __name__ == "__main__":
    main()
