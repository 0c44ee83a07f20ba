"""Milliseconds per step of ``train_replicas`` (R Adam replicas, evaluations included),
for comparing two versions of the code on the same machine at the same time: run it with
``PYTHONPATH`` set to each version's ``src``, alternately. Prints the wall milliseconds
and the process's CPU milliseconds per step (all threads; on a shared machine the CPU
time moves less with the load than the wall time).

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/replicas_step_time.py \\
        mnist1d-mlp 64 100
"""

from __future__ import annotations

import sys
import time

import torch

from antigrad.lab import get_optimizer, train_replicas
from antigrad.problems import get_training_problem


def main() -> None:
    problem_name, replicas, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    problem, spec = get_training_problem(problem_name), get_optimizer("adam")
    runs = [(1e-3, seed) for seed in range(replicas)]
    train_replicas(problem, spec, runs[:2], steps=2)  # kernels compiled before timing
    t0, c0 = time.perf_counter(), time.process_time()
    train_replicas(problem, spec, runs, steps=steps)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{wall * 1e3 / steps:.1f} {cpu * 1e3 / steps:.1f}")


if __name__ == "__main__":
    main()
