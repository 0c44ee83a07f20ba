"""Run a traced update over whole tensor lists with ``torch._foreach_*`` ops.

This is the general backend: any device, any floating dtype. Each graph node becomes
one foreach call, written in place into a buffer whose old value is no longer needed,
so a step allocates few temporaries; ``x + s * y``, ``x + s * y * z`` and
``x + s * y / z`` become single ``add/addcmul/addcdiv`` calls, as in torch.optim.

A scalar that reads a reduction (a per-tensor norm, say) has one value per tensor: it is
a tuple of floats here, passed to the ``ScalarList`` forms of the foreach ops, and never
folded into an ``alpha=`` (which takes one number). :func:`partials` computes a reduce
phase's per-tensor partials with out-of-place foreach ops and ``torch._foreach_norm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..formula.expr import REDUCTIONS, SCALAR_OPS, Expr, Graph

READ_ONLY = "grad"  # the gradient belongs to the user: never written


class PerTensor(tuple):
    """A scalar's value for each tensor (it reads a reduction): a tuple of floats."""


@dataclass
class Term:
    """``scale * core`` where core is ``y``, ``y * z`` or ``y / z`` (kind "", "mul", "div")."""

    kind: str
    y: Expr
    z: Expr | None
    factors: list[tuple[Expr, bool]]  # scalar nodes, each multiplied (False) or divided (True)


class ForeachPlan:
    """A graph prepared for execution: use counts, fused terms and in-place permissions."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.uses = [0] * len(graph.nodes)
        for n in graph.nodes:
            for a in n.args:
                self.uses[a.index] += 1
        for out in graph.outputs.values():
            self.uses[out.index] += 1
        self.last = graph.last_use()
        # Which outputs each node's value flows into (writing it into that output's buffer
        # early saves a copy at the end).
        self.feeds: list[set[str]] = [set() for _ in graph.nodes]
        for name, out in graph.outputs.items():
            stack = [out]
            while stack:
                e = stack.pop()
                if name not in self.feeds[e.index]:
                    self.feeds[e.index].add(name)
                    stack.extend(a for a in e.args if not a.is_scalar)
        self.fused: dict[int, tuple[Expr, Term, float]] = {}
        self.absorbed: set[int] = set()
        for n in graph.nodes:
            if n.op in ("add", "sub") and not n.is_scalar:
                self._fuse(n)

    def _term(self, e: Expr, factors: list[tuple[Expr, bool]]) -> Term:
        if self.uses[e.index] == 1 and e.op in ("mul", "div", "neg") and not e.is_scalar:
            a, b = e.args[0], e.args[-1]
            if e.op == "neg":
                return self._term(a, [*factors, (Expr("const", value=-1.0, is_scalar=True), False)])
            if b.is_scalar and not b.per_tensor:
                return self._term(a, [*factors, (b, e.op == "div")])
            if e.op == "mul" and a.is_scalar and not a.per_tensor:
                return self._term(b, [*factors, (a, False)])
            if not a.is_scalar and not b.is_scalar:  # tensor * tensor, tensor / tensor
                return Term(e.op, a, b, factors)
        return Term("", e, None, factors)

    def _fuse(self, n: Expr) -> None:
        a, b = n.args
        if a.is_scalar or b.is_scalar:
            return
        x, t, sign = a, b, 1.0
        term = self._term(b, [])
        if n.op == "add" and term.kind == "" and not term.factors:
            alt = self._term(a, [])  # maybe the left side is the scaled one
            if alt.kind or alt.factors:
                x, t, term = b, a, alt
        if n.op == "sub":
            sign = -1.0
        if term.kind == "" and not term.factors and sign == 1.0:
            return  # a plain list + list: nothing to fuse
        self.fused[n.index] = (x, term, sign)
        stack = [t]
        while stack:  # the nodes folded into this call need no evaluation of their own
            e = stack.pop()
            if e is term.y or e is term.z or e.is_scalar:
                continue
            self.absorbed.add(e.index)
            stack.extend(e.args)


_UNARY = ("neg", "sqrt", "abs", "sign")


def run(plan: ForeachPlan, tensors: dict[str, list[Tensor]], scalars: dict[str, float],
        reduced: dict[int, PerTensor] | None = None, ops: Any = torch) -> None:
    """Execute ``plan`` on ``tensors`` (leaf name -> list); outputs are written in place.
    ``reduced`` holds each reduction's values (node index -> one per tensor). ``ops``
    provides the ``_foreach_*`` calls: ``torch`` itself, or
    :data:`antigrad.engine.pertensor.OPS` to run each call tensor by tensor."""
    graph = plan.graph
    values: dict[int, object] = {}
    owner: dict[int, str] = {}  # node index -> buffer it lives in ("tmp" or a leaf name)
    for n in graph.nodes:
        i = n.index
        if n.op == "tensor":
            values[i], owner[i] = tensors[n.name], n.name
            continue
        if n.is_scalar:
            values[i] = _scalar(n, values, scalars, reduced or {})
            continue
        if i in plan.absorbed:
            continue
        inplace = _writable(plan, n, owner)
        values[i], owner[i] = _compute(plan, n, values, inplace, owner, ops)
    _store(graph, values, owner, tensors, ops)


def _scalar(n: Expr, values: dict[int, object], scalars: dict[str, float],
            reduced: dict[int, PerTensor]) -> float | PerTensor:
    """A scalar node's value: a float, or a tuple (one per tensor) if it reads a reduction."""
    if n.op == "const":
        return n.value
    if n.op == "scalar":
        return scalars[n.name]
    if n.op in REDUCTIONS:
        return reduced[n.index]
    args = [values[a.index] for a in n.args]
    f = SCALAR_OPS[n.op]
    per = [a for a in args if isinstance(a, PerTensor)]
    if not per:
        return f(*args)
    return PerTensor(f(*[a[j] if isinstance(a, PerTensor) else a for a in args])
                     for j in range(len(per[0])))


