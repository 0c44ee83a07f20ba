"""The optimizer step of a batch of replicas, alone: CPU milliseconds of ``opt.step()``.

R Adam replicas of a problem as the lab builds them (``replicas_ab.py``'s set-up: the
lab's "adam", 64 param groups over 3 lrs); in each of ``--rounds`` rounds, two replica
training steps (fresh gradients, as in training) and then ``--steps`` optimizer steps
timed back to back; the median over the rounds of the CPU time of one optimizer step, and
of one whole replica step. The version of antigrad is the one on ``PYTHONPATH``: to
compare two versions of the engine, run this script once per version, alternating
(``replicas_ab.py`` cannot: the lab's optimizer specs name ``antigrad.textbook``, so its
baseline steps with the current package's optimizers).

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/replicas_optimizer_step.py \\
        --problem mnist1d-mlp

With ``--callgrind``, under valgrind, only the optimizer steps are counted (the rounds'
training steps are not), and ``--kernel-only`` counts instead the bucket's bound native
kernel called alone with the same arguments (the floor of a step): the ``Collected``
total divided by ``rounds * steps`` is the instructions of one step.

    PYTHONPATH=src OMP_NUM_THREADS=1 valgrind --tool=callgrind --instr-atstart=no \\
        --collect-atstart=no --callgrind-out-file=/dev/null .venv/bin/python \\
        benchmarks/replicas_optimizer_step.py --callgrind --rounds 2 --steps 5
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch
from replicas_ab import _Version
from step_overhead import counting_switch

import antigrad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="mnist1d-mlp")
    ap.add_argument("--replicas", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--callgrind", action="store_true",
                    help="count the optimizer steps' instructions under valgrind (see above)")
    ap.add_argument("--kernel-only", action="store_true",
                    help="with --callgrind: count the bound kernel called alone")
    args = ap.parse_args()
    torch.set_num_threads(1)
    version = _Version("antigrad", args.problem, args.replicas)
    version.run(3)  # the first steps allocate the state and bind the kernel
    optimizer = version.step.optimizers[0]
    if args.callgrind:
        count(version, optimizer, args.rounds, args.steps, args.kernel_only)
        return
    steps, whole = [], []
    for _ in range(args.rounds):
        version.run(2)
        whole.append(version.cpu[-1])
        start = time.process_time()
        for _ in range(args.steps):
            optimizer.step()
        steps.append((time.process_time() - start) / args.steps)
    print(f"{args.problem}, R={args.replicas}, antigrad from {antigrad.__file__}: "
          f"optimizer step {statistics.median(steps) * 1e3:.3f} ms CPU, replica step "
          f"{statistics.median(whole) * 1e3:.2f} ms CPU (medians of {args.rounds} rounds)")


def count(version: _Version, optimizer: torch.optim.Optimizer, rounds: int, steps: int,
          kernel_only: bool) -> None:
    """Under callgrind: count only the optimizer steps of each round (or the bound kernel
    alone, with the arguments the last step gave it)."""
    counting = counting_switch()
    bound = optimizer.planner.buckets[0].bound

    def kernel() -> None:
        bound.fn(bound.nt, bound.ptrs, bound.numel, bound.svals, bound.rows, 1, bound.nq,
                 bound.qvals, bound.qptrs, bound.q64, bound.reduced.data_ptr())

    step = kernel if kernel_only else optimizer.step
    for _ in range(rounds):
        version.run(2)
        gc.collect()
        gc.disable()  # a collection lands in whichever step allocates: count steps alone
        counting.start()
        for _ in range(steps):
            step()
        counting.stop()
        gc.enable()
    print(f"counted {rounds * steps} {'kernel calls' if kernel_only else 'optimizer steps'}"
          f": instructions per step = the 'Collected' total / {rounds * steps}")


if __name__ == "__main__":
    main()
