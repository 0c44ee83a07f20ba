"""Triton source for a traced update: one ``@triton.jit`` kernel per chain and dtypes.

From a :class:`~antigrad.formula.expr.Graph` and the dtypes of its tensor inputs this
writes ``ag_step``, a kernel launched once for a whole bucket. Program ``pid`` handles one
chunk of ``BLOCK`` elements of one tensor, named by row ``pid`` of the chunk table
(tensor index, first element). It reads that tensor's addresses and size from the static
table (built when the bucket is bound), its gradient address and row of scalars from the
step's upload, computes the scalar nodes once in float64, loads every input once, converts
it to the compute type (float32; float64 for float64 parameters), evaluates the graph in
registers as the ``torch._foreach_*`` call each node stands for computes it, and rounds
each output once, to the dtype of the tensor it is stored in. The first chunk of each
tensor also writes its new scalar state (``step``) when that lives on the device.

``ag_check`` is the graph-independent non-finite check over a list of gradients: it sets
a device flag that ``ag_step`` reads, so a refused step writes nothing without the host
waiting for the verdict.
"""

from __future__ import annotations

import torch

from ..formula.expr import Expr, Graph
from .emitter import Emitter
from .foreach import ForeachPlan

# torch dtype -> Triton dtype name
TL = {torch.float32: "tl.float32", torch.float64: "tl.float64",
      torch.bfloat16: "tl.bfloat16", torch.float16: "tl.float16"}

_HEADER = '''\
import triton
import triton.language as tl


@triton.jit
def _round_bf16(x):
    # float32 -> bfloat16, to nearest even, by integer arithmetic: the same bits on the GPU
    # and in Triton's interpreter (whose own conversion truncates).
    b = x.to(tl.uint32, bitcast=True)
    r = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    r = tl.where(x != x, 0x7FC0, r)
    return r.to(tl.uint16).to(tl.bfloat16, bitcast=True)
'''

_CHECK = '''

@triton.jit(do_not_specialize=["nt", "width", "base"])
def ag_check(stat, dyn, chunks, flag, nt, width, base, BLOCK: tl.constexpr):
    # The gradients of a bound bucket (addresses dyn[:nt], rows dyn[nt:2nt], sizes in column
    # 0 of stat, rows of width entries): for a gradient i that is not finite, flag becomes
    # at least 2 * (base + i + 1) + (1 if it holds NaN).
    pid = tl.program_id(0)
    i = tl.load(chunks + 2 * pid)
    start = tl.load(chunks + 2 * pid + 1)
    row = tl.load(dyn + nt + i)
    n = tl.load(stat + i * width)
    g = tl.load(dyn + i).to(tl.pointer_type(%(G)s))
    offs = start + tl.arange(0, BLOCK)
    x = tl.load(g + offs, mask=(offs < n) & ((row + offs * 0) >= 0), other=0).to(tl.float32)
    # No reduction: the (rare) non-finite lanes each raise the flag, the others do nothing.
    code = tl.where(x * 0 != 0, 2 * (base + i + 1) + (x != x).to(tl.int64), 0)
    tl.atomic_max(flag + offs * 0, code.to(tl.int32), mask=code > 0)
'''

# The start of ag_step and of each ag_reduce<k>: program pid's tensor i, its chunk of
# offsets from start, its row r of scalars (row -1: a tensor left alone), its table entry
# at base and size n, and the scalar nodes computed from them.
_PROLOGUE = '''\
    pid = tl.program_id(0)
    i = tl.load(chunks + 2 * pid)
    start = tl.load(chunks + 2 * pid + 1)
    row = tl.load(dyn + nt + i)
    r = tl.maximum(row, 0)
    base = stat + i * %(width)d
    n = tl.load(base)
    S = (scal + s_off).to(tl.pointer_type(tl.float64), bitcast=True)
%(scalars)s
    offs = start + tl.arange(0, BLOCK)'''

