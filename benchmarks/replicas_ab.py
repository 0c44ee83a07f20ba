"""One replica step of two versions of the code, interleaved in one process: the version
on ``PYTHONPATH`` against a baseline source tree (``--baseline``, e.g. another checkout's
``src``), loaded under another package name.

Each version builds R Adam replicas of the problem its own way and takes its own
training step (``antigrad.lab.replicas._ReplicaStep``: the minibatch draw and gather, the
forward pass with the loss, the backward pass, the finiteness check, the optimizer step;
evaluations excluded). The two alternate in rounds of ``--steps`` steps (ABAB...), so a
load that comes and goes on a shared machine falls on both; the script prints each
version's median wall and CPU milliseconds per step over the rounds, the minor page
faults per step (fresh memory touched), and the ratio baseline / current.
``--keep-freed-memory`` keeps freed memory in the heap as a batch of replicas does
(:func:`antigrad.lab.heap.keep_freed_memory`), so that fresh pages do not hide the rest.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/replicas_ab.py \\
        --baseline ../main/src --problem mnist1d-mlp --replicas 64 --rounds 15 --steps 10 \\
        [--keep-freed-memory]
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

import torch


def _load(src: Path, name: str) -> ModuleType:
    """The package ``antigrad`` under ``src``, imported as ``name`` (its modules import
    each other relatively, so they stay within that tree)."""
    init = src / "antigrad" / "__init__.py"
    if not init.is_file():
        raise SystemExit(f"Invalid baseline: {src} holds no antigrad/__init__.py")
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Version:
    """R Adam replicas of the problem and the training step of one version of the code."""

    def __init__(self, package: str, problem_name: str, replicas: int) -> None:
        lab = importlib.import_module(f"{package}.lab")
        rp = importlib.import_module(f"{package}.lab.replicas")
        runner = importlib.import_module(f"{package}.lab.runner")
        problems = importlib.import_module(f"{package}.problems")
        problem, spec = problems.get_training_problem(problem_name), lab.get_optimizer("adam")
        runs = [(spec.default_lr * 10 ** (0.5 * (k % 3 - 1)), k) for k in range(replicas)]
        tasks = [problem.make(seed) for _, seed in runs]
        batched = rp._Batched(tasks)
        optimizer = spec.build([{"params": v, "lr": lr} for v, (lr, _) in
                                zip(batched.views, runs, strict=True)], runs[0][0])
        orders = [runner._Minibatches(len(tasks[0].x_train), problem.batch_size, seed,
                                      problem.shuffle) for _, seed in runs]
        self.step = rp._ReplicaStep(batched, [optimizer], tasks[0], orders, [True] * replicas)
        self.n, self.wall, self.cpu, self.faults = 0, [], [], []

    def run(self, steps: int) -> None:
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            self.n += 1
            self.step(self.n)
        self.wall.append((time.perf_counter() - t0) / steps)
        self.cpu.append((time.process_time() - c0) / steps)
        self.faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--problem", default="mnist1d-mlp")
    ap.add_argument("--replicas", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--keep-freed-memory", action="store_true",
                    help="keep freed memory in the heap as a batch of replicas does "
                         "(antigrad.lab.heap, process-wide: both versions)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.keep_freed_memory:
        importlib.import_module("antigrad.lab.heap").keep_freed_memory()
    _load(args.baseline, "antigrad_baseline")
    versions = {"baseline": _Version("antigrad_baseline", args.problem, args.replicas),
                "current": _Version("antigrad", args.problem, args.replicas)}
    with importlib.import_module("antigrad.lab.runner").flush_denormals():
        for version in versions.values():  # warm up: first steps allocate the state
            version.run(3)
            version.wall.clear(), version.cpu.clear(), version.faults.clear()
        for _ in range(args.rounds):
            for version in versions.values():
                version.run(args.steps)
    print(f"{args.problem}, R={args.replicas}, {args.rounds} rounds of {args.steps} steps, "
          f"medians per step:")
    for name, v in versions.items():
        print(f"  {name:8s} wall {statistics.median(v.wall) * 1e3:7.2f} ms  "
              f"cpu {statistics.median(v.cpu) * 1e3:7.2f} ms  "
              f"minor faults {statistics.median(v.faults):7.0f}")
    base, cur = versions["baseline"], versions["current"]
    print(f"  baseline / current: wall "
          f"{statistics.median(base.wall) / statistics.median(cur.wall):.2f}x, cpu "
          f"{statistics.median(base.cpu) / statistics.median(cur.cpu):.2f}x")


if __name__ == "__main__":
    main()
