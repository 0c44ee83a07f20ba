"""C source for a traced update: one fused loop per dtype, and the non-finite check.

From a :class:`~antigrad.formula.expr.Graph` this writes a function ``ag_step_<dtype>``
that walks all tensors of a bucket, split evenly over the OpenMP threads and vectorised
with ``simd``: scalar nodes are computed once per tensor in double, from the tensor's row
of scalar inputs (so parameters whose step counts differ share a call); each element loads
every input once, evaluates the graph in registers as the ``torch._foreach_*`` call each
node stands for computes it, and stores every output in place. ``finite_source()`` is the
stand-alone check over all gradients. Compiling and calling: :mod:`.native`.
"""

from __future__ import annotations

import torch

from ..formula.expr import Expr, Graph
from .emitter import Emitter
from .foreach import ForeachPlan, Term

DTYPES = {torch.float32: ("f32", "float", "f"), torch.float64: ("f64", "double", "")}
PARALLEL_MIN = 1 << 15  # elements: below this, one thread (a fork/join costs more than it saves)

_PRELUDE = r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#else  /* a compiler without OpenMP: one thread, the pragmas are ignored */
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
#endif
typedef long long i64;
#define PARALLEL_MIN %(parallel_min)dLL

/* The share [lo, hi) of the concatenated elements that thread t of nthr handles,
   rounded to whole cache lines so that no two threads write one line. */
static inline void ag_share(i64 total, int t, int nthr, i64 *lo, i64 *hi) {
    *lo = (total * t / nthr) & ~(i64)15;
    *hi = t == nthr - 1 ? total : (total * (t + 1) / nthr) & ~(i64)15;
}
"""

# Runs BODY for each tensor i overlapping [lo, hi), with its local element range [s, e).
_WALK = r"""
    {
        i64 base = 0;
        for (i64 i = 0; i < nt && base < hi; base += numel[i], i++) {
            i64 s = lo > base ? lo - base : 0;
            i64 e = hi - base < numel[i] ? hi - base : numel[i];
            if (s >= e) continue;
%s
        }
    }
"""

_FINITE = r"""
/* 1 if every element of the tensors in [lo, hi) is finite: x * 0 is 0 for finite x, NaN
   else. AG_LANES independent sums, so that the additions' latency does not bound the
   speed on gradients still in cache. */
#define AG_LANES_%(sfx)s (128 / (int)sizeof(%(T)s))
static int ag_finite_range_%(sfx)s(i64 nt, %(T)s *const *G, const i64 *numel, const int *R,
                                   i64 lo, i64 hi) {
    %(T)s lanes[AG_LANES_%(sfx)s] = {0}, acc = 0;
%(walk)s
    for (int k = 0; k < AG_LANES_%(sfx)s; k++) acc += lanes[k];
    return acc == 0;
}

