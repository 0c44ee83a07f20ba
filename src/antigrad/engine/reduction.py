"""The reduce phases of a traced update: from per-tensor partials to the values it reads.

A graph with reductions (:func:`~antigrad.formula.expr.norm`, ...) runs in phases: each
backend computes, for every tensor, the *partial* of each reduction of a phase (the sum,
the sum of squares, the largest ``|x|``) with its own kernel or torch ops; this module
turns a phase's partials into the reductions' values, the same way for every backend:
a group-wide reduction combines the partials of the tensors of each param group (sums
add, maxima take the larger; a tensor sitting the step out counts in none), a norm takes
the square root. The element-wise phase (and the next reduce phase) then reads each
tensor's row of values as scalars.

Values stay torch tensors (float64, on the tensors' device; differentiable for the eager
backend), so the GPU never waits for them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..formula.expr import Expr, Graph

# partials(phase, values so far) -> [tensors, reductions of that phase], float64
Partials = Callable[[int, dict[int, Tensor]], Tensor]


def group_wide(graph: Graph) -> bool:
    """Whether ``graph`` reduces over whole param groups (``over="group"``)."""
    return any(r.name == "group" for phase in graph.reductions for r in phase)


def finish(phase: list[Expr], partials: Tensor, owners: Tensor, groups: int
           ) -> dict[int, Tensor]:
    """The values of one phase's reductions for each tensor (node index -> ``[nt]``).

    ``partials[i, k]`` is tensor ``i``'s partial of ``phase[k]``; ``owners[i]`` the param
    group (below ``groups``) whose total tensor ``i`` counts in (-1: in none; its own
    values are kept)."""
    out: dict[int, Tensor] = {}
    for k, r in enumerate(phase):
        p = partials[:, k]
        if r.name == "group":
            p = _group(r.op, p, owners, groups)
        out[r.index] = p.sqrt() if r.op == "norm" else p
    return out


def _group(op: str, p: Tensor, owners: Tensor, n: int) -> Tensor:
    """Each tensor's param-group total of the partials ``p`` (sum, or max for ``max``)."""
    counted = owners >= 0
    slot = owners.clamp(min=0)
    kept = torch.where(counted, p, torch.zeros_like(p))  # |x| >= 0: 0 is max's identity too
    return torch.where(counted, combine(op, kept, slot, n)[slot], p)


def combine(op: str, p: Tensor, slot: Tensor, n: int) -> Tensor:
    """The partials ``p`` gathered into ``n`` slots (``p[i]`` into ``slot[i]``): added, or
    for ``max`` the largest (NaN if one of them is: scatter_reduce's amax may drop it)."""
    zeros = torch.zeros(n, dtype=p.dtype, device=p.device)
    if op != "max":
        return zeros.index_add(0, slot, p)
    nan = zeros.index_add(0, slot, torch.where(p.isnan(), p, torch.zeros_like(p)))
    return zeros.scatter_reduce(0, slot, p, "amax") + nan


def run(graph: Graph, partials: Partials, owners: Tensor, groups: int) -> dict[int, Tensor]:
    """Every reduction's values for each tensor: the phases in order, each computed by
    ``partials`` from the values of the ones before (see :data:`Partials`; ``owners`` and
    ``groups`` as for :func:`finish`)."""
    values: dict[int, Tensor] = {}
    for k, phase in enumerate(graph.reductions):
        values.update(finish(phase, partials(k, values), owners, groups))
    return values


def table(graph: Graph, values: dict[int, Tensor]) -> Tensor:
    """The values as one ``[tensors, reductions]`` float64 table, columns as
    ``graph.columns`` numbers them."""
    order = sorted(graph.columns, key=graph.columns.__getitem__)
    return torch.stack([values[i].to(torch.float64) for i in order], dim=1)
