"""The fixed cost of ``optimizer.step()``: per tensor, per param group, per call.

Small tensors make the update itself cheap, so what is timed is the Python around it.
Every contestant steps its own copy of the same parameters with the same gradients; before
each step its gradients are replaced by fresh tensors (new objects, as
``zero_grad(set_to_none=True)`` and a backward pass give), untimed; the steps of the
contestants are interleaved, one of each per round, and the median is reported: wall time,
and the CPU time of the stepping thread (with one torch thread, the step's own work, less
disturbed by other jobs on a shared machine).

Cases:

- ``groups``: 64 param groups of the 6 tensors of the MNIST-1D MLP (15k floats each), as
  the lab's replicas step them: each group's parameters are rows of stacked tensors, its
  gradients rows of fresh stacked gradients, each group with its own lr;
- ``tensors``: the same 384 tensors, independent, in one param group;
- ``tiny``: one parameter of 2 elements.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/step_overhead.py
    PYTHONPATH=src .venv/bin/python benchmarks/step_overhead.py --only groups --repeats 200

Times on a shared machine move with its load; instructions do not. With ``--callgrind``
only antigrad steps, and only its steps are counted, under valgrind (a helper using
valgrind's client requests is compiled on the fly; valgrind's headers and a C compiler
are needed): the ``Collected`` total it prints divided by ``--repeats`` is the
instructions of one step.

    PYTHONPATH=src OMP_NUM_THREADS=1 valgrind --tool=callgrind --instr-atstart=no \
        --collect-atstart=no --callgrind-out-file=/dev/null .venv/bin/python \
        benchmarks/step_overhead.py --callgrind --only groups --repeats 10

``--checks-only`` counts instead only what a kept bucket checks before its kernel may run
(the state mapping, the state tensors', parameters' and gradients' layouts).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable

import torch

import antigrad

MLP = [(100, 40), (100,), (100, 100), (100,), (10, 100), (10,)]
REPLICAS = 64
LRS = [1e-3 * 10 ** (0.5 * (k % 3 - 1)) for k in range(REPLICAS)]


class Case:
    """One contestant's parameters and how it gets fresh gradients before a step."""

    def __init__(self, groups: list[dict], refresh: Callable[[int], None]) -> None:
        self.groups, self.refresh = groups, refresh


def replica_groups(seed: int = 0) -> Case:
    """64 groups of rows of stacked tensors, gradients rows of fresh stacked tensors."""
    g = torch.Generator().manual_seed(seed)
    stacks = [torch.randn(REPLICAS, *s, generator=g) for s in MLP]
    pool = [[torch.randn(REPLICAS, *s, generator=g) * 0.1 for s in MLP] for _ in range(3)]
    views = [[w[r] for w in stacks] for r in range(REPLICAS)]

    def refresh(step: int) -> None:
        for k, grad in enumerate(pool[step % len(pool)]):
            for r, row in enumerate(grad.clone().unbind(0)):
                views[r][k].grad = row

    return Case([{"params": views[r], "lr": LRS[r]} for r in range(REPLICAS)], refresh)


