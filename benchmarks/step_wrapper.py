"""The cost of torch's wrapper around ``step()``, and of antigrad's, on a lab-sized step.

An ``antigrad.Adam`` over 3 param groups of the 6 tensors of one MNIST-1D MLP replica each
(rows of stacked tensors, as the lab's replicas step: 48k floats in all), with fixed
gradients. Times, interleaved in rounds, CPU time per call of this process:

- *antigrad*: ``opt.step()`` as antigrad wraps it (torch's wrapper only when a profiler,
  a step hook or the compiler observes the step: none here);
- *torch's wrapper*: the same step through ``torch.optim.Optimizer.profile_hook_step``
  (its ``record_function`` label, the hook loops), as every torch optimizer's step is;
- *no wrapper*: the step function itself.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/step_wrapper.py --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import antigrad
from antigrad.problems import models


def _optimizer() -> antigrad.Adam:
    stacks = [torch.zeros(3, *p.shape) for p in models.mlp(40, [100, 100], 10).parameters()]
    groups = [{"params": [s[r] for s in stacks], "lr": 1e-3 * (r + 1)} for r in range(3)]
    for group in groups:
        for p in group["params"]:
            p.requires_grad_()
            p.grad = torch.randn_like(p)
    return antigrad.Adam(groups)


def _cpu_us(call: Callable[[], object], calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - start) / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    opt = _optimizer()
    inner = type(opt).step.__wrapped__
    torchs = torch.optim.Optimizer.profile_hook_step(inner)
    modes = {"antigrad": opt.step, "torch's wrapper": lambda: torchs(opt),
             "no wrapper": lambda: inner(opt)}
    for call in modes.values():
        _cpu_us(call, 50)
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.rounds):
        for name, call in modes.items():
            times[name].append(_cpu_us(call, args.calls))
    print("| step | CPU us a call (median) | min | max |\n|---|---:|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} | "
              f"{max(values):.1f} |")


if __name__ == "__main__":
    main()
