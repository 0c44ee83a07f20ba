"""The columns' backward of a 1-D convolution (:mod:`antigrad.lab.conv_columns`): the
input gradient summed tap by tap into zeros (``_scatter_taps``, what a double backward
uses) against written once per position (``_gather_taps``, a first backward), on the
layers of ``mnist1d-cnn`` (``models.cnn1d(40, 10)``: 16 channels, kernel 5, stride 2,
padding 2; inputs of length 20 and 10 need an input gradient) for ``--replicas`` replicas
of a ``--batch`` minibatch, float32.

The two alternate (ABAB...) in ``--rounds`` rounds of ``--calls`` calls each, so a load
that comes and goes falls on both; the script checks they are equal bit for bit, and
prints each one's median wall and CPU milliseconds per call and the ratio.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/conv_columns_backward.py \\
        --replicas 64 --rounds 15 --calls 10
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from antigrad.lab import heap
from antigrad.lab.conv_columns import ConvShape, _gather_taps, _scatter_taps

SHAPE = ConvShape(kernel=5, stride=2, padding=2, dilation=1)
LENGTHS = (20, 10)  # the inputs of mnist1d-cnn's second and third convolutions
CHANNELS = 16


def _time(fn, grads: list[torch.Tensor], calls: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        for grad, length in zip(grads, LENGTHS, strict=True):
            fn(grad, SHAPE, length)
    return ((time.perf_counter() - wall) * 1e3 / calls,
            (time.process_time() - cpu) * 1e3 / calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=64)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    heap.keep_freed_memory()  # as a batch's step runs: freed memory reused, no fresh pages
    torch.manual_seed(0)
    grads = [torch.randn(args.replicas, CHANNELS * SHAPE.kernel,
                         SHAPE.output_length(n) * args.batch) for n in LENGTHS]
    for grad, length in zip(grads, LENGTHS, strict=True):
        if not torch.equal(_scatter_taps(grad, SHAPE, length),
                           _gather_taps(grad, SHAPE, length)):
            raise SystemExit("the two backwards differ")
    samples: dict[str, list[tuple[float, float]]] = {"scatter": [], "gather": []}
    for _ in range(args.rounds):
        samples["scatter"].append(_time(_scatter_taps, grads, args.calls))
        samples["gather"].append(_time(_gather_taps, grads, args.calls))
    medians = {name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
               for name, s in samples.items()}
    for name, (wall, cpu) in medians.items():
        print(f"{name:8s} {wall:7.3f} ms wall  {cpu:7.3f} ms CPU  (both layers, per call)")
    print(f"scatter / gather: {medians['scatter'][0] / medians['gather'][0]:.2f}x wall, "
          f"{medians['scatter'][1] / medians['gather'][1]:.2f}x CPU")


if __name__ == "__main__":
    main()
