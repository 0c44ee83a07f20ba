"""Where a replica step's time goes: each phase of one step of R replicas, timed by hand.

Builds R replicas of Adam runs on a problem the way :func:`antigrad.lab.train_replicas`
does and takes ``--steps`` steps phase by phase as its step takes them (the minibatch
draw, the gather of the minibatch rows, the forward pass with the loss, the backward pass,
the finiteness check of every replica's gradient, the per-replica records, the optimizer
step, and the evaluation of the test metric every ``eval_every`` steps, amortized per
step), each
phase timed with ``time.perf_counter``, and the page faults a step takes after its first
10 (the process's minor faults: fresh pages from the kernel). For comparison it times one
sequential run's training step (:func:`antigrad.lab.train_run`'s own clock, evaluations
excluded). The heap keeps freed memory as a batch's does
(:func:`antigrad.lab.heap.keep_freed_memory`) unless ``--adaptive-heap`` leaves glibc's
own thresholds (process-wide: run the script once per mode).

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/replicas_profile.py \\
        --problem mnist1d-mlp --replicas 8,64 --steps 200
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import resource
import time
from collections import defaultdict

import torch

from antigrad.lab import get_optimizer, heap, train_run
from antigrad.lab import replicas as rp
from antigrad.lab.runner import RunResult, _Evaluate, _Minibatches, flush_denormals
from antigrad.problems import get_training_problem


class _Phases:
    """Seconds per named phase, accumulated between :meth:`mark` calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.t = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] += now - self.t
        self.t = now


def profile(problem_name: str, replicas: int, steps: int) -> dict[str, float]:
    """Seconds per step of each phase of ``replicas`` Adam replicas on the problem."""
    problem, spec = get_training_problem(problem_name), get_optimizer("adam")
    runs = [(spec.default_lr * 10 ** (0.5 * (k % 3 - 1)), k) for k in range(replicas)]
    tasks = [problem.make(seed) for _, seed in runs]
    task = tasks[0]
    batched = rp._Batched(tasks)
    optimizer = spec.build([{"params": v, "lr": lr} for v, (lr, _) in
                            zip(batched.views, runs, strict=True)], runs[0][0])
    draw = rp._Draws([_Minibatches(len(task.x_train), problem.batch_size, s, problem.shuffle)
                      for _, s in runs])
    evaluations = [_Evaluate(problem, dataclasses.replace(task, model=batched.replica(r)),
                             RunResult("adam", lr, s, 0, False, 0.0, 0.0, 0.0))
                   for r, (lr, s) in enumerate(runs)]
    clock = _Phases()
    for n in range(1, steps + 1):
        if n == min(11, steps):
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        idx = draw()
        clock.mark("minibatch draw")
        xb, yb = rp._gather(task.x_train, idx), rp._gather(task.y_train, idx)
        clock.mark("gather x[idx], y[idx]")
        losses = batched.losses(task.loss, xb, yb)
        clock.mark("forward + loss")
        values = losses.detach().tolist()
        usable = torch.tensor([math.isfinite(v) for v in values])
        clock.mark("loss read")
        grads = batched.backward(torch.where(usable, losses, 0.0).sum())
        clock.mark("backward")
        rp._finite_rows(grads)
        clock.mark("finiteness check")
        [(n, v, None if math.isfinite(v) else "non-finite loss") for v in values]
        clock.mark("per-replica records")
        optimizer.step()
        batched.stepped()
        clock.mark("optimizer step")
        if n % problem.eval_every == 0:
            for evaluate in evaluations:
                evaluate(n, 0.0)
        clock.mark("evaluation (amortized)")
    print(f"  (forward: {'batched module' if batched.forward else 'vmap'})")
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(f"  page faults a step (after the first 10): {faults / max(1, steps - 10):.0f}")
    return {k: v / steps for k, v in clock.seconds.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="mnist1d-mlp")
    ap.add_argument("--replicas", default="8,64")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--adaptive-heap", action="store_true",
                    help="leave glibc's adaptive malloc thresholds (a batch keeps memory)")
    args = ap.parse_args()
    if not args.adaptive_heap:
        heap.keep_freed_memory()
    with flush_denormals():
        problem = get_training_problem(args.problem)
        spec = get_optimizer("adam")
        train_run(problem, spec, spec.default_lr, 0, steps=2)
        seq = train_run(problem, spec, spec.default_lr, 0, steps=args.steps).seconds / args.steps
        print(f"{args.problem}: one sequential run's training step {seq * 1e3:.3f} ms")
        for r in (int(v) for v in args.replicas.split(",")):
            phases = profile(args.problem, r, args.steps)
            total = sum(phases.values())
            print(f"R={r}: {total * 1e3:.2f} ms a step, {total / r * 1e3:.3f} ms per replica "
                  f"({seq / (total / r):.2f}x the sequential step)")
            for name, s in phases.items():
                print(f"  {name:32s} {s * 1e3:8.3f} ms {100 * s / total:5.1f}%")


if __name__ == "__main__":
    main()
