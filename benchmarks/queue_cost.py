"""The result store's cost inside a comparison: saving each result through the work queue.

Drives :class:`~antigrad.lab.queue.WorkQueue` through the default ``antigrad compare``
(mnist1d-mlp, the nine lecture optimizers, a 3-point lr grid, 3 seeds, 1500 steps) in a
temporary SQLite store, as one worker claiming batches does: plan, claim the free grid
points of all optimizers, complete each, then the seeds. No model is trained: each result
is a run of the default's shape (a loss per step, an evaluation every ``eval_every``
steps) whose losses are drawn from a seeded generator, so only the store's work is timed:
planning, claiming, and :meth:`~antigrad.lab.queue.WorkQueue.complete` (the saved row, the
work list, the lr choice). Prints the seconds (CPU and wall) of all completes, the slowest
one, and how many statements read the runs' loss curves.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/queue_cost.py [--steps 1500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

from antigrad.lab import CompareConfig, Store, new_comparison
from antigrad.lab.queue import WorkQueue
from antigrad.lab.runner import RunResult


def fake_result(work, steps: int, eval_every: int, rng: random.Random) -> RunResult:
    """A result of ``work``'s shape: one loss per step, an evaluation every ``eval_every``."""
    losses = [(s, rng.uniform(0.1, 2.0)) for s in range(1, steps + 1)]
    evals = [(s, s * 1e-3, rng.uniform(0.0, 1.0)) for s in range(0, steps + 1, eval_every)]
    return RunResult(work.optimizer, work.lr, work.seed, steps, False, losses[-1][1],
                     evals[-1][2], 1.0, losses=losses, evals=evals,
                     phase="final" if work.kind == "seed" else "tune")


def one_comparison(steps: int, eval_every: int, seed: int) -> dict[str, float]:
    """Times of one comparison's store work, in a fresh temporary store."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.sqlite")
        cmp = new_comparison(CompareConfig("mnist1d-mlp", steps=steps, eval_every=eval_every))
        store.begin(cmp).close()
        curve_reads = 0

        def count(conn, cursor, statement, *_):
            nonlocal curve_reads
            curve_reads += statement.lstrip().upper().startswith("SELECT") and (
                "runs.losses" in statement)

        with WorkQueue(store, cmp.id, "bench") as queue:
            event.listen(queue.con.engine, "before_cursor_execute", count)
            queue.plan()
            cpu = wall = slowest = 0.0
            completed = 0
            while claims := queue.claim(set(cmp.config.optimizers), most=64):
                for claim in claims:
                    result = fake_result(claim.work, steps, eval_every, rng)
                    c0, w0 = time.process_time(), time.perf_counter()
                    queue.complete(claim, result, 1.0)
                    c1, w1 = time.process_time(), time.perf_counter()
                    cpu, wall, slowest = cpu + c1 - c0, wall + w1 - w0, max(slowest, w1 - w0)
                    completed += 1
            assert store.load(cmp.id).complete, "the comparison did not complete"
    return dict(completed=completed, cpu=cpu, wall=wall, slowest=slowest,
                curve_reads=curve_reads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| repeat | results saved | complete CPU s | complete wall s | slowest s | "
          "statements reading curves |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in range(args.repeats):
        t = one_comparison(args.steps, args.eval_every, k)
        print(f"| {k + 1} | {t['completed']} | {t['cpu']:.2f} | {t['wall']:.2f} | "
              f"{t['slowest']:.3f} | {t['curve_reads']} |")


if __name__ == "__main__":
    main()