def partials(plan: ForeachPlan, phase: int, tensors: dict[str, list[Tensor]],
             scalars: dict[str, float], reduced: dict[int, PerTensor]) -> Tensor:
    """Reduce phase ``phase``: ``[tensors, reductions]`` float64 partials (sum, sum of
    squares, largest ``|x|``) of its reductions' arguments, computed out of place from
    ``tensors`` (nothing is written) with the values of earlier phases, ``reduced``."""
    graph = plan.graph
    phase_nodes = graph.reductions[phase]
    values: dict[int, object] = {}
    for n in graph.nodes:  # every scalar this phase can read (later phases' are unknown)
        if n.index in reduced or n.is_scalar and n.op not in REDUCTIONS and all(
                a.index in values for a in n.args):
            values[n.index] = _scalar(n, values, scalars, reduced)
    for n in graph.needed([r.args[0] for r in phase_nodes], plan.absorbed):
        if n.op == "tensor":
            values[n.index] = tensors[n.name]
        else:
            values[n.index] = _compute(plan, n, values, None, {})[0]
    cols = [_partial(r.op, values[r.args[0].index]) for r in phase_nodes]
    return torch.stack(cols, dim=1)


def _partial(op: str, xs: list[Tensor]) -> Tensor:
    """Each tensor's partial of reduction ``op``, as float64 (0 for an empty tensor)."""
    if op == "sum":
        return torch.stack([x.sum(dtype=torch.float64) for x in xs])
    full = [x for x in xs if x.numel()]
    found = iter(torch._foreach_norm(full, 2 if op == "norm" else math.inf)) if full else iter(())
    zero = torch.zeros((), dtype=torch.float64, device=xs[0].device)
    out = torch.stack([next(found).to(torch.float64) if x.numel() else zero for x in xs])
    return out * out if op == "norm" else out


