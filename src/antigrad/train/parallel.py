"""Data parallelism for the fit loop: every rank takes its slice of each global batch.

Under ``torchrun`` (``torch.distributed`` initialised, world size W > 1) every rank draws
the same global batch of K examples (same seed, same permutation), computes the loss on
rows ``[r·K/W, (r+1)·K/W)`` and back-propagates it scaled by ``n_r / K``; one all-reduce
(SUM) of all gradients and the loss then gives every rank the gradient and loss of the
whole batch — the same numbers as one process, up to float summation order, even when K
is not divisible by W. Parameters are broadcast from rank 0 at the start of a run.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist

__all__ = ["World"]


class World:
    """This process's place in the (possibly trivial) process group."""

    def __init__(self) -> None:
        active = dist.is_available() and dist.is_initialized()
        self.size = dist.get_world_size() if active else 1
        self.rank = dist.get_rank() if active else 0

    @property
    def parallel(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> slice:
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)

    def broadcast_module(self, module: torch.nn.Module) -> None:
        if self.parallel:
            with torch.no_grad():
                for t in [*module.parameters(), *module.buffers()]:
                    dist.broadcast(t.data, src=0)

    def reduce_grads_and(self, params: Sequence[torch.Tensor], *values: torch.Tensor,
                         ) -> list[torch.Tensor]:
        """Sum gradients (in place) and ``values`` over ranks with one all-reduce."""
        if not self.parallel:
            return list(values)
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        grads = [p.grad for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads]
                         + [v.reshape(-1).to(grads[0].dtype if grads else v.dtype)
                            for v in values])
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()
        return [flat[offset + i] for i in range(len(values))]

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.parallel:
            values = values.clone()
            dist.all_reduce(values)
        return values
