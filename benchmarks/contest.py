"""What the step benchmarks share: the same parameters for every contestant, and their
steps timed in turn.

Each contestant gets its own copy of the same parameters and gradients (:func:`make_params`
from one seed), and :func:`step_times` times one step of each, round after round, so a
machine that slows down mid-run slows every contestant alike.
"""

from __future__ import annotations

import statistics
import time

import torch


def mixed_shapes(total: int, count: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``count`` tensors of sizes spread over three orders of magnitude, ``total`` elements."""
    g = torch.Generator().manual_seed(seed)
    w = torch.exp(torch.rand(count, generator=g, dtype=torch.float64) * 7)
    sizes = (w / w.sum() * total).long().clamp_min(1)
    sizes[0] += total - int(sizes.sum())
    return [(int(s),) for s in sizes]


def make_params(shapes, seed: int = 0, dtype=torch.float32) -> list[torch.nn.Parameter]:
    """Parameters of ``shapes`` with gradients already set, the same for the same seed."""
    g = torch.Generator().manual_seed(seed)
    ps = [torch.nn.Parameter(torch.randn(s, generator=g, dtype=dtype)) for s in shapes]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g, dtype=dtype) * 0.1
    return ps


def step_times(contestants: dict, repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds of each timed step of each contestant (name -> optimizer): one step of
    each per round, the first ``warmup`` rounds untimed."""
    times: dict[str, list[float]] = {k: [] for k in contestants}
    for r in range(warmup + repeats):
        for name, opt in contestants.items():
            t = time.perf_counter()
            opt.step()
            dt = time.perf_counter() - t
            if r >= warmup:
                times[name].append(dt)
    return times


def median_step(contestants: dict, repeats: int, warmup: int) -> dict[str, float]:
    """The median of :func:`step_times` for each contestant."""
    return {k: statistics.median(v) for k, v in step_times(contestants, repeats, warmup).items()}
