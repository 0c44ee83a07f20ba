"""Run a traced update on single tensors with out-of-place torch ops: autograd sees it.

This is the backend of ``differentiable=True`` (gradients through the optimizer step, for
meta-learning: the new parameter and state are functions of the old ones, the gradient
and tensor hyperparameters) and the way to run one transform, or any chain, on plain
tensors in a test. It evaluates the same :class:`~antigrad.formula.expr.Graph` as the
compiled and foreach backends, with the same fused calls (``x + s*y`` as
``torch.add(x, y, alpha=s)``, ``addcmul``, ``addcdiv``), so on the CPU its numbers are
those of the foreach backend, bit for bit.

Scalars may be Python numbers or tensors (a learning rate that requires grad, say); a
product of scalars that holds a tensor is applied by multiplication instead of ``alpha=``.

Reductions: :func:`reduced` runs a graph's reduce phases over a list of tensors (a param
group's) with torch ops, and :func:`run` reads each tensor's values as 0-d tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..formula.expr import REDUCTIONS, SCALAR_OPS, Expr, Graph
from . import reduction
from .foreach import ForeachPlan

Value = Tensor | float


def run(plan: ForeachPlan | Graph, tensors: Mapping[str, Tensor],
        scalars: Mapping[str, Value], reduced: Mapping[int, Tensor] | None = None
        ) -> dict[str, Tensor]:
    """The graph's outputs (``"param"`` and each state name) computed from ``tensors``
    (leaf name -> tensor) and ``scalars``; nothing is written in place. ``reduced`` holds
    the reductions' values for this tensor (node index -> 0-d tensor, see
    :func:`reduced`); without it a graph's reductions cover this tensor alone."""
    plan = plan if isinstance(plan, ForeachPlan) else ForeachPlan(plan)
    graph = plan.graph
    if reduced is None and graph.reductions:
        reduced = reduced_values(plan, [tensors], [scalars], [0])[0]
    values = _evaluate(plan, graph.nodes, tensors, scalars, reduced or {})
    like = tensors["param"]
    return {name: _as_tensor(values[out.index], like) for name, out in graph.outputs.items()}


def _evaluate(plan: ForeachPlan, nodes: list[Expr], tensors: Mapping[str, Tensor],
              scalars: Mapping[str, Value], reduced: Mapping[int, Tensor]) -> dict[int, Value]:
    """The values of ``nodes`` (in graph order, each after its arguments)."""
    values: dict[int, Value] = {}
    dtype = tensors["param"].dtype
    for n in nodes:
        if n.op == "tensor":
            values[n.index] = tensors[n.name]
        elif n.op == "scalar":
            values[n.index] = scalars[n.name]
        elif n.op == "const":
            values[n.index] = n.value
        elif n.op in REDUCTIONS:
            values[n.index] = reduced[n.index]
        elif n.index not in plan.absorbed:
            fused = plan.fused.get(n.index)
            values[n.index] = _fused(fused, values) if fused else _apply(
                n.op, [_element(values[a.index], a, n, dtype) for a in n.args])
    return values


def _element(v: Value, arg: Expr, n: Expr, dtype: torch.dtype) -> Value:
    """A per-tensor scalar (float64) meets the tensor's elements in their dtype, as the
    compiled kernels round such a scalar once, before the element-wise loop."""
    if arg.per_tensor and not n.is_scalar and isinstance(v, Tensor):
        return v.to(dtype)
    return v


def reduced_values(plan: ForeachPlan, tensors: Sequence[Mapping[str, Tensor]],
                   scalars: Sequence[Mapping[str, Value]], owners: list[int]
                   ) -> list[dict[int, Tensor]]:
    """Each tensor's reduction values (node index -> 0-d float64 tensor), from its leaves
    ``tensors[i]`` and ``scalars[i]``; ``owners[i]`` is the param group whose totals it
    counts in (-1: none). Differentiable: torch ops only."""
    graph = plan.graph
    device = tensors[0]["param"].device

    def partials(phase: int, values: dict[int, Tensor]) -> Tensor:
        rows = []
        for i, (leaves, row) in enumerate(zip(tensors, scalars, strict=True)):
            mine = {k: v[i] for k, v in values.items()}
            rows.append(_partials(plan, phase, leaves, row, mine))
        return torch.stack(rows)

    values = reduction.run(graph, partials, torch.tensor(owners, device=device),
                           max(owners, default=0) + 1)
    return [{k: v[i] for k, v in values.items()} for i in range(len(tensors))]