_STEP = '''

@triton.jit(do_not_specialize=["nt", "s_off", "v_off"])
def ag_step(stat, dyn, chunks, flag, scal, nt, s_off, v_off, BLOCK: tl.constexpr):
    # stat[i]: tensor i's size, the addresses of its inputs (%(inputs)s; the gradient's
    # is 0), the addresses of its %(nq)d scalar-state tensors. dyn: gradient addresses
    # (nt), rows (nt). scal (dyn itself, or a tensor computed on the device): at s_off the
    # rows of %(ns)d scalars and at v_off the rows of %(nq)d new scalar-state values,
    # float64. Row -1 leaves tensor i alone; a non-zero flag (a failed check) leaves every
    # tensor alone.
%(prologue)s
    # (scalar conditions broadcast by arithmetic: the interpreter cannot `&` a scalar mask)
    live = ((row + offs * 0) >= 0) & ((tl.load(flag) + offs * 0) == 0)
    m = (offs < n) & live
%(body)s
%(store)s
'''


_REDUCE = '''

@triton.jit(do_not_specialize=["nt", "s_off"])
def ag_reduce%(phase)d(stat, dyn, chunks, scal, out, nt, s_off, BLOCK: tl.constexpr):
    # Reduce phase %(phase)d: program pid's partials (float64) of the phase's %(k)d
    # reductions over its chunk, into out[pid * %(k)d + j]; the host adds (or takes the
    # largest of) the chunks of each tensor. Tables as for ag_step; nothing is written.
%(prologue)s
    m = (offs < n) & ((row + offs * 0) >= 0)
%(body)s
'''

# A program's partial of its masked elements ``{v}``, per reduction kind, in float64; a
# NaN makes the largest |x| NaN (tl.max may drop it).
_PARTIAL = {
    "sum": "tl.sum(tl.where(m, {v}, 0).to(tl.float64), axis=0)",
    "norm": "tl.sum(tl.where(m, {v}.to(tl.float64) * {v}.to(tl.float64), 0), axis=0)",
    "max": "tl.max(tl.where(m, tl.abs({v}), 0).to(tl.float64), axis=0) + "
           "tl.sum(tl.where(m & ({v} != {v}), {v}, 0).to(tl.float64), axis=0)",
}


def _lit(x: float) -> str:
    """A float64 constant (exact: a Python float is rounded to float32 by Triton's casts)."""
    if x != x:
        v = 'float("nan")'
    elif x in (float("inf"), float("-inf")):
        v = 'float("inf")' if x > 0 else 'float("-inf")'
    else:
        v = repr(float(x))
    return f"tl.full((), {v}, tl.float64)"


