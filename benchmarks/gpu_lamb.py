"""LAMB, LARS and clipping by the global norm on a GPU: antigrad's Triton backend (its
reduce kernels compiled, not interpreted) checked against the papers' algorithms, then
LAMB's step timed against a plain multi-tensor LAMB with ``torch._foreach_*`` ops and
against antigrad's Adam on the same parameters, in one process.

    python benchmarks/gpu_lamb.py                 # a CUDA machine with Triton
    python benchmarks/gpu_lamb.py --size 16000000 --count 200 --steps 50

Prediction (before measuring): memory-bound; Adam moves 7 passes over the parameters'
bytes (reads p, g, m, v; writes p, m, v), LAMB adds a reduce pass reading p, g, m, v
(11 passes): about 1.6x Adam's time at sizes where launch overhead vanishes, plus a few
small torch launches per step that combine the per-chunk partials. The foreach LAMB
makes about 20 passes with its temporaries and reads the norms back to the host: the
kernel should be 2-3x faster at large sizes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import antigrad
from antigrad.engine import tritonkernel

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from contest import mixed_shapes  # noqa: E402
from lamb_step import ForeachLAMB  # noqa: E402

from reduction_reference import clipped_sgd, gradients, lamb, lars, make_groups, max_error  # noqa: E402,I001


def check(device: torch.device) -> None:
    """Each optimizer on the device against its reference (computed on the CPU)."""
    for dtype, tol in [(torch.float32, 2e-5), (torch.float64, 1e-12)]:
        groups = make_groups(dtype)
        grads = gradients(groups, 3)
        cases = {
            "LAMB": (lambda ps: antigrad.LAMB(ps, lr=1e-2, weight_decay=0.01, max_grad_norm=2.0),
                     lamb(groups, grads, [(1e-2, 0.9, 0.999, 1e-6, 0.01, 2.0)] * 2)),
            "LARS": (lambda ps: antigrad.LARS(ps, lr=0.5, weight_decay=5e-4),
                     lars(groups, grads, [(0.5, 0.9, 5e-4, 1e-3)] * 2)),
            "clip_by_global_norm": (
                lambda ps: antigrad.ChainOptimizer(
                    ps, antigrad.chain(antigrad.transforms.clip_by_global_norm(),
                                       antigrad.transforms.descend()), lr=0.1, max_norm=0.3),
                clipped_sgd(groups, grads, [(0.1, 0.3)] * 2)),
        }
        for name, (make, want) in cases.items():
            params = [[torch.nn.Parameter(w.to(device, copy=True)) for w in ws] for ws in groups]
            opt = make([{"params": ps} for ps in params])
            for step in grads:
                for ps, gs in zip(params, step, strict=True):
                    for p, g in zip(ps, gs, strict=True):
                        p.grad = g.to(device, copy=True)
                opt.step()
            on_triton = all(isinstance(b.bound, tritonkernel.Bound)
                            for b in opt.planner.buckets)
            err = max_error([[p.detach().cpu() for p in ps] for ps in params], want)
            verdict = "ok" if on_triton and err <= tol else "FAILED"
            print(f"  {name:20s} {str(dtype):14s} Triton kernels: {on_triton}  "
                  f"error {err:.2e} (bound {tol:.0e})  {verdict}")


def timed(opt, steps: int) -> float:
    """Milliseconds per warm step (CUDA events)."""
    for _ in range(3):
        opt.step()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        opt.step()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / steps


def race(device: torch.device, sizes: list[int], count: int, steps: int) -> None:
    for size in sizes:
        shapes = mixed_shapes(size, count)

        def params(shapes=shapes):
            g = torch.Generator(device=device).manual_seed(0)
            ps = [torch.nn.Parameter(torch.randn(s, generator=g, device=device))
                  for s in shapes]
            for p in ps:
                p.grad = torch.randn(p.shape, generator=g, device=device) * 0.1
            return ps

        times = {
            "foreach LAMB (torch ops)": timed(ForeachLAMB(params(), weight_decay=0.01), steps),
            "antigrad.LAMB (Triton)": timed(antigrad.LAMB(params(), weight_decay=0.01), steps),
            "antigrad.Adam (Triton)": timed(antigrad.Adam(params(), weight_decay=0.01), steps),
            "torch.optim.Adam fused": timed(torch.optim.Adam(params(), weight_decay=0.01,
                                                             fused=True), steps),
        }
        peer, adam = times["foreach LAMB (torch ops)"], times["antigrad.Adam (Triton)"]
        print(f"\n{size} float32 elements in {count} tensors")
        for name, t in times.items():
            print(f"  {name:26s} {t:8.3f} ms   foreach LAMB/this {peer / t:5.2f}x   "
                  f"this/antigrad Adam {t / adam:5.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs="+", default=[1_000_000, 16_000_000, 128_000_000])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    device = torch.device("cuda")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}")
    check(device)
    race(device, args.size, args.count, args.steps)


if __name__ == "__main__":
    main()
