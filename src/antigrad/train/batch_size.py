r"""The batch-size probe (L5): the largest batch still processed in parallel.

For candidate sizes ``b_1 < b_2 < ...`` (powers of two up to ``max_batch_size`` by
default) it measures the time of one training step (forward + backward) per example,
``τ(b) = time(b) / b`` (the minimum over ``repeats`` runs after ``warmup``), and walks up
while ``τ(b_k) < (1 − threshold) · τ(b_{k−1})``: the answer is the last ``b_k`` whose time
per example still fell by more than ``threshold``. The walk also stops before a batch whose
memory would exceed ``memory_limit`` (bytes) or that runs out of memory.

Memory is the peak CUDA allocation on a GPU; on a CPU it is estimated as the bytes of the
batch, the parameters' gradients and every tensor autograd saves for the backward pass.
``timer(b) -> seconds`` and ``memory(b) -> bytes`` replace the measurements (for tests, or
to probe another machine's numbers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["find_batch_size", "BatchSizeResult"]


@dataclass
class BatchSizeResult:
    """The chosen ``batch_size``, every measured size with its step time, time per example
    and memory, and ``reason``: why the walk stopped."""

    batch_size: int
    sizes: list[int]
    times: list[float]
    time_per_example: list[float]
    memory: list[int | None]
    reason: str


def _batch(sample: tuple[torch.Tensor, ...], b: int) -> tuple[torch.Tensor, ...]:
    n = len(sample[0])
    idx = torch.arange(b, device=sample[0].device) % n
    return tuple(t[idx] for t in sample)


def _loss(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor],
          batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    if len(batch) == 1:
        return loss_fn(model(batch[0]))
    return loss_fn(model(*batch[:-1]), batch[-1])


def _cpu_memory(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor],
                batch: tuple[torch.Tensor, ...], params: list[torch.Tensor]) -> int:
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        if not isinstance(t, torch.nn.Parameter):
            saved += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = _loss(model, loss_fn, batch)
    torch.autograd.grad(loss, params)
    grads = sum(p.numel() * p.element_size() for p in params)
    return saved + grads + sum(t.numel() * t.element_size() for t in batch)


def find_batch_size(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor],
                    sample: Any, *, candidates: Sequence[int] | None = None,
                    max_batch_size: int = 4096, threshold: float = 0.1,
                    memory_limit: int | None = None, repeats: int = 3, warmup: int = 1,
                    timer: Callable[[int], float] | None = None,
                    memory: Callable[[int], int] | None = None) -> BatchSizeResult:
    """Probe step time per example against batch size; see the module docstring.

    ``sample`` is a tensor or a tuple ``(*inputs, target)`` of a few examples; batches of
    any size repeat its rows. The model's weights and gradients are not changed
    (gradients are taken with ``torch.autograd.grad``).

    Example (with an injected timer: a fixed 1 ms overhead per step plus 10 µs per
    example beyond 64 examples in parallel)::

        >>> import torch, antigrad
        >>> timer = lambda b: 1e-3 + 1e-5 * max(b - 64, 0)
        >>> r = antigrad.find_batch_size(torch.nn.Linear(4, 1), torch.nn.functional.mse_loss,
        ...                              (torch.randn(8, 4), torch.randn(8, 1)), timer=timer)
        >>> r.batch_size, r.reason.split(":")[0]
        (256, 'time per example fell by less than 10%')
    """
    parts = _sample_parts(sample)
    candidates = _candidates(candidates, max_batch_size)
    _check_settings(threshold, memory_limit, repeats, warmup)
    probe = _Probe(model, loss_fn, parts, repeats, warmup, timer, memory)
    walk = _Walk(candidates)
    for b in candidates:
        if not walk.measure(b, probe, memory_limit) or walk.flattened(threshold):
            break
    if walk.chosen is None:
        raise ValueError(f"Invalid memory_limit: {memory_limit} (even batch {candidates[0]} "
                         f"does not fit: {walk.reason})")
    return BatchSizeResult(batch_size=walk.chosen, sizes=walk.sizes, times=walk.times,
                           time_per_example=walk.per, memory=walk.mems, reason=walk.reason)


def _sample_parts(sample: Any) -> tuple[torch.Tensor, ...]:
    parts = (sample,) if isinstance(sample, torch.Tensor) else tuple(sample)
    if not parts or not all(isinstance(t, torch.Tensor) and t.dim() > 0 and len(t) > 0
                            for t in parts):
        raise TypeError("Invalid sample: must be a tensor or a tuple of tensors with a "
                        "non-empty batch dimension")
    return parts


def _candidates(candidates: Sequence[int] | None, max_batch_size: Any) -> list[int]:
    """The sizes to try: ``candidates``, or the powers of two up to ``max_batch_size``."""
    if candidates is None:
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) \
                or max_batch_size < 1:
            raise ValueError(f"Invalid max_batch_size: {max_batch_size!r} (must be an "
                             "integer >= 1)")
        candidates = [2 ** k for k in range(max_batch_size.bit_length())]
    candidates = list(candidates)
    if not candidates or any(isinstance(b, bool) or not isinstance(b, int) or b < 1
                             for b in candidates) or candidates != sorted(set(candidates)):
        raise ValueError(f"Invalid candidates: {candidates!r} (must be increasing "
                         "integers >= 1)")
    return candidates


def _check_settings(threshold: Any, memory_limit: Any, repeats: Any, warmup: Any) -> None:
    if not 0 <= threshold < 1:
        raise ValueError(f"Invalid threshold: {threshold} (must be in [0, 1))")
    if memory_limit is not None and not memory_limit > 0:
        raise ValueError(f"Invalid memory_limit: {memory_limit} (must be > 0 bytes)")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"Invalid repeats: {repeats!r} (must be an integer >= 1)")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"Invalid warmup: {warmup!r} (must be an integer >= 0)")


class _Probe:
    """One batch size's step time (best of ``repeats`` after ``warmup``) and memory, or
    the injected ``timer``/``memory``."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor],
                 parts: tuple[torch.Tensor, ...], repeats: int, warmup: int,
                 timer: Callable[[int], float] | None,
                 memory: Callable[[int], int] | None) -> None:
        self.model, self.loss_fn, self.parts = model, loss_fn, parts
        self.repeats, self.warmup, self.timer, self.memory = repeats, warmup, timer, memory
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.cuda = parts[0].is_cuda

    def _grad(self, batch: tuple[torch.Tensor, ...]) -> None:
        torch.autograd.grad(_loss(self.model, self.loss_fn, batch), self.params)

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def bytes(self, b: int) -> int:
        if self.memory is not None:
            return int(self.memory(b))
        batch = _batch(self.parts, b)
        if not self.cuda:
            return _cpu_memory(self.model, self.loss_fn, batch, self.params)
        self._sync()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        self._grad(batch)
        self._sync()
        return torch.cuda.max_memory_allocated() - start

    def seconds(self, b: int) -> float:
        if self.timer is not None:
            return float(self.timer(b))
        batch = _batch(self.parts, b)
        best = float("inf")
        for k in range(self.warmup + self.repeats):
            self._sync()
            t0 = time.perf_counter()
            self._grad(batch)
            self._sync()
            if k >= self.warmup:
                best = min(best, time.perf_counter() - t0)
        return best