class _Gen(Emitter):
    """Triton source of ``ag_step`` (or of a reduce phase, ``ag_reduce<k>``) for one graph
    and one assignment of dtypes."""

    def __init__(self, plan: ForeachPlan, dtypes: dict[str, torch.dtype], nq: int,
                 scalar_dtype: torch.dtype) -> None:
        super().__init__(plan)
        self.dtypes = dtypes
        self.nq, self.scalar_dtype = nq, scalar_dtype
        wide = dtypes["param"] == torch.float64
        self.C = "tl.float64" if wide else "tl.float32"  # compute type
        self.wide = wide

    def literal(self, x: float) -> str:
        return _lit(x)

    def convert(self, name: str, dexpr: str) -> str:
        return f"{name} = ({dexpr}).to({self.C})"

    def scalar_line(self, n: Expr, expr: str) -> str:
        return f"s{n.index} = {expr}"

    def scalar_input(self, k: int) -> str:
        return f"tl.load(S + r * {len(self.graph.scalar_inputs)} + {k})"

    def reduced_input(self, column: int) -> str:
        return f"tl.load(RD + {column})"

    def load(self, n: Expr, k: int) -> str:
        return f"t{n.index} = tl.load(x{k} + offs, mask=m).to({self.C})"

    def assign(self, n: Expr, expr: str) -> str:
        return f"t{n.index} = {expr}"

    def div(self, a: str, b: str) -> str:
        # Triton's float32 `/` is approximate on the GPU; div_rn is IEEE, as torch.
        return f"({a} / {b})" if self.wide else f"tl.math.div_rn({a}, {b})"

    def sqrt(self, a: str) -> str:
        return f"tl.sqrt({a})" if self.wide else f"tl.sqrt_rn({a})"

    def generate(self) -> str:
        g = self.graph
        self._emit_scalars()
        self._emit_tensor_nodes(g.nodes)
        self._emit_stores()
        return _STEP % {
            "inputs": ", ".join(g.tensor_inputs), "nq": self.nq, "ns": len(g.scalar_inputs),
            "prologue": self._prologue(), "body": _indent(self.body),
            "store": _indent(self.store_lines())}

    def reduce_source(self, phase: int) -> str:
        """``ag_reduce<phase>``: each program's partials of the phase's reductions."""
        reductions = self.graph.reductions[phase]
        self._emit_scalars()
        self._emit_tensor_nodes(self.phase_nodes(phase))
        for j, r in enumerate(reductions):
            v = self.value(r.args[0])
            self.body.append(f"tl.store(out + pid * {len(reductions)} + {j}, "
                             f"{_PARTIAL[r.op].format(v=v)})")
        return _REDUCE % {"phase": phase, "k": len(reductions),
                          "prologue": self._prologue(), "body": _indent(self.body)}

    def _prologue(self) -> str:
        return _PROLOGUE % {"width": width(self.graph, self.nq),
                            "scalars": _indent(self.scalar_lines)}

    def _emit_scalars(self) -> None:
        """Scalar nodes, in float64, once per program (reductions: from the tensor's row of
        results, whose address is the last entry of its row of the static table)."""
        if self.graph.columns:
            self.scalar_lines.append(f"RD = tl.load(base + {width(self.graph, self.nq) - 1})"
                                     f".to(tl.pointer_type(tl.float64))")
        self.emit_scalars()

    def _emit_tensor_nodes(self, nodes: list[Expr]) -> None:
        """Each tensor's pointer from the table, then the element-wise ``nodes``."""
        g = self.graph
        for k, name in enumerate(g.tensor_inputs):
            src = "dyn + i" if name == "grad" else f"base + {k + 1}"
            self.body.append(f"x{k} = tl.load({src}).to(tl.pointer_type({TL[self.dtypes[name]]}))")
        self.emit_nodes(nodes)

    def _emit_stores(self) -> None:
        """Every changed output stored through one rounding to its tensor's dtype."""
        g = self.graph
        for name, out in g.outputs.items():
            if out.op == "tensor" and out.name == name:
                continue  # unchanged
            k = g.tensor_inputs.index(name)
            v = self.value(out)
            if out.is_scalar:
                v = f"tl.full([BLOCK], {v}, {self.C})"
            self.body.append(f"tl.store(x{k} + offs, {self.round(v, self.dtypes[name])}, "
                             f"mask=m)")

    def store_lines(self) -> list[str]:
        """The first chunk of each tensor writes its new scalar state (in-kernel store)."""
        if not self.nq:
            return []
        k = len(self.graph.tensor_inputs)
        T = TL[self.scalar_dtype]
        lines = ["V = (scal + v_off).to(tl.pointer_type(tl.float64), bitcast=True)",
                 "o1 = tl.arange(0, 1)",
                 "first = ((start + o1) == 0) & ((row + o1) >= 0) & ((tl.load(flag) + o1) == 0)"]
        for q in range(self.nq):
            lines.append(f"q{q} = tl.load(base + {k + 1 + q}).to(tl.pointer_type({T}))")
            lines.append(f"tl.store(q{q} + o1, tl.load(V + r * {self.nq} + {q} + o1)"
                         f".to({T}), mask=first)")
        return lines

    def round(self, v: str, dtype: torch.dtype) -> str:
        if dtype == torch.bfloat16:
            return f"_round_bf16(({v}).to(tl.float32))"
        return f"({v}).to({TL[dtype]})"

    def scalar_node(self, n: Expr) -> str:
        a = [self.scalar(x) for x in n.args]
        ops = {"add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})",
               "div": "({0} / {1})", "neg": "(-{0})", "sqrt": "tl.sqrt({0})",
               "abs": "tl.abs({0})", "maximum": "tl.where({1} > {0}, {1}, {0})",
               "minimum": "tl.where({1} < {0}, {1}, {0})",
               "sign": "(({0} > 0).to(tl.float64) - ({0} < 0).to(tl.float64))",
               "lerp": "({0} + {2} * ({1} - {0}))"}
        return ops[n.op].format(*a)

    def node(self, n: Expr) -> str:
        fused = self.plan.fused.get(n.index)
        if fused:
            return self.fused(*fused)
        args = n.args
        if n.op == "lerp":
            return self.lerp(*args)
        if n.op in ("neg", "sqrt", "abs", "sign"):
            v = self.value(args[0])
            return {"neg": f"(-{v})", "sqrt": self.sqrt(v), "abs": f"tl.abs({v})",
                    "sign": f"(({v} > 0).to({self.C}) - ({v} < 0).to({self.C}))"}[n.op]
        a, b = args
        if n.op in ("maximum", "minimum"):
            if a.is_scalar:  # foreach turns it around (the op commutes)
                a, b = b, a
            av, bv = self.value(a), self.value(b)
            cmp = ">" if n.op == "maximum" else "<"
            if b.is_scalar:  # clamp_min / clamp_max: NaN in the tensor propagates
                return f"tl.where({bv} {cmp} {av}, {bv}, {av})"
            return (f"tl.where(({av} != {av}) | ({bv} != {bv}), {av} + {bv}, "
                    f"tl.where({av} {cmp} {bv}, {av}, {bv}))")
        av, bv = self.value(a), self.value(b)
        if n.op == "div":
            if a.is_scalar:  # foreach: reciprocal, then multiply
                return f"({self.div('1.0', bv)} * {av})"
            return self.div(av, bv)
        return f"({av} {dict(add='+', sub='-', mul='*')[n.op]} {bv})"

    def fused(self, x: Expr, term, sign: float) -> str:
        scale = _lit(sign)
        for f, divide in term.factors:  # as foreach: scale = scale * v (or / v), in float64
            v = self.scalar(f) if f.index >= 0 else _lit(f.value)
            scale = f"({scale} {'/' if divide else '*'} {v})"
        a, xv, yv = self.const(scale), self.value(x), self.value(term.y)
        if term.kind == "":  # torch._foreach_add(x, y, alpha=a): ATen's fmadd(y, a, x)
            return f"tl.fma({yv}, {a}, {xv})"
        zv = self.value(term.z)
        if term.kind == "mul":  # addcmul: ATen's fmadd(a * y, z, x)
            return f"tl.fma({a} * {yv}, {zv}, {xv})"
        return f"({xv} + {self.div(f'{a} * {yv}', zv)})"  # addcdiv: x + (a * y) / z

    def lerp(self, a: Expr, b: Expr, w: Expr) -> str:
        """ATen's lerp: ``fma(w, b - a, a)`` if ``|w| < 0.5``, else ``fma(w - 1, b - a, b)``."""
        av, bv, wv = self.value(a), self.value(b), self.value(w)
        return (f"tl.where(tl.abs({wv}) < 0.5, tl.fma({wv}, {bv} - {av}, {av}), "
                f"tl.fma({wv} - 1.0, {bv} - {av}, {bv}))")