def _partials(plan: ForeachPlan, phase: int, tensors: Mapping[str, Tensor],
              scalars: Mapping[str, Value], reduced: Mapping[int, Tensor]) -> Tensor:
    """One tensor's partials of reduce phase ``phase`` (float64 ``[reductions]``)."""
    graph = plan.graph
    nodes = graph.reductions[phase]
    known = set(reduced)
    scalar_nodes = []
    for n in graph.nodes:  # the scalars this phase can read (later phases' are unknown)
        if n.index in reduced or n.is_scalar and n.op not in REDUCTIONS and all(
                a.index in known for a in n.args):
            known.add(n.index)
            scalar_nodes.append(n)
    order = sorted([*scalar_nodes, *graph.needed([r.args[0] for r in nodes], plan.absorbed)],
                   key=lambda n: n.index)
    values = _evaluate(plan, order, tensors, scalars, reduced)
    return torch.stack([_partial(r.op, values[r.args[0].index]) for r in nodes])


def _partial(op: str, x: Tensor) -> Tensor:
    if op == "sum":
        return x.sum(dtype=torch.float64)
    if op == "norm":
        return x.to(torch.float64).square().sum()
    if x.numel() == 0:
        return torch.zeros((), dtype=torch.float64, device=x.device)
    return x.abs().amax().to(torch.float64)


def _fused(fused: tuple, values: dict[int, Value]) -> Value:
    """``x + scale * core`` with torch's one-call forms, as the foreach backend runs it."""
    x, term, sign = fused
    scale: Value = sign
    for f, divide in term.factors:
        v = values[f.index] if f.index >= 0 else f.value
        scale = scale / v if divide else scale * v
    xs, ys = values[x.index], values[term.y.index]
    zs = values[term.z.index] if term.z is not None else None
    if isinstance(scale, Tensor) or not isinstance(xs, Tensor) or not isinstance(ys, Tensor):
        core = ys if zs is None else ys * zs if term.kind == "mul" else ys / zs
        return xs + scale * core
    if term.kind == "":
        return torch.add(xs, ys, alpha=scale)
    op = torch.addcmul if term.kind == "mul" else torch.addcdiv
    return op(xs, ys, zs, value=scale)


def _apply(op: str, args: list[Value]) -> Value:
    if not any(isinstance(a, Tensor) for a in args):
        return SCALAR_OPS[op](*args)
    a = args[0]
    if op == "add":
        return a + args[1]
    if op == "sub":
        return a - args[1]
    if op == "mul":
        return a * args[1]
    if op == "div":
        return a / args[1]
    if op in ("sqrt", "abs", "sign", "neg"):
        return getattr(torch, op)(a)
    if op == "lerp":
        return _lerp(*args)
    if op in ("maximum", "minimum"):
        return _extreme(op, a, args[1])
    raise NotImplementedError(f"eager backend: no rule for {op!r}")


def _lerp(a: Value, b: Value, w: Value) -> Value:
    if isinstance(a, Tensor) and isinstance(b, Tensor) and (
            not isinstance(w, Tensor) or w.dim() == 0):
        return torch.lerp(a, b, w)
    return a + w * (b - a)


def _extreme(op: str, a: Value, b: Value) -> Tensor:
    if not isinstance(a, Tensor):
        a, b = b, a
    if isinstance(b, Tensor):
        return getattr(torch, op)(a, b)
    return torch.clamp(a, min=b) if op == "maximum" else torch.clamp(a, max=b)


def _as_tensor(value: Value, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value if value.shape == like.shape else value.expand_as(like)
    return torch.full_like(like, value)
