"""Choose how a traced update runs: one compiled native loop when possible, else foreach.

``ANTIGRAD_BACKEND`` forces a choice: ``foreach`` (always the general ``torch._foreach_*``
backend) or ``native`` (the compiled loop wherever it applies, the default). It is read
when an optimizer first prepares a chain. The native backend applies to CPU tensors of
dtype float32/float64 that are all contiguous; every other bucket (other devices,
bfloat16/float16, strided views) runs on foreach with the same formulas.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from . import foreach, native
from .expr import Graph

BACKENDS = ("native", "foreach")


def choice() -> str:
    """The backend asked for by ``$ANTIGRAD_BACKEND`` (``native`` when unset)."""
    name = os.environ.get("ANTIGRAD_BACKEND", "native").strip().lower() or "native"
    if name not in BACKENDS:
        raise ValueError(f"Invalid ANTIGRAD_BACKEND: {name!r} (must be 'native' or 'foreach')")
    return name


class Plan:
    """A graph ready to run: its foreach plan and, compiled on first use, its native kernel."""

    __slots__ = ("graph", "foreach", "use_native", "_kernel")

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.foreach = foreach.ForeachPlan(graph)
        self.use_native = choice() == "native"
        self._kernel: Any = None  # None: not loaded yet; False: unavailable

    @property
    def kernel(self) -> native.Kernel | None:
        if self._kernel is None:
            self._kernel = native.kernel(self.graph) or False
        return self._kernel or None


def prepare(graph: Graph) -> Plan:
    """Everything needed to run ``graph`` repeatedly (built once per chain)."""
    return Plan(graph)


def run(plan: Plan, tensors: dict[str, list[Tensor]], scalars: dict[str, float],
        device: torch.device, dtype: torch.dtype) -> None:
    """Run ``plan`` on one bucket of same-device, same-dtype tensors, outputs in place."""
    if plan.use_native and native.eligible(tensors, device, dtype):
        k = plan.kernel
        if k is not None:
            k.step(tensors, scalars, dtype)
            return
    foreach.run(plan.foreach, tensors, scalars)
