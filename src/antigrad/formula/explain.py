"""A traced graph as text: what a chain computes, written as formulas.

Each output (the parameter, each state tensor) is written as one expression of the
inputs; a value used more than once is named (``t1 = ...``) and written once, in the
order the backends compute it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from .expr import Expr, Graph

LEAVES = ("tensor", "scalar", "const")
# op -> (symbol, precedence) for the operators written between their operands
_INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "div": ("/", 2)}
_ATOM = 3  # precedence of a name, a number or a call: never parenthesized
# Reductions are written with the names formulas call them by (expr.total, expr.max_abs).
_CALLS = {"sum": "total", "max": "max_abs"}
_REDUCTIONS = ("sum", "norm", "max")


def render(graph: Graph, scalar_name: Callable[[str], str] = str) -> str:
    """``graph`` as lines ``name <- expression``; ``scalar_name`` renames the per-step
    scalar inputs (``"0.b1"`` -> ``"scale_by_adam.b1"``)."""
    uses = Counter(a.index for n in graph.nodes for a in n.args)
    uses.update(out.index for out in graph.outputs.values())
    named: dict[int, str] = {}
    lines = []
    for n in graph.nodes:
        if n.op not in LEAVES and uses[n.index] > 1:
            text = _text(n, named, scalar_name)[0]
            named[n.index] = f"t{len(named) + 1}"
            lines.append(f"{named[n.index]} = {text}")
    for name, out in graph.outputs.items():
        if out.op == "tensor" and out.name == name:
            continue  # not changed by the update
        lines.append(f"{name} <- {named.get(out.index) or _text(out, named, scalar_name)[0]}")
    return "\n".join(lines)


def _text(n: Expr, named: dict[int, str], scalar_name: Callable[[str], str]
          ) -> tuple[str, int]:
    """``n`` written out (names for named nodes), with its precedence."""
    if n.index in named:
        return named[n.index], _ATOM
    if n.op == "tensor":
        return n.name, _ATOM
    if n.op == "scalar":
        return scalar_name(n.name), _ATOM
    if n.op == "const":
        return f"{n.value:g}", _ATOM
    args = [_text(a, named, scalar_name) for a in n.args]
    if n.op == "neg":
        return f"-{_wrap(args[0], 2)}", 2
    if n.op in _INFIX:
        symbol, prec = _INFIX[n.op]
        # Left to right, as computed: a right operand of equal precedence keeps its
        # parentheses (a + (b - c) rounds differently from a + b - c).
        return f"{_wrap(args[0], prec)} {symbol} {_wrap(args[1], prec + 1)}", prec
    texts = [text for text, _ in args]
    if n.op in _REDUCTIONS and n.name == "group":
        texts.append('over="group"')
    return f"{_CALLS.get(n.op, n.op)}({', '.join(texts)})", _ATOM


def _wrap(arg: tuple[str, int], needs: int) -> str:
    text, prec = arg
    return text if prec >= needs else f"({text})"
