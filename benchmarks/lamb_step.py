"""LAMB's step: antigrad's generated kernel (reduce phase + element-wise phase) against a
plain multi-tensor LAMB written with ``torch._foreach_*`` ops, and against antigrad's Adam
(the same moments without the norms), on the same parameters, in one process.

    .venv/bin/python benchmarks/lamb_step.py                      # default sizes
    .venv/bin/python benchmarks/lamb_step.py --size 4000000 --count 50 --repeats 21

Prediction (written before measuring): the step is memory-bound; Adam's kernel reads
p, g, m, v and writes p, m, v (7 passes over the parameters' bytes). LAMB adds one
read-only reduce pass over what its norms read (p, g, m, v: 4 more), so its kernel should
take about 11/7 = 1.6x Adam's time at sizes beyond the caches. The foreach LAMB makes a
pass per operation (about 20 with its temporaries), so the kernel should be 2-3x faster.
Each contestant's median time per step is printed with its ratio to the foreach LAMB.
"""

from __future__ import annotations

import argparse
import math
import os

import torch
from contest import make_params, median_step, mixed_shapes

import antigrad


class ForeachLAMB:
    """LAMB (You et al. 2019, Algorithm 2) with torch's multi-tensor ops: the peer."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01):
        self.params, self.lr, self.betas, self.eps, self.wd = params, lr, betas, eps, weight_decay
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        b1, b2 = self.betas
        self.t += 1
        ps, gs = self.params, [p.grad for p in self.params]
        torch._foreach_lerp_(self.m, gs, 1 - b1)
        torch._foreach_mul_(self.v, b2)
        torch._foreach_addcmul_(self.v, gs, gs, 1 - b2)
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, math.sqrt(1 - b2 ** self.t))
        torch._foreach_add_(denom, self.eps)
        r = torch._foreach_div(self.m, denom)
        torch._foreach_div_(r, 1 - b1 ** self.t)
        torch._foreach_add_(r, ps, alpha=self.wd)
        w_norm = torch.stack(torch._foreach_norm(ps))
        r_norm = torch.stack(torch._foreach_norm(r))
        ratio = torch.where((w_norm > 0) & (r_norm > 0), w_norm / r_norm, 1.0)
        torch._foreach_mul_(r, (-self.lr * ratio).tolist())
        torch._foreach_add_(ps, r)


def on_foreach(opt):
    """``opt`` with its buckets built on antigrad's foreach backend (its first step)."""
    os.environ["ANTIGRAD_BACKEND"] = "foreach"
    try:
        opt.step()
    finally:
        del os.environ["ANTIGRAD_BACKEND"]
    return opt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs="+", default=[100_000, 4_000_000])
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for size in args.size:
        shapes = mixed_shapes(size, args.count)
        kw = dict(lr=1e-3, weight_decay=0.01)
        contestants = {
            "foreach LAMB (torch ops)": ForeachLAMB(make_params(shapes), **kw),
            "antigrad.LAMB, native": antigrad.LAMB(make_params(shapes), **kw),
            "antigrad.LAMB, foreach": on_foreach(antigrad.LAMB(make_params(shapes), **kw)),
            "antigrad.Adam, native": antigrad.Adam(make_params(shapes), weight_decay=0.01),
        }
        times = median_step(contestants, args.repeats, warmup=3)
        peer = times["foreach LAMB (torch ops)"]
        adam = times["antigrad.Adam, native"]
        print(f"\n{size} float32 elements in {len(shapes)} tensors")
        for name, t in times.items():
            print(f"  {name:28s} {t * 1e3:8.3f} ms   foreach/this {peer / t:5.2f}x   "
                  f"this/Adam {t / adam:5.2f}x")


if __name__ == "__main__":
    main()