int ag_all_finite_%(sfx)s(i64 nt, %(T)s *const *G, const i64 *numel) {
    i64 total = 0;
    for (i64 i = 0; i < nt; i++) total += numel[i];
    int ok = 1;
    #pragma omp parallel if (total >= PARALLEL_MIN) reduction(&&: ok)
    {
        i64 lo, hi;
        ag_share(total, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        ok = ag_finite_range_%(sfx)s(nt, G, numel, 0, lo, hi);
    }
    return ok;
}
"""

_FINITE_BODY = r"""
            if (R && R[i] < 0) continue;
            const %(T)s *restrict g = G[i];
            i64 j = s;
            for (; j + AG_LANES_%(sfx)s <= e; j += AG_LANES_%(sfx)s) {
                #pragma omp simd
                for (int k = 0; k < AG_LANES_%(sfx)s; k++) lanes[k] += g[j + k] * (%(T)s)0;
            }
            for (; j < e; j++) acc += g[j] * (%(T)s)0;
"""

_STEP = r"""
/* One step over nt tensors. P[k * nt + i] is input k (in Graph.tensor_inputs order) of
   tensor i. Tensor i takes its %(ns)d scalar inputs from row R[i] of S (tensors whose
   scalar state differs, e.g. their step counts, share a call); R[i] < 0 leaves tensor i
   alone (a parameter without gradient this step). With check != 0, all
   gradients (input %(grad)d) are checked first and nothing is written when one is not
   finite: the return value is then 1. After the update the scalar state is stored:
   V[R[i] * nq + n] into the 0-d tensor Q[n * nt + i], for n < nq (float64 tensors if
   q64, else float32). Rd holds each tensor's row of %(nr)d reduction results (the reduce
   phases' output, see ag_reduce*). */
int ag_step_%(sfx)s(i64 nt, %(T)s *const *P, const i64 *numel, const double *S,
                    const int *R, int check, i64 nq, const double *V, void *const *Q,
                    int q64, const double *Rd) {
    i64 total = 0;
    for (i64 i = 0; i < nt; i++) total += numel[i];
    int bad = 0;
    #pragma omp parallel if (total >= PARALLEL_MIN)
    {
        i64 lo, hi;
        ag_share(total, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        if (check) {
            if (!ag_finite_range_%(sfx)s(nt, P + %(grad)d * nt, numel, R, lo, hi)) {
                #pragma omp atomic write
                bad = 1;
            }
            #pragma omp barrier
        }
        int stop;
        #pragma omp atomic read
        stop = bad;
        if (!stop) {
%(walk)s
        }
    }
    if (!bad)
        for (i64 n = 0; n < nq; n++)
            for (i64 i = 0; i < nt; i++) {
                if (R[i] < 0) continue;
                const double v = V[(i64)R[i] * nq + n];
                if (q64) *(double *)Q[n * nt + i] = v;
                else *(float *)Q[n * nt + i] = (float)v;
            }
    return bad;
}
"""


_REDUCE = r"""
/* Reduce phase %(phase)d: for each tensor i with R[i] >= 0, the partials of the phase's
   %(k)d reductions (sum, sum of squares or largest |x|, in double) into out[i * %(k)d + j],
   from its inputs P, its row of scalars and its row of the results of earlier phases (Rd).
   Each thread sums its share into its own slots, which are then added in thread order:
   the result does not depend on timing. */
void ag_reduce%(phase)d_%(sfx)s(i64 nt, %(T)s *const *P, const i64 *numel, const double *S,
                         const int *R, const double *Rd, double *out) {
    i64 total = 0;
    for (i64 i = 0; i < nt; i++) total += numel[i];
    const int nthr = total >= PARALLEL_MIN ? omp_get_max_threads() : 1;
    double *part = calloc((size_t)(nthr * nt * %(k)d), sizeof(double));
    if (!part) return;
    #pragma omp parallel if (total >= PARALLEL_MIN) num_threads(nthr)
    {
        i64 lo, hi;
        const int t = omp_get_thread_num();
        double *mine = part + (i64)t * nt * %(k)d;
        ag_share(total, t, omp_get_num_threads(), &lo, &hi);
%(walk)s
    }
    for (i64 n = 0; n < nt * %(k)d; n++) {
        double acc = part[n];
        for (int t = 1; t < nthr; t++) {
            const double v = part[(i64)t * nt * %(k)d + n];
            acc = %(combine)s;
        }
        out[n] = acc;
    }
    free(part);
}
"""

# How a thread's partials of one tensor, and two partials, combine, per reduction kind.
_ACC = {"sum": ("+", "{a} += (double){v};"), "norm": ("+", "{a} += (double){v} * (double){v};"),
        "max": ("max", "{a} = fabs((double){v}) > {a} ? fabs((double){v}) : {a};")}


def _lit(x: float) -> str:
    if x != x:
        return "NAN"
    if x in (float("inf"), float("-inf")):
        return "INFINITY" if x > 0 else "(-INFINITY)"
    return float(x).hex()


_SCALAR_C = {"add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})",
             "div": "({0} / {1})", "neg": "(-{0})", "sqrt": "sqrt({0})", "abs": "fabs({0})",
             "maximum": "(({1}) > ({0}) ? ({1}) : ({0}))",  # Python's max(a, b)
             "minimum": "(({1}) < ({0}) ? ({1}) : ({0}))",
             "sign": "(double)(({0}) > 0) - (double)(({0}) < 0)",
             "lerp": "({0} + {2} * ({1} - {0}))"}


class _Gen(Emitter):
    """C source of one function (the step, or a reduce phase) for one element type."""

    def __init__(self, plan: ForeachPlan, sfx: str, T: str, fs: str) -> None:
        super().__init__(plan)
        self.sfx, self.T, self.fs = sfx, T, fs
        self.nr = len(plan.graph.columns)

    def literal(self, x: float) -> str:
        return _lit(x)

    def convert(self, name: str, dexpr: str) -> str:
        return f"const {self.T} {name} = ({self.T})({dexpr});"

    def scalar_line(self, n: Expr, expr: str) -> str:
        return f"const double s{n.index} = {expr};"

    def scalar_input(self, k: int) -> str:
        return f"Si[{k}]"

    def reduced_input(self, column: int) -> str:
        return f"Rd[i * {self.nr} + {column}]"

    def scalar_node(self, n: Expr) -> str:
        return _SCALAR_C[n.op].format(*[self.scalar(a) for a in n.args])

    def load(self, n: Expr, k: int) -> str:
        return f"const {self.T} t{n.index} = x{k}[j];"

    def assign(self, n: Expr, expr: str) -> str:
        return f"const {self.T} t{n.index} = {expr};"

    def fn(self, name: str) -> str:
        return name + self.fs

    def pointers(self, ind: str) -> list[str]:
        g = self.graph
        return [f"{ind}{'const ' if name not in g.outputs else ''}{self.T} *restrict x{k} = "
                f"P[{k} * nt + i];" for k, name in enumerate(g.tensor_inputs)]

    def walk(self, ind: str, loop: list[str]) -> str:
        """The walk over this thread's share: per tensor, its scalars, then ``loop``."""
        ns = len(self.graph.scalar_inputs)
        scalars = ["if (R[i] < 0) continue;", f"const double *Si = S + (i64)R[i] * {ns};",
                   "(void)Si;", *self.scalar_lines]
        return _WALK % "\n".join([ind + line for line in scalars] + loop)

    def generate(self) -> str:
        """The element-wise step and, before it, the graph's reduce phases."""
        g, T, ind = self.graph, self.T, " " * 12
        self.emit_scalars()
        self.emit_nodes(g.nodes)
        ind2 = ind + "    "
        loop = [*self.pointers(ind), f"{ind}#pragma omp simd",
                f"{ind}for (i64 j = s; j < e; j++) {{"]
        loop += [ind2 + line for line in self.body]
        for name, out in g.outputs.items():
            if out.op == "tensor" and out.name == name:
                continue  # unchanged
            loop.append(f"{ind2}x{g.tensor_inputs.index(name)}[j] = {self.value(out)};")
        loop.append(f"{ind}}}")
        fin_walk = _WALK % (_FINITE_BODY % {"T": T, "sfx": self.sfx})
        fmt = {"sfx": self.sfx, "T": T, "grad": g.tensor_inputs.index("grad"),
               "ns": len(g.scalar_inputs), "nr": self.nr, "walk": self.walk(ind, loop)}
        phases = [_Gen(self.plan, self.sfx, T, self.fs).reduce_source(k)
                  for k in range(g.phases)]
        return _FINITE % {"sfx": self.sfx, "T": T, "walk": fin_walk} + "".join(phases) + \
            _STEP % fmt

    def reduce_source(self, phase: int) -> str:
        """``ag_reduce<phase>_<sfx>``: the partials of one reduce phase."""
        g, ind = self.graph, " " * 12
        reductions = g.reductions[phase]
        k = len(reductions)
        self.emit_scalars()
        self.emit_nodes(self.phase_nodes(phase))
        kinds = [_ACC[r.op] for r in reductions]
        plus = [f"a{j}" for j, (how, _) in enumerate(kinds) if how == "+"]
        most = [f"a{j}" for j, (how, _) in enumerate(kinds) if how == "max"]
        clauses = "".join([f" reduction(+: {', '.join(plus + [f'n{j}' for j in range(k)])})"] +
                          ([f" reduction(max: {', '.join(most)})"] if most else []))
        loop = [*self.pointers(ind)]
        loop += [f"{ind}double a{j} = 0, n{j} = 0;" for j in range(k)]
        loop += [f"{ind}#pragma omp simd{clauses}", f"{ind}for (i64 j = s; j < e; j++) {{"]
        loop += [ind + "    " + line for line in self.body]
        for j, (r, (_how, acc)) in enumerate(zip(reductions, kinds, strict=True)):
            v = self.value(r.args[0])
            loop.append(f"{ind}    {acc.format(a=f'a{j}', v=v)}")
            if r.op == "max":  # NaN is the largest: counted apart (max ignores it)
                loop.append(f"{ind}    n{j} += (double)({v} != {v});")
        loop.append(f"{ind}}}")
        for j, r in enumerate(reductions):
            a = f"(n{j} != 0 ? NAN : a{j})" if r.op == "max" else f"a{j}"
            target = f"mine[i * {k} + {j}]"
            loop.append(f"{ind}{target} = {_combine(r.op, target, a)};")
        combine = _combine_all([r.op for r in reductions], k)
        return _REDUCE % {"phase": phase, "sfx": self.sfx, "T": self.T, "k": k,
                          "walk": self.walk(ind, loop), "combine": combine}

    def node(self, n: Expr) -> str:
        fused = self.plan.fused.get(n.index)
        if fused:
            return self.fused(*fused)
        return _NODE_WRITERS[n.op](self, n)

    def fused(self, x: Expr, term: Term, sign: float) -> str:
        """A fused foreach call: ``x`` plus ``sign`` times the term's scaled product."""
        fma = self.fn("fma")
        scale = _lit(sign)
        for f, divide in term.factors:  # as foreach: scale = scale * v (or / v), in double
            v = self.scalar(f) if f.index >= 0 else _lit(f.value)
            scale = f"({scale} {'/' if divide else '*'} {v})"
        a, xv, yv = self.const(scale), self.value(x), self.value(term.y)
        if term.kind == "":  # torch._foreach_add(x, y, alpha=a): ATen's fmadd(y, a, x)
            return f"{fma}({yv}, {a}, {xv})"
        zv = self.value(term.z)
        if term.kind == "mul":  # addcmul: ATen's fmadd(a * y, z, x)
            return f"{fma}({a} * {yv}, {zv}, {xv})"
        return f"({xv} + ({a} * {yv}) / {zv})"  # addcdiv: x + (a * y) / z

    def lerp_node(self, n: Expr) -> str:
        return self.lerp(*n.args)

    def unary(self, n: Expr) -> str:
        """``neg``, ``sqrt``, ``abs`` or ``sign`` of one value."""
        T, v = self.T, self.value(n.args[0])
        return {"neg": f"(-{v})", "sqrt": f"{self.fn('sqrt')}({v})",
                "abs": f"{self.fn('fabs')}({v})",
                "sign": f"(({T})({v} > 0) - ({T})({v} < 0))"}[n.op]

    def extremum(self, n: Expr) -> str:
        """``maximum`` or ``minimum``: NaN in either operand propagates, as in torch."""
        a, b = n.args
        if a.is_scalar:  # foreach turns it around (the op commutes)
            a, b = b, a
        av, bv = self.value(a), self.value(b)
        cmp = ">" if n.op == "maximum" else "<"
        if b.is_scalar:  # clamp_min / clamp_max: NaN in the tensor propagates
            return f"(({bv} {cmp} {av}) ? {bv} : {av})"
        return (f"(({av} != {av} || {bv} != {bv}) ? ({self.T})NAN : "
                f"(({av} {cmp} {bv}) ? {av} : {bv}))")

    def arithmetic(self, n: Expr) -> str:
        """``add``, ``sub``, ``mul`` or ``div`` of two values."""
        a, b = n.args
        av, bv = self.value(a), self.value(b)
        if a.is_scalar and n.op == "div":  # foreach: reciprocal, then multiply
            return f"((({self.T})1 / {bv}) * {av})"
        sym = {"add": "+", "sub": "-", "mul": "*", "div": "/"}[n.op]
        return f"({av} {sym} {bv})"

    def lerp(self, a: Expr, b: Expr, w: Expr) -> str:
        """ATen's vectorised lerp: ``fma(w, b - a, a)`` if ``|w| < 0.5``, else
        ``fma(w - 1, b - a, b)``."""
        T, fma = self.T, self.fn("fma")
        av, bv = self.value(a), self.value(b)
        if w.is_scalar:
            wv = self.value(w)
            small = self.const(f"(double)({self.fn('fabs')}({wv}) < 0.5)")
            coeff = self.const(f"({self.fn('fabs')}({wv}) < 0.5 ? {wv} : {wv} - ({T})1)")
            return f"{fma}({coeff}, {bv} - {av}, {small} != 0 ? {av} : {bv})"
        wv = self.value(w)
        return (f"({self.fn('fabs')}({wv}) < ({T})0.5 ? {fma}({wv}, {bv} - {av}, {av}) : "
                f"{fma}({wv} - ({T})1, {bv} - {av}, {bv}))")



# element-wise op -> the _Gen method that writes its expression
_NODE_WRITERS = {"lerp": _Gen.lerp_node,
                 **dict.fromkeys(("neg", "sqrt", "abs", "sign"), _Gen.unary),
                 **dict.fromkeys(("maximum", "minimum"), _Gen.extremum),
                 **dict.fromkeys(("add", "sub", "mul", "div"), _Gen.arithmetic)}

def _combine(op: str, a: str, b: str) -> str:
    """Two partials of reduction kind ``op`` as one (NaN wins a max)."""
    if op == "max":
        return f"(({b}) != ({b}) || ({b}) > ({a}) ? ({b}) : ({a}))"
    return f"({a}) + ({b})"


def _combine_all(ops: list[str], k: int) -> str:
    """The combination of ``acc`` and another thread's ``v`` for slot ``n`` (column n % k)."""
    if all(op != "max" for op in ops):
        return "acc + v"
    if all(op == "max" for op in ops):
        return _combine("max", "acc", "v")
    kinds = ", ".join("1" if op == "max" else "0" for op in ops)
    return (f"((const int[]){{{kinds}}})[n % {k}] ? {_combine('max', 'acc', 'v')} : acc + v")


def source(graph: Graph) -> str:
    """The C source of ``graph``'s kernels (float32 and float64) and the finite checks."""
    plan = ForeachPlan(graph)
    parts = [_PRELUDE % {"parallel_min": PARALLEL_MIN}]
    for _dtype, (sfx, T, fs) in DTYPES.items():
        parts.append(_Gen(plan, sfx, T, fs).generate())
    return "\n".join(parts)


def finite_source() -> str:
    """The C source of ``ag_all_finite_<dtype>``: 1 if every gradient element is finite."""
    return _PRELUDE % {"parallel_min": PARALLEL_MIN} + "".join(
        _FINITE % {"sfx": sfx, "T": T, "walk": _WALK % (_FINITE_BODY % {"T": T, "sfx": sfx})}
        for sfx, T, _fs in DTYPES.values())