_COMMUTATIVE = ("add", "mul", "maximum", "minimum")


def _writable(plan: ForeachPlan, n: Expr, owner: dict[int, str]) -> Expr | None:
    """The operand whose buffer ``n`` may overwrite, if any: one whose value dies at ``n``."""
    fused = plan.fused.get(n.index)
    candidates = [fused[0]] if fused else n.args if n.op in _COMMUTATIVE else n.args[:1]
    for a in candidates:
        if a.is_scalar or plan.last[a.index] != n.index:
            continue
        buf = owner.get(a.index)
        if buf is None or buf == READ_ONLY:
            continue
        if buf == "tmp" or buf in plan.feeds[n.index] or not plan.feeds[n.index]:
            return a
    return None


def _compute(plan: ForeachPlan, n: Expr, values: dict, inplace: Expr | None,
             owner: dict[int, str], ops: Any = torch) -> tuple[list[Tensor], str]:
    keep = owner[inplace.index] if inplace is not None else "tmp"
    fused = plan.fused.get(n.index)
    if fused:
        x, term, sign = fused
        scale = sign
        for f, divide in term.factors:
            v = values[f.index] if f.index >= 0 else f.value
            scale = scale / v if divide else scale * v
        xs, ys = values[x.index], values[term.y.index]
        zs = values[term.z.index] if term.z is not None else None
        suffix = "_" if inplace is not None else ""
        if term.kind == "":
            out = getattr(ops, "_foreach_add" + suffix)(xs, ys, alpha=scale)
        else:
            out = getattr(ops, f"_foreach_addc{term.kind}{suffix}")(xs, ys, zs, value=scale)
        return (xs, keep) if inplace is not None else (out, "tmp")
    args = [values[a.index] for a in n.args]
    op = n.op
    if inplace is not None and inplace is not n.args[0]:
        args.reverse()  # commutative op: put the overwritten operand first
    a = args[0]
    if _number(a):  # scalar on the left of sub or div (never written in place)
        if op == "sub":
            out = ops._foreach_neg(args[1])
            ops._foreach_add_(out, a)
        elif op == "div":
            out = ops._foreach_reciprocal(args[1])
            ops._foreach_mul_(out, a)
        else:
            raise NotImplementedError(f"{op}(scalar, tensor)")
        return out, "tmp"
    rest = args[1:]
    if inplace is not None:
        getattr(ops, _name(op, rest) + "_")(a, *rest)
        return a, keep
    return getattr(ops, _name(op, rest))(a, *rest), "tmp"


def _name(op: str, rest: list) -> str:
    """The foreach op for graph op ``op`` on ``rest`` (after the first operand): a
    maximum or minimum with a scalar is a clamp."""
    if op in _UNARY:
        return f"_foreach_{op}"
    if op in _CLAMPS and _number(rest[0]):
        return f"_foreach_{_CLAMPS[op]}"
    return f"_foreach_{op}"


_CLAMPS = {"maximum": "clamp_min", "minimum": "clamp_max"}


def _number(v: object) -> bool:
    """A scalar operand: one float, or one per tensor."""
    return isinstance(v, (float, PerTensor))


def _store(graph: Graph, values: dict, owner: dict[int, str],
           tensors: dict[str, list[Tensor]], ops: Any) -> None:
    """Copy each output's final value into its own buffer, unless it already lives there."""
    pending = []
    for name, out in graph.outputs.items():
        if owner.get(out.index) == name:
            continue
        src = values[out.index]
        if isinstance(src, float):
            src = [torch.full_like(t, src) for t in tensors[name]]
        elif isinstance(src, PerTensor):
            src = [torch.full_like(t, v) for t, v in zip(tensors[name], src, strict=True)]
        elif owner.get(out.index) in graph.outputs:  # lives in another output's buffer
            src = [t.clone() for t in src]
        pending.append((name, src))
    for name, src in pending:
        ops._foreach_copy_(tensors[name], src)
