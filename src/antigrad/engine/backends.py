"""Choose how a traced update runs: compiled native loop when available, else foreach."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import foreach
from .expr import Graph


def prepare(graph: Graph) -> Any:
    """Everything needed to run ``graph`` repeatedly (built once per chain)."""
    return foreach.ForeachPlan(graph)


def run(plan: Any, tensors: dict[str, list[Tensor]], scalars: dict[str, float],
        device: torch.device, dtype: torch.dtype) -> None:
    """Run ``plan`` on one bucket of same-device, same-dtype tensors."""
    foreach.run(plan, tensors, scalars)
