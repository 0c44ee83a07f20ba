"""The training loop's own cost inside the lab's timed interval.

A lab run (:func:`antigrad.lab.train_run`) reports ``seconds``: the time of its training
steps only. That number is honest when the loop around the steps (batch selection is
part of the step; divergence checks, hooks, timing) adds little. This script trains the
same run twice per round, in one process: once through ``train_run`` (its ``seconds``)
and once as a bare hand-written loop doing the same work (the same model from the same
seed, the same optimizer, the same minibatch order, the loss read every step as the run
does), timed around the whole loop. Rounds alternate which goes first; the medians are
compared, and so is each round's ratio (robust to load that changes between rounds).

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/loop_overhead.py
    PYTHONPATH=src .venv/bin/python benchmarks/loop_overhead.py --optimizer sgd --repeats 9
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from antigrad.lab import get_optimizer, train_run
from antigrad.lab.runner import flush_denormals
from antigrad.problems import get_training_problem


def bare_seconds(problem, spec, lr: float, seed: int, steps: int) -> float:
    """The run's training steps written out by hand, timed around the whole loop."""
    task = problem.make(seed)
    model, x, y = task.model, task.x_train, task.y_train
    n = len(x)
    batch_size = min(problem.batch_size, n)
    opt = spec.build(model.parameters(), lr)
    gen = torch.Generator().manual_seed(10_000 + seed)
    order, pos = torch.randperm(n, generator=gen), 0
    with flush_denormals():
        t0 = time.perf_counter()
        for _ in range(steps):
            if pos + batch_size > n:
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos:pos + batch_size]
            pos += batch_size
            opt.zero_grad(set_to_none=True)
            loss = task.loss(model, x[idx], y[idx])
            float(loss.detach())
            loss.backward()
            opt.step()
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="mnist1d-mlp")
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    problem, spec = get_training_problem(args.problem), get_optimizer(args.optimizer)
    problem.make(0)                                   # data generated once, outside timing
    loop, bare = [], []
    for r in range(args.repeats + 1):                 # round 0 warms up, not counted
        pair = []
        for kind in (("loop", "bare") if r % 2 else ("bare", "loop")):
            if kind == "loop":
                res = train_run(problem, spec, args.lr, 0, steps=args.steps)
                assert res.steps == args.steps and not res.diverged
                pair.append(("loop", res.seconds))
            else:
                pair.append(("bare", bare_seconds(problem, spec, args.lr, 0, args.steps)))
        if r:
            for kind, s in pair:
                (loop if kind == "loop" else bare).append(s)
    m_loop, m_bare = statistics.median(loop), statistics.median(bare)
    print(f"{args.problem}, {args.optimizer} lr={args.lr:g}, {args.steps} steps, "
          f"median of {args.repeats} rounds, torch threads 1")
    print(f"  through train_run (seconds it reports): {m_loop:.3f} s   "
          f"runs: {' '.join(f'{s:.3f}' for s in loop)}")
    print(f"  bare hand-written loop:                 {m_bare:.3f} s   "
          f"runs: {' '.join(f'{s:.3f}' for s in bare)}")
    ratios = [a / b for a, b in zip(loop, bare, strict=True)]
    print(f"  loop overhead inside the timed interval: {100 * (m_loop / m_bare - 1):+.2f}% "
          f"(ratio of medians), {100 * (statistics.median(ratios) - 1):+.2f}% "
          f"(median of the rounds' ratios), {100 * (min(loop) / min(bare) - 1):+.2f}% "
          "(ratio of the fastest runs)")
    machinery(args.steps, min(bare))


def machinery(steps: int, run_seconds: float, repeats: int = 21) -> None:
    """The loop's own cost, apart from any training: the lab run's hooks around a step
    that does nothing, against a bare ``for`` loop calling the same step (fastest of
    ``repeats``; small and stable enough to measure under load)."""
    from antigrad.train import loop as L
    if not hasattr(L, "StepRecord"):
        print("  (this version has no antigrad.train.loop.Loop: no machinery measurement)")
        return
    record = L.StepRecord(0, 1.0)

    def step(n: int) -> L.StepRecord:
        record.step = n
        return record

    def through_loop() -> float:
        clock = L.Stopwatch()
        hooks = [L.Every(10, lambda loop: None), L.StopAfter(steps), L.StopOnDivergence(),
                 L.LossAbove(1e3), clock]
        t0 = time.perf_counter()
        L.Loop(step, hooks).run()
        return time.perf_counter() - t0

    def bare_loop() -> float:
        t0 = time.perf_counter()
        for n in range(1, steps + 1):
            step(n)
        return time.perf_counter() - t0

    looped = min(through_loop() for _ in range(repeats))
    plain = min(bare_loop() for _ in range(repeats))
    extra = looped - plain
    print(f"  machinery alone (all hooks, the timed part and the untimed part), "
          f"{steps} empty steps: loop {looped * 1e3:.3f} ms, bare {plain * 1e3:.3f} ms, "
          f"{extra / steps * 1e6:.2f} us/step = {100 * extra / run_seconds:.2f}% of the "
          f"fastest bare run ({run_seconds:.3f} s)")


if __name__ == "__main__":
    main()
