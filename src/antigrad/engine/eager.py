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
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ..formula.expr import SCALAR_OPS, Graph
from .foreach import ForeachPlan

Value = Tensor | float


def run(plan: ForeachPlan | Graph, tensors: Mapping[str, Tensor],
        scalars: Mapping[str, Value]) -> dict[str, Tensor]:
    """The graph's outputs (``"param"`` and each state name) computed from ``tensors``
    (leaf name -> tensor) and ``scalars``; nothing is written in place."""
    plan = plan if isinstance(plan, ForeachPlan) else ForeachPlan(plan)
    graph = plan.graph
    values: dict[int, Value] = {}
    for n in graph.nodes:
        if n.op == "tensor":
            values[n.index] = tensors[n.name]
        elif n.op == "scalar":
            values[n.index] = scalars[n.name]
        elif n.op == "const":
            values[n.index] = n.value
        elif n.index not in plan.absorbed:
            fused = plan.fused.get(n.index)
            values[n.index] = _fused(fused, values) if fused else \
                _apply(n.op, [values[a.index] for a in n.args])
    like = tensors["param"]
    return {name: _as_tensor(values[out.index], like) for name, out in graph.outputs.items()}


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