def independent(shapes: list[tuple[int, ...]], seed: int = 0) -> Case:
    """Independent parameters in one group, each gradient a fresh tensor."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    pool = [[torch.randn(s, generator=g) * 0.1 for s in shapes] for _ in range(3)]

    def refresh(step: int) -> None:
        for p, grad in zip(params, pool[step % len(pool)], strict=True):
            p.grad = grad.clone()

    return Case([{"params": params}], refresh)


CASES = {
    "groups": ("64 groups x 6 tensors (replicas of the MNIST-1D MLP)", replica_groups),
    "tensors": ("1 group of 384 tensors (the same shapes)",
                lambda: independent(MLP * REPLICAS)),
    "tiny": ("1 parameter of 2 elements", lambda: independent([(2,)])),
}

CONTESTANTS = {
    "antigrad": lambda groups: antigrad.Adam(groups, lr=1e-3),
    "antigrad (check)": lambda groups: antigrad.Adam(groups, lr=1e-3, nonfinite="raise"),
    "torch foreach": lambda groups: torch.optim.Adam(groups, lr=1e-3, foreach=True),
    "torch fused": lambda groups: torch.optim.Adam(groups, lr=1e-3, fused=True),
    "torch for-loop": lambda groups: torch.optim.Adam(groups, lr=1e-3, foreach=False),
}


def time_case(make: Callable[[], Case], repeats: int, warmup: int
              ) -> dict[str, tuple[float, float]]:
    """Median seconds of one step for each contestant, steps interleaved: wall, CPU."""
    runs = {}
    for name, build in CONTESTANTS.items():
        case = make()
        runs[name] = (build(case.groups), case.refresh)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for r in range(warmup + repeats):
        for name, (opt, refresh) in runs.items():
            refresh(r)
            c, t = time.thread_time(), time.perf_counter()
            opt.step()
            dt, dc = time.perf_counter() - t, time.thread_time() - c
            if r >= warmup:
                times[name].append((dt, dc))
    first = next(iter(runs.values()))[0]
    others = list(runs.values())[1:]
    for opt, _ in others:  # every contestant computed the same parameters
        for a, b in zip(first.param_groups, opt.param_groups, strict=True):
            for p, q in zip(a["params"], b["params"], strict=True):
                torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    return {name: (statistics.median(t for t, _ in ts), statistics.median(c for _, c in ts))
            for name, ts in times.items()}


HELPER = """#include <valgrind/callgrind.h>
void start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_TOGGLE_COLLECT; }
void stop(void) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_STOP_INSTRUMENTATION; }
"""


def counting_switch() -> ctypes.CDLL:
    """``start()`` / ``stop()``: callgrind counts instructions only between them."""
    with tempfile.TemporaryDirectory() as tmp:
        src, lib = os.path.join(tmp, "counting.c"), os.path.join(tmp, "counting.so")
        with open(src, "w") as f:
            f.write(HELPER)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", lib, src], check=True)
        return ctypes.CDLL(lib)


def count_instructions(make: Callable[[], Case], repeats: int, warmup: int,
                       checks_only: bool = False) -> None:
    """Step antigrad's optimizer with valgrind counting only inside ``step()`` (or, with
    ``checks_only``, only in the kept bucket's checks of that step: its state, parameters
    and gradients, run once more between steps)."""
    counting = counting_switch()
    case = make()
    opt = CONTESTANTS["antigrad"](case.groups)
    gc.disable()  # a collection lands in whichever step allocates: count steps alone
    for r in range(warmup + repeats):
        case.refresh(r)
        counted = r >= warmup
        if counted and checks_only:
            bucket = opt.planner.buckets[0]
            plan, grads = opt.planner.plan(bucket.chain), [p.grad for p in bucket.params]
            counting.start()
            ok = bucket.valid(opt.state) and bucket._bound(plan, bucket.params, grads,
                                                                False)[0]
            counting.stop()
            assert ok, "the kept bucket should pass its checks"
            counted = False
        if counted:
            counting.start()
        opt.step()
        if counted:
            counting.stop()
    gc.enable()
    print(f"stepped {repeats} times under callgrind: instructions per step = its "
          f"'Collected' total / {repeats}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=list(CASES), action="append")
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--callgrind", action="store_true",
                    help="count antigrad's instructions under valgrind (see above)")
    ap.add_argument("--checks-only", action="store_true",
                    help="with --callgrind: count only the kept bucket's checks")
    args = ap.parse_args()
    if args.callgrind:
        if not args.only or len(args.only) != 1:
            ap.error("--callgrind counts one case: name it with --only")
        count_instructions(CASES[args.only[0]][1], args.repeats, args.warmup,
                           args.checks_only)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), median of "
          f"{args.repeats} interleaved steps\n")
    print("| case | optimizer | ms/step | CPU ms/step | µs/tensor (CPU) | CPU ratio to torch "
          "foreach |")
    print("|---|---|---|---|---|---|")
    for key in args.only or list(CASES):
        label, make = CASES[key]
        tensors = sum(len(g["params"]) for g in make().groups)
        t = time_case(make, args.repeats, args.warmup)
        peer = t["torch foreach"][1]
        for name, (wall, cpu) in t.items():
            print(f"| {label} | {name} | {wall * 1e3:.3f} | {cpu * 1e3:.3f} | "
                  f"{cpu * 1e6 / tensors:.2f} | {cpu / peer:.2f} |", flush=True)


if __name__ == "__main__":
    main()