class _Walk:
    """The walk up the candidates: what was measured, the size chosen so far, and why
    the walk stopped."""

    def __init__(self, candidates: list[int]) -> None:
        self.sizes: list[int] = []
        self.times: list[float] = []
        self.per: list[float] = []
        self.mems: list[int | None] = []
        self.chosen: int | None = None
        self.reason = f"reached the largest candidate, {candidates[-1]}"

    def measure(self, b: int, probe: _Probe, memory_limit: int | None) -> bool:
        """Measure batch ``b``; False (and why, in ``reason``) if it does not fit."""
        try:
            wanted = memory_limit is not None or probe.memory is not None
            mem = probe.bytes(b) if wanted else None
            if mem is not None and memory_limit is not None and mem > memory_limit:
                self.reason = f"batch {b} needs {mem} bytes > memory_limit {memory_limit}"
                return False
            t = probe.seconds(b)
        except torch.OutOfMemoryError:  # by type: any device's allocator raises it
            if probe.cuda:
                torch.cuda.empty_cache()
            self.reason = f"batch {b} ran out of memory"
            return False
        self.sizes.append(b)
        self.times.append(t)
        self.per.append(t / b)
        self.mems.append(mem)
        return True

    def flattened(self, threshold: float) -> bool:
        """True (and why) when the time per example fell by less than ``threshold``;
        else the last size becomes the choice."""
        per = self.per
        if len(per) > 1 and not per[-1] < (1 - threshold) * per[-2]:
            fall = 1 - per[-1] / per[-2]
            self.reason = (f"time per example fell by less than {threshold:.0%}: "
                           f"{fall:.1%} from {self.sizes[-2]} to {self.sizes[-1]}")
            return True
        self.chosen = self.sizes[-1]
        return False
