"""What the C and Triton code generators share: which nodes a pass evaluates, in what
order, and the dispatch of each node kind to the line a generator writes for it.

A generated function has two parts: the *scalar lines*, run once per tensor (or program),
which compute the scalar nodes in double precision from the tensor's row of per-step
scalars and its row of reduction results; and the *body*, run per element, which loads
the tensor inputs a pass needs and evaluates its element-wise nodes. The element-wise
step evaluates every node; a reduce phase only the arguments of its reductions
(:meth:`~antigrad.formula.expr.Graph.needed`). A subclass says how one line of each kind
is written in its language.
"""

from __future__ import annotations

from ..formula.expr import REDUCTIONS, Expr
from .foreach import ForeachPlan


class Emitter:
    """Lines of one generated function for one graph (see the module docstring)."""

    def __init__(self, plan: ForeachPlan) -> None:
        self.plan, self.graph = plan, plan.graph
        self.scalar_lines: list[str] = []  # once per tensor, in double precision
        self.cast: dict[str, str] = {}      # double expression -> name of its converted copy
        self.body: list[str] = []

    # -- what a language writes ------------------------------------------------------------
    def literal(self, x: float) -> str:
        """A double-precision constant."""
        raise NotImplementedError

    def convert(self, name: str, dexpr: str) -> str:
        """The line that declares ``name``, ``dexpr`` converted to the element type."""
        raise NotImplementedError

    def scalar_line(self, n: Expr, expr: str) -> str:
        """The line that declares scalar node ``n`` as the double ``expr``."""
        raise NotImplementedError

    def scalar_input(self, k: int) -> str:
        """Input ``k`` of the tensor's row of per-step scalars."""
        raise NotImplementedError

    def reduced_input(self, column: int) -> str:
        """Column ``column`` of the tensor's row of reduction results."""
        raise NotImplementedError

    def scalar_node(self, n: Expr) -> str:
        """The double-precision expression of an arithmetic scalar node."""
        raise NotImplementedError

    def load(self, n: Expr, k: int) -> str:
        """The line that loads tensor leaf ``n`` (input ``k``) into ``t<index>``."""
        raise NotImplementedError

    def assign(self, n: Expr, expr: str) -> str:
        """The line that sets ``t<index>`` of element-wise node ``n`` to ``expr``."""
        raise NotImplementedError

    def node(self, n: Expr) -> str:
        """The element-wise expression of node ``n``."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------
    def scalar(self, e: Expr) -> str:
        """A double-precision expression for scalar node ``e``."""
        return self.literal(e.value) if e.op == "const" else f"s{e.index}"

    def const(self, dexpr: str) -> str:
        """A loop-invariant value of the element type (``dexpr`` converted), declared once."""
        if dexpr not in self.cast:
            name = f"c{len(self.cast)}"
            self.cast[dexpr] = name
            self.scalar_lines.append(self.convert(name, dexpr))
        return self.cast[dexpr]

    def value(self, e: Expr) -> str:
        return self.const(self.scalar(e)) if e.is_scalar else f"t{e.index}"

    def emit_scalars(self) -> None:
        """Every scalar node, once per tensor, in graph order (a reduce phase computes the
        ones that read later phases too: their inputs are zeros then, their values unused)."""
        g = self.graph
        for n in g.nodes:
            if not n.is_scalar or n.op == "const":
                continue
            if n.op == "scalar":
                expr = self.scalar_input(g.scalar_inputs.index(n.name))
            elif n.op in REDUCTIONS:
                expr = self.reduced_input(g.columns[n.index])
            else:
                expr = self.scalar_node(n)
            self.scalar_lines.append(self.scalar_line(n, expr))

    def emit_nodes(self, nodes: list[Expr]) -> None:
        """The body lines of ``nodes`` (element-wise, in graph order)."""
        g = self.graph
        for n in nodes:
            if n.is_scalar or n.index in self.plan.absorbed:
                continue
            if n.op == "tensor":
                self.body.append(self.load(n, g.tensor_inputs.index(n.name)))
            else:
                self.body.append(self.assign(n, self.node(n)))

    def phase_nodes(self, phase: int) -> list[Expr]:
        """The element-wise nodes reduce phase ``phase`` evaluates."""
        return self.graph.needed([r.args[0] for r in self.graph.reductions[phase]],
                                 self.plan.absorbed)

