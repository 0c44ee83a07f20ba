"""Element-wise expressions: the one form in which every formula is written.

A transform's update is ordinary Python arithmetic (``m * b1 + g * (1 - b1)``) on
:class:`Expr` values. Running it once records a small graph whose leaves are the
parameter, the gradient, the state tensors and the per-step scalars. That graph is
then executed by a backend: over whole tensor lists with ``torch._foreach_*`` ops
(:mod:`antigrad.engine.foreach`), or compiled into one C loop
(:mod:`antigrad.engine.native`). One definition, several fast executions.

Reductions (:func:`total`, :func:`norm`, :func:`max_abs`) turn a tensor expression into
one number per tensor, or per param group (``over="group"``, e.g. the global norm of all
gradients): a backend runs them as a reduce phase, a read-only pass over the tensors they
read, before the element-wise phase, which reads their results as scalars. A reduction
may read other reductions' results (clipping by the global norm, then LAMB's per-tensor
trust ratio): each such nesting adds a phase (:attr:`Graph.phases`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Number = int | float

# A node's op is a leaf, "tensor" (an input list), "scalar" (a per-step argument) or
# "const" (a number fixed when the chain is built), or an operation on its args: the
# element-wise ones of SCALAR_OPS (below) and the reductions.

# Reductions over a tensor's elements: the sum, the L2 norm and the largest |x|. What each
# backend accumulates per tensor (its partial) is the sum, the sum of squares and the
# largest |x|: partials of tensors add up (or take the larger) into a param group's.
REDUCTIONS = ("sum", "norm", "max")
SCOPES = ("tensor", "group")  # one value per tensor, or one per param group

_Method = Callable[["Expr", "Operand"], "Expr"]


def _arithmetic(op: str) -> tuple[_Method, _Method]:
    """The methods of ``e <op> o`` and of its reflection ``o <op> e`` (``1 - e``): each
    records node ``op`` with its operands in the order written."""

    def forward(self: Expr, o: Operand) -> Expr:
        return _binary(op, self, o)

    def reflected(self: Expr, o: Operand) -> Expr:
        return _binary(op, o, self)

    return forward, reflected


class Expr:
    """A node of an element-wise expression graph (see the module docstring)."""

    __slots__ = ("op", "args", "name", "value", "is_scalar", "per_tensor", "index")

    def __init__(self, op: str, args: tuple[Expr, ...] = (), name: str = "",
                 value: float = 0.0, is_scalar: bool | None = None) -> None:
        self.op, self.args, self.name, self.value = op, args, name, value
        # A node is scalar when no tensor input reaches it (a reduction is one): it is
        # computed once per step, or once per tensor when it reads a reduction (per_tensor).
        self.is_scalar = all(a.is_scalar for a in args) if is_scalar is None else is_scalar
        self.per_tensor = op in REDUCTIONS or any(a.per_tensor for a in args)
        self.index = -1  # position in its graph, set by `trace`

    def __repr__(self) -> str:
        if self.op == "const":
            return repr(self.value)
        if self.op in ("tensor", "scalar"):
            return self.name
        if self.op in REDUCTIONS:
            scope = ", over='group'" if self.name == "group" else ""
            return f"{_REDUCTION_NAMES[self.op]}({self.args[0]!r}{scope})"
        return f"{self.op}({', '.join(map(repr, self.args))})"

    # ``e + 1``, ``1 - e``, ...: each operator records its node (see _arithmetic)
    __add__, __radd__ = _arithmetic("add")
    __sub__, __rsub__ = _arithmetic("sub")
    __mul__, __rmul__ = _arithmetic("mul")
    __truediv__, __rtruediv__ = _arithmetic("div")

    def __neg__(self) -> Expr:
        return Expr("neg", (self,))

    def __pow__(self, o: Operand) -> Expr:
        raise TypeError("write powers of tensors as products; powers of scalars belong "
                        "in a transform's `scalars` function, computed in Python once per step")


Operand = Expr | Number


def const(value: Number) -> Expr:
    return Expr("const", value=float(value), is_scalar=True)


def lift(x: Operand) -> Expr:
    if isinstance(x, Expr):
        return x
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return const(x)
    raise TypeError(f"cannot use {type(x).__name__} in an element-wise formula")


def _binary(op: str, a: Operand, b: Operand) -> Expr:
    a, b = lift(a), lift(b)
    # Fold identities so that an unused option (eps_root = 0, a factor of 1) costs nothing.
    if op in ("add", "sub") and b.op == "const" and b.value == 0:
        return a
    if op == "add" and a.op == "const" and a.value == 0:
        return b
    if op in ("mul", "div") and b.op == "const" and b.value == 1:
        return a
    if op == "mul" and a.op == "const" and a.value == 1:
        return b
    if a.op == "const" and b.op == "const":
        return const(SCALAR_OPS[op](a.value, b.value))
    return Expr(op, (a, b))


def sqrt(x: Expr) -> Expr:
    return Expr("sqrt", (lift(x),))


def maximum(a: Operand, b: Operand) -> Expr:
    return _binary("maximum", a, b)


def minimum(a: Operand, b: Operand) -> Expr:
    return _binary("minimum", a, b)


def sign(x: Expr) -> Expr:
    return Expr("sign", (lift(x),))


def absolute(x: Expr) -> Expr:
    return Expr("abs", (lift(x),))


def lerp(a: Operand, b: Operand, w: Operand) -> Expr:
    """``a + w * (b - a)``, as ``torch.lerp``."""
    return Expr("lerp", (lift(a), lift(b), lift(w)))


def total(x: Expr, over: str = "tensor") -> Expr:
    """The sum of ``x``'s elements: one number per tensor (``over="tensor"``) or per
    param group (``over="group"``: the sum over all its tensors)."""
    return _reduction("sum", x, over)


def norm(x: Expr, over: str = "tensor") -> Expr:
    """The L2 norm of ``x``: per tensor, or of all the param group's tensors together
    (``over="group"``, as ``torch.nn.utils.clip_grad_norm_``'s total norm). 0 for an
    empty tensor."""
    return _reduction("norm", x, over)


def max_abs(x: Expr, over: str = "tensor") -> Expr:
    """The largest ``|x|`` (the infinity norm): per tensor, or over the param group's
    tensors (``over="group"``). 0 for an empty tensor; NaN if ``x`` holds NaN."""
    return _reduction("max", x, over)


_REDUCTION_NAMES = {"sum": "total", "norm": "norm", "max": "max_abs"}


def _reduction(op: str, x: Expr, over: str) -> Expr:
    if not isinstance(x, Expr) or x.is_scalar:
        raise TypeError(f"{_REDUCTION_NAMES[op]}() reduces a tensor expression (the "
                        f"gradient, a state, a formula of them), not {x!r}")
    if over not in SCOPES:
        raise ValueError(f"Invalid over: {over!r} (must be 'tensor' or 'group')")
    return Expr(op, (x,), name=over, is_scalar=True)


@dataclass
class Graph:
    """A traced update: its nodes in execution order and which node becomes each output.

    ``outputs`` maps ``"param"`` and each state name to the node holding its new value.
    ``tensor_inputs`` are the leaf names in a fixed order (``param``, ``grad``, then state);
    ``scalar_inputs`` are the per-step scalar names. ``reductions`` are the reduction
    nodes, by phase: ``reductions[k]`` are computed in reduce phase ``k`` and may read
    the results of earlier phases. Column ``columns[node.index]`` of a backend's
    per-tensor table of reduction results holds a reduction's value.
    """

    nodes: list[Expr]
    outputs: dict[str, Expr]
    tensor_inputs: list[str]
    scalar_inputs: list[str]
    key: str = field(default="")
    reductions: list[list[Expr]] = field(default_factory=list)
    columns: dict[int, int] = field(default_factory=dict)

    @property
    def phases(self) -> int:
        """How many reduce phases run before the element-wise one (0: none)."""
        return len(self.reductions)

    def needed(self, roots: list[Expr], absorbed: set[int] | frozenset[int] = frozenset()
               ) -> list[Expr]:
        """The non-scalar nodes that computing ``roots`` evaluates, in graph order; nodes
        in ``absorbed`` (folded into a fused call) are not evaluated on their own."""
        seen: set[int] = set()
        stack = [r for r in roots if not r.is_scalar]
        while stack:
            e = stack.pop()
            if e.index in seen:
                continue
            seen.add(e.index)
            stack.extend(a for a in e.args if not a.is_scalar)
        return [n for n in self.nodes if n.index in seen and n.index not in absorbed]

    def last_use(self) -> dict[int, int]:
        """For each node index, the index of the last node that reads it."""
        last: dict[int, int] = {}
        for n in self.nodes:
            for a in n.args:
                last[a.index] = n.index
        end = len(self.nodes)
        for out in self.outputs.values():
            last[out.index] = end
        return last


def trace(build: Callable[[dict[str, Expr], Callable[[str], Expr]], dict[str, Expr]],
          tensor_names: list[str]) -> Graph:
    """Run ``build(tensors, scalar) -> outputs`` on leaf expressions and record the graph.

    ``scalar(name)`` makes (once per name) a leaf for a per-step scalar argument.
    """
    tensors = {n: Expr("tensor", name=n, is_scalar=False) for n in tensor_names}
    scalars: dict[str, Expr] = {}

    def scalar(name: str) -> Expr:
        if name not in scalars:
            scalars[name] = Expr("scalar", name=name, is_scalar=True)
        return scalars[name]

    outputs = {k: lift(v) for k, v in build(tensors, scalar).items()}
    nodes: list[Expr] = []
    seen: set[int] = set()

    def visit(e: Expr) -> None:  # iterative post-order: graphs may be deep
        stack: list[tuple[Expr, Iterator[Expr]]] = [(e, iter(e.args))]
        while stack:
            node, it = stack[-1]
            child = next(it, None)
            if child is None:
                stack.pop()
                if id(node) not in seen:
                    seen.add(id(node))
                    node.index = len(nodes)
                    nodes.append(node)
            elif id(child) not in seen:
                stack.append((child, iter(child.args)))

    for leaf in [*tensors.values(), *scalars.values()]:
        visit(leaf)
    for out in outputs.values():
        visit(out)
    graph = Graph(nodes, outputs, tensor_names, list(scalars))
    graph.reductions = _phases(nodes)
    graph.columns = {r.index: k for k, r in enumerate(r for phase in graph.reductions
                                                       for r in phase)}
    graph.key = "|".join(
        [f"{n.op}:{n.name}:{n.value}:{[a.index for a in n.args]}" for n in nodes]
        + [f"{k}={v.index}" for k, v in outputs.items()])
    return graph


def _phases(nodes: list[Expr]) -> list[list[Expr]]:
    """The reduction nodes grouped by the phase that computes them: one more than the
    latest phase whose result their argument reads."""
    depth: dict[int, int] = {}
    phases: list[list[Expr]] = []
    for n in nodes:  # in execution order: arguments first
        d = max((depth[a.index] for a in n.args), default=0)
        if n.op in REDUCTIONS:
            d += 1
            if len(phases) < d:
                phases.append([])
            phases[d - 1].append(n)
        depth[n.index] = d
    return phases


def evaluate_scalar(e: Expr, env: dict[str, float]) -> float:
    """Value of a scalar-only node, given the per-step scalar arguments."""
    if e.op == "const":
        return e.value
    if e.op == "scalar":
        return env[e.name]
    vals = [evaluate_scalar(a, env) for a in e.args]
    return SCALAR_OPS[e.op](*vals)


def _div(a: float, b: float) -> float:
    return a / b if b != 0 else math.copysign(math.inf, a) if a != 0 else math.nan


SCALAR_OPS: dict[str, Callable[..., float]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": _div, "maximum": max, "minimum": min, "neg": lambda a: -a,
    "sqrt": math.sqrt, "abs": abs, "sign": lambda a: float((a > 0) - (a < 0)),
    "lerp": lambda a, b, w: a + w * (b - a),
}
