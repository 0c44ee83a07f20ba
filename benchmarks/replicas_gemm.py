"""The batched model's products: antigrad's kernels against torch's, shape by shape.

Every product one step of R replicas of ``mnist1d-mlp`` (MLP 40-100-100-10, batch 128)
and of ``mnist1d-cnn`` (three stride-2 convolutions of 16 channels, kernel 5, on 40
samples, then a linear layer to 10) computes, with the operands laid out as the batched
model lays them out (:mod:`antigrad.lab.batched_model`): the forward products with their
bias (``torch.baddbmm``), the weights' gradients ``dY X^T`` and the inputs' gradients
``W^T dY`` (``torch.bmm``). Each product is timed as torch computes it and as
``replicas_gemm_kernel.matmul`` (this folder) does, interleaved (A B A B ...), ``--repeats``
samples of ``--calls`` calls each; the table gives medians (wall and CPU time of the
process), GFLOP/s (``2 R M N K`` per call), and each problem's total over its products.
With ``--cached`` every replica reads the same factors (in cache): the rate of the
arithmetic alone, without streaming 64 replicas' operands from the shared cache.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/replicas_gemm.py \\
        --replicas 64 --threads 1,2
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from replicas_gemm_kernel import matmul

# (label, M, K, N, how the operands lie): "nn" A (M,K) rows, B (K,N) rows; "nt" B is the
# transpose of a row-major (N,K) tensor (a weight's gradient dY X^T, the first layer's
# W x^T); "tn" A is the transpose of a row-major (K,M) weight (an input's gradient W^T dY).
MLP = [
    ("fwd  W1 x^T   100x40 . 40x128", 100, 40, 128, "nt", True),
    ("fwd  W2 h1    100x100 . 100x128", 100, 100, 128, "nn", True),
    ("fwd  W3 h2    10x100 . 100x128", 10, 100, 128, "nn", True),
    ("gW1  dZ1 x    100x128 . 128x40", 100, 128, 40, "nn", False),
    ("gW2  dZ2 h1^T 100x128 . 128x100", 100, 128, 100, "nt", False),
    ("gW3  dY h2^T  10x128 . 128x100", 10, 128, 100, "nt", False),
    ("gX2  W2^T dZ2 100x100 . 100x128", 100, 100, 128, "tn", False),
    ("gX3  W3^T dY  100x10 . 10x128", 100, 10, 128, "tn", False),
]
CNN = [
    ("fwd  conv1    16x5 . 5x2560", 16, 5, 2560, "nn", True),
    ("fwd  conv2    16x80 . 80x1280", 16, 80, 1280, "nn", True),
    ("fwd  conv3    16x80 . 80x640", 16, 80, 640, "nn", True),
    ("fwd  linear   10x80 . 80x128", 10, 80, 128, "nn", True),
    ("gW   conv1    16x2560 . 2560x5", 16, 2560, 5, "nt", False),
    ("gW   conv2    16x1280 . 1280x80", 16, 1280, 80, "nt", False),
    ("gW   conv3    16x640 . 640x80", 16, 640, 80, "nt", False),
    ("gW   linear   10x128 . 128x80", 10, 128, 80, "nt", False),
    ("gX   conv2    80x16 . 16x1280", 80, 16, 1280, "tn", False),
    ("gX   conv3    80x16 . 16x640", 80, 16, 640, "tn", False),
    ("gX   linear   80x10 . 10x128", 80, 10, 128, "tn", False),
]


def operands(r: int, m: int, k: int, n: int, kind: str, bias: bool, dtype: torch.dtype,
             cached: bool = False):
    """``(a, b, bias)`` laid out as the batched model has them; ``cached``: every replica
    reads the first one's factors (a stride of 0 along the replicas), so that they stay in
    the core's caches and only the outputs are the replicas' own."""
    if cached:
        return tuple(None if t is None else t.expand(r, *t.shape[1:])
                     for t in operands(1, m, k, n, kind, bias, dtype))
    a = torch.randn(r, k, m, dtype=dtype).transpose(1, 2) if kind == "tn" else \
        torch.randn(r, m, k, dtype=dtype)
    b = torch.randn(r, n, k, dtype=dtype).transpose(1, 2) if kind == "nt" else \
        torch.randn(r, k, n, dtype=dtype)
    return a, b, torch.randn(r, m, 1, dtype=dtype) if bias else None


def _torch(a, b, bias):
    return torch.bmm(a, b) if bias is None else torch.baddbmm(bias, a, b)


def _kernel(a, b, bias):
    return matmul(a, b, bias)


def _time(fn: Callable, args: tuple, calls: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn(*args)
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


def check() -> None:
    """The kernel against ``torch.baddbmm`` in float64 on odd shapes (sizes not multiples
    of a tile, one replica, an empty sum), both layouts of each factor, with and without
    bias and ReLU, on one and two threads: the numbers below are of a correct product."""
    for r, m, k, n in [(3, 7, 5, 19), (1, 13, 9, 33), (4, 1, 1, 1), (2, 6, 3, 16),
                       (2, 5, 0, 4), (2, 100, 40, 128), (1, 16, 80, 1280)]:
        a, b = torch.randn(r, m, k, dtype=torch.float64), torch.randn(r, k, n, dtype=torch.float64)
        bias = torch.randn(r, m, 1, dtype=torch.float64)
        for a_ in (a, a.transpose(1, 2).contiguous().transpose(1, 2)):
            for b_ in (b, b.transpose(1, 2).contiguous().transpose(1, 2)):
                for bias_, relu, threads in [(None, False, 1), (bias, True, 2), (bias, False, 2)]:
                    ours = matmul(a_, b_, bias_, relu, threads)
                    want = torch.bmm(a_, b_) if bias_ is None else torch.baddbmm(bias_, a_, b_)
                    want = want.relu() if relu else want
                    assert ours is not None and torch.allclose(ours, want, rtol=1e-12,
                                                               atol=1e-12), (r, m, k, n)


def measure(shapes, r: int, threads: int, repeats: int, calls: int, dtype: torch.dtype,
            cached: bool = False):
    """Rows ``(label, flop, torch wall, kernel wall, torch cpu, kernel cpu)``, medians."""
    torch.set_num_threads(threads)
    rows = []
    for label, m, k, n, kind, has_bias in shapes:
        args = operands(r, m, k, n, kind, has_bias, dtype, cached)
        ours = matmul(*args)
        assert ours is not None, f"the kernel does not apply to {label}"
        reference = _torch(*args)
        err = ((ours - reference).abs().max() / reference.abs().max()).item()
        assert err < 1e-4, f"{label}: relative error {err}"
        samples: dict[str, list[tuple[float, float]]] = {"torch": [], "kernel": []}
        for fn in (_torch, _kernel):  # warm up
            _time(fn, args, 2)
        for _ in range(repeats):
            samples["torch"].append(_time(_torch, args, calls))
            samples["kernel"].append(_time(_kernel, args, calls))
        med = {name: (statistics.median(s[0] for s in v), statistics.median(s[1] for s in v))
               for name, v in samples.items()}
        rows.append((label, 2.0 * r * m * n * k, med["torch"][0], med["kernel"][0],
                     med["torch"][1], med["kernel"][1]))
    return rows


def report(title: str, rows) -> None:
    print(f"\n{title}")
    print("| product | torch ms | kernel ms | torch GF/s | kernel GF/s | speed-up | "
          "CPU torch/kernel ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, flop, tw, kw, tc, kc in rows:
        print(f"| `{label}` | {tw * 1e3:.3f} | {kw * 1e3:.3f} | {flop / tw / 1e9:.1f} | "
              f"{flop / kw / 1e9:.1f} | {tw / kw:.2f}x | {tc * 1e3:.3f} / {kc * 1e3:.3f} |")
    flop = sum(row[1] for row in rows)
    tw, kw = sum(row[2] for row in rows), sum(row[3] for row in rows)
    tc, kc = sum(row[4] for row in rows), sum(row[5] for row in rows)
    print(f"| **total** | {tw * 1e3:.3f} | {kw * 1e3:.3f} | {flop / tw / 1e9:.1f} | "
          f"{flop / kw / 1e9:.1f} | **{tw / kw:.2f}x** | {tc * 1e3:.3f} / {kc * 1e3:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=64)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--only", choices=["mlp", "cnn"], default=None)
    parser.add_argument("--cached", action="store_true",
                        help="every replica reads the first one's factors (kept in cache)")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    check()
    for threads in (int(t) for t in args.threads.split(",")):
        for name, shapes in (("mnist1d-mlp", MLP), ("mnist1d-cnn", CNN)):
            if args.only and not name.endswith(args.only):
                continue
            rows = measure(shapes, args.replicas, threads, args.repeats, args.calls, dtype,
                           args.cached)
            cached = ", factors of one replica (cached)" if args.cached else ""
            report(f"{name}, {args.replicas} replicas{cached}, {args.dtype}, {threads} "
                   f"thread(s)", rows)


if __name__ == "__main__":
    main()
