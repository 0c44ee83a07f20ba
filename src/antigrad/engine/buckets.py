"""A bucket: the parameters of one group that step together, prepared once, reused each step.

Parameters share a bucket when they share device, dtype and scalar state (``step``), so
one backend call updates them all. The bucket keeps the state tensors in lists and a
Python mirror of the scalar state, so a step reads no scalar tensor and looks nothing up
by parameter. It stays valid while the same parameters have gradients, their state
entries are the same tensors and the scalar tensors were not modified by anyone else
(their version counters are unchanged); otherwise the optimizer rebuilds it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..transforms.base import Chain, ScalarState
from . import backends


def _real(ts: list[Tensor]) -> list[Tensor]:
    return [torch.view_as_real(t) if t.is_complex() else t for t in ts]


class Bucket:
    """Parameters updated by one backend call; see the module docstring."""

    def __init__(self, params: list[Tensor], states: list[dict[str, Any]], chain: Chain,
                 scalar_values: tuple[float, ...], fresh: bool) -> None:
        self.params, self.states, self.fresh = params, states, fresh
        self.device, self.dtype = params[0].device, params[0].dtype
        self.is_complex = params[0].is_complex()
        self.kept = {n: [s[n] for s in states] for n in chain.state}
        self.kept_ids = {n: [id(t) for t in ts] for n, ts in self.kept.items()}
        # Element-wise formulas act on the real and imaginary parts of complex tensors.
        self.tensors = {n: _real(ts) for n, ts in self.kept.items()} if self.is_complex \
            else dict(self.kept)
        scalar_names = list(chain.scalar_state)
        self.scalar_tensors = {n: [s[n] for s in states] for n in scalar_names}
        kept_as = states[0][scalar_names[0]].dtype if scalar_names else torch.float32
        self.scalar = ScalarState(dict(zip(scalar_names, scalar_values, strict=True)), kept_as)
        self.native = backends.native_eligible(self.tensors, self.device, self.dtype)
        self.versions = self._versions()

    def _versions(self) -> list[int]:
        return [t._version for ts in self.scalar_tensors.values() for t in ts]

    def valid(self) -> bool:
        """Still describes the optimizer's state (nobody replaced or edited it)."""
        for name, ids in self.kept_ids.items():
            if [id(s.get(name)) for s in self.states] != ids:
                return False
        return self._versions() == self.versions

    def step(self, plan: backends.Plan, chain: Chain, group: dict[str, Any],
             check: bool) -> bool:
        """One update of every parameter in the bucket; False (nothing written) if ``check``
        found a non-finite gradient."""
        # Parameters and gradients are read afresh: `p.data` and `p.grad` may be new tensors.
        params, grads = self.params, [p.grad for p in self.params]
        if self.is_complex:
            params, grads = _real(params), _real(grads)
        scalar = ScalarState(self.scalar, self.scalar.dtype)
        scalars = chain.scalars(group, scalar, self.fresh)
        native = self.native and all(t.is_contiguous() for ts in (params, grads) for t in ts)
        tensors = {"param": params, "grad": grads, **self.tensors}
        if not backends.run(plan, tensors, scalars, self.dtype, native=native, check=check):
            return False
        for name, ts in self.scalar_tensors.items():
            # One copy from a 0-d tensor: several times cheaper than _foreach_add_(ts, 1.0).
            torch._foreach_copy_(ts, [torch.tensor(scalar[name], dtype=ts[0].dtype)] * len(ts))
        self.scalar, self.fresh = scalar, False
        self.versions = self._versions()
        return True