def width(graph: Graph, nq: int) -> int:
    """Entries per tensor in the static table: size, input addresses, scalar-state
    addresses and, for a graph with reductions, the address of its row of results."""
    return 1 + len(graph.tensor_inputs) + nq + (1 if graph.columns else 0)


def _indent(lines: list[str]) -> str:
    return "\n".join("    " + line for line in lines)


def step_source(graph: Graph, dtypes: dict[str, torch.dtype], nq: int = 0,
                scalar_dtype: torch.dtype = torch.float32) -> str:
    """The module source of ``ag_step`` for ``graph``: ``dtypes`` maps each tensor input
    (``Graph.tensor_inputs``) to its dtype; the kernel also writes ``nq`` scalar-state
    tensors of ``scalar_dtype`` per tensor (none: the caller stores them). A graph with
    reductions gets ``ag_reduce<k>`` for each reduce phase ``k`` too."""
    plan = ForeachPlan(graph)
    phases = [_Gen(plan, dtypes, nq, scalar_dtype).reduce_source(k)
              for k in range(graph.phases)]
    return _HEADER + "".join(phases) + _Gen(plan, dtypes, nq, scalar_dtype).generate()


def check_source(dtype: torch.dtype) -> str:
    """The module source of ``ag_check`` for gradients of ``dtype``."""
    return _HEADER + _CHECK % {"G": TL[dtype]}
