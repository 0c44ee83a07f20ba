"""What the non-finite check must cost: hand-written C loops on the same buffers as torch.

A step that leaves parameters and state untouched when a gradient is NaN or infinite must
read every gradient before its first write. For a model larger than the caches, that is
a second read of ``g`` from memory: 4 bytes per parameter on top of Adam's 28. This
script measures, on the same 16M fp32 buffers and interleaved round after round:

- ``read g``: one read-only pass over the gradients (the check alone);
- ``adam``: the Adam update alone (reads p, g, m, v; writes p, m, v);
- ``check, then adam``: what ``nonfinite="raise"`` must do (antigrad's kernel does this);
- the same with the update walking back from the end, so that it starts on the gradients
  the check read last (still in cache);
- ``check+adam per block``: check a 16 KiB block, then update it. One pass, but by the
  time a bad gradient is found earlier blocks are written: not a valid check, shown only
  as the floor a folded check could reach;
- torch fused Adam on the same buffers.

The ratio ``check, then adam`` / ``adam`` is the floor of the check's cost on this machine;
antigrad's default step cannot be faster than that relative to an unchecked kernel.

    .venv/bin/python benchmarks/check_floor.py [--size N] [--repeats R]
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time

import torch

from antigrad.engine import compiler

SOURCE = r"""
#include <math.h>
#include <omp.h>
typedef long long i64;
#define BLOCK 4096

static void share(i64 n, i64 *lo, i64 *hi) {
    int t = omp_get_thread_num(), k = omp_get_num_threads();
    *lo = (n * t / k) & ~(i64)15;
    *hi = t == k - 1 ? n : (n * (t + 1) / k) & ~(i64)15;
}
static int all_finite(const float *g, i64 s, i64 e) {
    float lanes[32] = {0}, acc = 0;  /* independent sums: latency does not bound the loop */
    i64 j = s;
    for (; j + 32 <= e; j += 32) {
        #pragma omp simd
        for (int k = 0; k < 32; k++) lanes[k] += g[j + k] * 0.0f;
    }
    for (; j < e; j++) acc += g[j] * 0.0f;
    for (int k = 0; k < 32; k++) acc += lanes[k];
    return acc == 0;
}
static void adam(float *p, const float *g, float *m, float *v, i64 s, i64 e) {
    const float b1 = 0.9f, b2 = 0.999f, lr = 1e-3f, eps = 1e-8f;
    #pragma omp simd
    for (i64 j = s; j < e; j++) {
        float mm = b1 * m[j] + (1 - b1) * g[j], vv = b2 * v[j] + (1 - b2) * g[j] * g[j];
        m[j] = mm; v[j] = vv; p[j] -= lr * mm / (sqrtf(vv) + eps);
    }
}
int read_g(const float *g, i64 n) {
    int ok = 1;
    #pragma omp parallel reduction(&&: ok)
    { i64 lo, hi; share(n, &lo, &hi); ok = all_finite(g, lo, hi); }
    return ok;
}
void adam_only(float *p, const float *g, float *m, float *v, i64 n) {
    #pragma omp parallel
    { i64 lo, hi; share(n, &lo, &hi); adam(p, g, m, v, lo, hi); }
}
/* Inside a parallel region: each thread checks its share, then all learn if any failed. */
static int any_bad(const float *g, i64 lo, i64 hi, int *bad) {
    if (!all_finite(g, lo, hi)) {
        #pragma omp atomic write
        *bad = 1;
    }
    #pragma omp barrier
    int stop;
    #pragma omp atomic read
    stop = *bad;
    return stop;
}
int check_then_adam(float *p, const float *g, float *m, float *v, i64 n) {
    int bad = 0;
    #pragma omp parallel
    {
        i64 lo, hi; share(n, &lo, &hi);
        if (!any_bad(g, lo, hi, &bad)) adam(p, g, m, v, lo, hi);
    }
    return bad;
}
int check_then_adam_reversed(float *p, const float *g, float *m, float *v, i64 n) {
    int bad = 0;
    #pragma omp parallel
    {
        i64 lo, hi; share(n, &lo, &hi);
        if (!any_bad(g, lo, hi, &bad))
            for (i64 e = hi; e > lo; e -= BLOCK)
                adam(p, g, m, v, e - BLOCK > lo ? e - BLOCK : lo, e);
    }
    return bad;
}
int check_adam_blocks(float *p, const float *g, float *m, float *v, i64 n) {
    int bad = 0;
    #pragma omp parallel
    {
        i64 lo, hi; share(n, &lo, &hi);
        for (i64 s = lo; s < hi; s += BLOCK) {
            i64 e = s + BLOCK < hi ? s + BLOCK : hi;
            if (!all_finite(g, s, e)) {
                #pragma omp atomic write
                bad = 1;
                break;
            }
            adam(p, g, m, v, s, e);
        }
    }
    return bad;
}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=16 << 20, help="parameters (fp32)")
    ap.add_argument("--repeats", type=int, default=41, help="timed rounds")
    args = ap.parse_args()
    path = compiler.build(SOURCE)
    if path is None:
        raise SystemExit("no working C compiler: nothing to measure")
    lib = ctypes.CDLL(str(path))
    n = args.size
    p, g, m, v = (torch.rand(n) for _ in range(4))
    g.mul_(1e-2)
    ptr = [ctypes.c_void_p(t.data_ptr()) for t in (p, g, m, v)]
    nn = ctypes.c_longlong(n)
    tp, tg = torch.nn.Parameter(torch.rand(n)), torch.rand(n)
    tp.grad = tg
    fused = torch.optim.Adam([tp], lr=1e-3, fused=True)
    cases = {
        "read g": (lambda: lib.read_g(ptr[1], nn), 4),
        "adam": (lambda: lib.adam_only(*ptr, nn), 28),
        "check, then adam": (lambda: lib.check_then_adam(*ptr, nn), 32),
        "check, then adam from the end (g last read first)":
            (lambda: lib.check_then_adam_reversed(*ptr, nn), 32),
        "check+adam per block (unsafe)": (lambda: lib.check_adam_blocks(*ptr, nn), 28),
        "torch fused Adam": (fused.step, 28),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(args.repeats + 3):
        for name, (fn, _) in cases.items():
            t0 = time.perf_counter()
            fn()
            if r >= 3:
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(t) for k, t in times.items()}
    print(f"{n} fp32 elements, {torch.get_num_threads()} threads, median of {args.repeats}\n")
    print("| loop | ms | GB/s (bytes it moves) | vs adam |")
    print("|---|---|---|---|")
    for name, (_, nbytes) in cases.items():
        print(f"| {name} | {med[name] * 1e3:.3f} | {nbytes * n / med[name] / 1e9:.1f} "
              f"| {med[name] / med['adam']:.2f} |")
    floor = med["check, then adam"] / med["adam"]
    print(f"\nfloor of the check's cost (check, then adam / adam): +{(floor - 1) * 100:.0f}%")


if __name__ == "__main__":
    main()
