"""Choose how a traced update runs: a generated kernel when possible, else foreach.

By default the native backend (compiled C) runs plain CPU float32/float64 tensors, each
dense (contiguous, channels-last, ...) and laid out as its parameter; the Triton backend
(generated Triton, :mod:`.tritonkernel`) runs such tensors of any float dtype on CUDA
(and ROCm) and XPU devices when Triton is installed; every other bucket (strided views,
tensor subclasses such as DTensor, the CPU in half precision) runs on foreach with the
same formulas; a CPU bfloat16/float16 bucket makes foreach's calls tensor by tensor
(:mod:`.pertensor`), as torch's default for-loop path does there, unless its param group
asks for ``foreach=True``.

``ANTIGRAD_BACKEND`` forces a choice, read when an optimizer builds its buckets:
``foreach`` (always the general ``torch._foreach_*`` backend), ``native`` (never Triton),
or ``triton`` (Triton on every device it can run, the CPU included under Triton's
interpreter, ``TRITON_INTERPRET=1``; an error where it cannot).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from typing import Any

import torch
from torch import Tensor

from ..formula.expr import Graph
from . import foreach, native, reduction, sharded, tritonkernel

BACKENDS = ("auto", "native", "foreach", "triton")
GPU_DEVICES = ("cuda", "xpu")  # where Triton runs by default


def choice() -> str:
    """The backend asked for by ``$ANTIGRAD_BACKEND`` (``auto`` when unset)."""
    name = os.environ.get("ANTIGRAD_BACKEND", "auto").strip().lower() or "auto"
    if name not in BACKENDS:
        raise ValueError(f"Invalid ANTIGRAD_BACKEND: {name!r} (must be 'native', 'foreach' "
                         f"or 'triton')")
    return name


def use_triton(device: torch.device) -> bool:
    """Whether buckets on ``device`` run on the Triton backend: by default on GPU devices
    when Triton is installed; with ``ANTIGRAD_BACKEND=triton`` everywhere (RuntimeError if
    Triton is missing, or for CPU tensors unless ``TRITON_INTERPRET=1``)."""
    name = choice()
    if name == "triton":
        if not tritonkernel.available():
            raise RuntimeError("ANTIGRAD_BACKEND=triton, but Triton is not installed "
                               "(pip install 'antigrad[triton]')")
        if device.type == "cpu" and not tritonkernel.interpreted():
            raise RuntimeError("ANTIGRAD_BACKEND=triton runs CPU tensors only in Triton's "
                               "interpreter: set TRITON_INTERPRET=1 as well")
        return True
    return name == "auto" and device.type in GPU_DEVICES and tritonkernel.available()


class Plan:
    """A graph ready to run: its foreach plan and, compiled on first use, its native kernel."""

    __slots__ = ("graph", "scalars", "foreach", "use_native", "_kernel")

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.scalars = list(graph.scalar_inputs)
        self.foreach = foreach.ForeachPlan(graph)
        self.use_native = choice() in ("auto", "native", "triton")
        self._kernel: Any = None  # None: not loaded yet; False: unavailable

    @property
    def kernel(self) -> native.Kernel | None:
        if self._kernel is None:
            self._kernel = native.kernel(self.graph) or False
        return self._kernel or None


def run(plan: Plan, tensors: dict[str, list[Tensor]], scalars: dict[str, float],
        dtype: torch.dtype, check: bool = False,
        store: tuple[list[list[Tensor]], list[float]] | None = None,
        reduced: dict[int, foreach.PerTensor] | None = None, ops: Any = torch) -> bool:
    """Run ``plan`` on one bucket of same-device, same-dtype tensors, outputs in place, with
    the native kernel if the tensors allow it, else foreach (its calls made by ``ops``:
    ``torch``, or :data:`.pertensor.OPS` for torch's for-loop arithmetic).

    With ``check``, the gradients are checked first: False (and nothing written) if one is
    not finite. ``store = (tensors, values)`` is scalar state written after the update:
    each 0-d tensor in ``tensors[n]`` is set to ``values[n]``. ``reduced`` are the values
    of the graph's reductions for these tensors (see :func:`reduced_values`); a graph with
    reductions and no ``reduced`` counts all ``tensors`` as one param group.
    """
    if plan.graph.reductions:
        if check and not all_finite(tensors["grad"]):
            return False
        if reduced is None:
            n = len(tensors["param"])
            reduced = reduced_values(plan, tensors, [scalars], [0] * n, [0] * n)
        foreach.run(plan.foreach, tensors, scalars, reduced, ops)
        if store is not None:
            _store(store)
        return True
    kernel = plan.kernel if plan.use_native else None
    if kernel is not None and native.eligible(tensors, tensors["param"][0].device, dtype) \
            and (store is None or native.storable(store[0])):
        targets, values = store if store is not None else ([], [])
        rows = [0] * len(tensors["param"])
        return kernel.bind(tensors, dtype, targets)(tensors["grad"], [scalars], [values], check,
                                                    rows)
    if check and not all_finite(tensors["grad"]):
        return False
    foreach.run(plan.foreach, tensors, scalars, ops=ops)
    if store is not None:
        _store(store)
    return True


def reduced_values(plan: Plan, tensors: dict[str, list[Tensor | None]],
                   scalars: list[dict[str, float]], rows: list[int], owners: list[int]
                   ) -> dict[int, foreach.PerTensor]:
    """The values of ``plan``'s reductions for each tensor, with foreach ops: tensor ``i``
    takes its scalars from ``scalars[rows[i]]`` and counts in the totals of param group
    ``owners[i]``; row -1 (no gradient) counts nowhere and gets zeros."""
    n = len(tensors["param"])
    device = tensors["param"][0].device
    by_row = {r: [i for i in range(n) if rows[i] == r] for r in sorted(set(rows) - {-1})}

    def partials(phase: int, values: dict) -> Tensor:
        width = len(plan.graph.reductions[phase])
        out = torch.zeros(n, width, dtype=torch.float64, device=device)
        for r, pick in by_row.items():
            index = torch.tensor(pick, device=device)
            mine = {k: foreach.PerTensor(v[index].tolist()) for k, v in values.items()}
            part = {name: [ts[i] for i in pick] for name, ts in tensors.items()}
            out[index] = foreach.partials(plan.foreach, phase, part, scalars[r], mine)
        return out

    owners = [o if r >= 0 else -1 for o, r in zip(owners, rows, strict=True)]
    values = reduction.run(plan.graph, partials, torch.tensor(owners, device=device),
                           max(owners, default=0) + 1)
    return {k: foreach.PerTensor(v.tolist()) for k, v in values.items()}


def _store(store: tuple[list[list[Tensor]], list[float]]) -> None:
    for ts, value in zip(*store, strict=True):
        # One copy from a 0-d tensor: several times cheaper than _foreach_add_(ts, 1.0).
        torch._foreach_copy_(ts, [torch.tensor(value, dtype=ts[0].dtype)] * len(ts))


def all_finite(grads: list[Tensor]) -> bool:
    """Whether every gradient is finite: one native pass over the CPU float32/float64 ones,
    else one max-norm reduction per device (finite iff every entry is). Sharded (DTensor)
    gradients are checked shard by shard and the ranks of their mesh agree on the verdict."""
    grads, meshes = sharded.local_view(grads)
    return sharded.agree(_all_finite_here(grads), meshes)


def _all_finite_here(grads: list[Tensor]) -> bool:
    if choice() != "foreach":
        verdict = native.all_finite(grads)
        if verdict is not None:
            return verdict
    by_device: dict[torch.device, list[Tensor]] = defaultdict(list)
    for g in grads:
        if g.numel():  # the max-norm of an empty tensor is an error, and it holds no NaN
            by_device[g.device].append(torch.view_as_real(g) if g.is_complex() else g)
    for gs in by_device.values():
        norms = torch._foreach_norm(gs, math.inf)
        if not bool(torch.stack(norms).isfinite().all()):
            return False
    return True
