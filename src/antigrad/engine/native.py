"""Compile a traced update into one C loop: every input read once, every output written once.

An optimizer step is memory traffic: Adam reads ``p, g, m, v`` and writes ``p, m, v``.
The foreach backend makes one pass over memory per operation; this backend makes one
pass in total. From a :class:`~antigrad.engine.expr.Graph` it generates C source:

- the per-step scalar nodes (bias corrections, ``-lr / bc1``, ...) are computed once per
  call, in double, exactly as the foreach backend computes them in Python;
- one loop over the elements of *all* tensors of a bucket (a walk over tensors inside C,
  split evenly over the OpenMP threads, vectorised with ``simd``) loads each input once,
  evaluates the graph in registers and stores each output in place;
- each node is computed as the ``torch._foreach_*`` call it stands for computes it
  (``x + a*y`` and ``addcmul`` as fused multiply-adds, as ATen's vectorised kernels;
  ``addcdiv`` as ``x + (a*y)/z``; ``lerp`` as ATen's vectorised lerp; NaN-propagating
  ``maximum``), with ``-ffp-contract=off`` so that the compiler adds no other rounding.
  One deliberate difference: ``sqrt`` is the correctly rounded IEEE square root (as in
  torch's fused Adam), while ``torch.sqrt`` on the CPU calls MKL, which is off by one ulp
  in about 16% of elements. Results then agree to an ulp per step, not bit for bit.

The source is compiled with the system C compiler (``$CC``, else ``cc``; ``-O3
-march=native -fopenmp``), not torch's C++ extension machinery (seconds, not a minute),
into ``$ANTIGRAD_CACHE_DIR`` (default ``~/.cache/antigrad/kernels``) under the hash of
the source, flags and compiler, so a chain compiles once per machine. The library links
``libgomp.so.1``, which resolves to the copy torch already loaded: one thread pool.

The same library exports a non-finite check over all gradients of a bucket (one pass,
both threads), which a step can run before its update in the same call.

Nothing here is used when the device is not the CPU, a tensor is not contiguous, the
dtype is not float32/float64, or no compiler works (then a warning says so, once).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import torch
from torch import Tensor

from .expr import Expr, Graph
from .foreach import ForeachPlan

FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-ffp-contract=off",
         "-fno-trapping-math", "-shared", "-fPIC", "-std=gnu11"]
DTYPES = {torch.float32: ("f32", "float", "f"), torch.float64: ("f64", "double", "")}
PARALLEL_MIN = 1 << 15  # elements: below this, one thread (a fork/join costs more than it saves)
CHECK_OK = 0

_lock = threading.Lock()
_warned = False
_failed_compilers: set[str] = set()


def cache_dir() -> Path:
    """Where compiled kernels live: ``$ANTIGRAD_CACHE_DIR`` or ``~/.cache/antigrad/kernels``."""
    env = os.environ.get("ANTIGRAD_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "antigrad" / "kernels"


def compiler() -> str | None:
    """The C compiler to use: ``$CC`` if set (even if it does not exist), else ``cc``/``gcc``."""
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc) or cc
    return shutil.which("cc") or shutil.which("gcc")


# ----------------------------------------------------------------------------------------
# code generation

_PRELUDE = r"""
#include <math.h>
#include <stdint.h>
#include <omp.h>
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
/* 1 if every element of the tensors in [lo, hi) is finite: x * 0 is 0 for finite x, NaN else. */
static int ag_finite_range_%(sfx)s(i64 nt, %(T)s *const *G, const i64 *numel, i64 lo, i64 hi) {
    %(T)s acc = 0;
%(walk)s
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
        ok = ag_finite_range_%(sfx)s(nt, G, numel, lo, hi);
    }
    return ok;
}
"""

_FINITE_BODY = r"""
            const %(T)s *restrict g = G[i];
            #pragma omp simd reduction(+: acc)
            for (i64 j = s; j < e; j++) acc += g[j] * (%(T)s)0;
"""

_STEP = r"""
/* One step over nt tensors. P[k * nt + i] is input k (in Graph.tensor_inputs order) of
   tensor i. With check != 0, all gradients (input %(grad)d) are checked first and nothing
   is written when one is not finite: the return value is then 1. */
int ag_step_%(sfx)s(i64 nt, %(T)s *const *P, const i64 *numel, const double *S, int check) {
%(scalars)s
    i64 total = 0;
    for (i64 i = 0; i < nt; i++) total += numel[i];
    int bad = 0;
    #pragma omp parallel if (total >= PARALLEL_MIN)
    {
        i64 lo, hi;
        ag_share(total, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        if (check) {
            if (!ag_finite_range_%(sfx)s(nt, P + %(grad)d * nt, numel, lo, hi)) {
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
    return bad;
}
"""


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


class _Gen:
    """C source for one graph and one element type."""

    def __init__(self, plan: ForeachPlan, sfx: str, T: str, fs: str) -> None:
        self.plan, self.graph, self.sfx, self.T, self.fs = plan, plan.graph, sfx, T, fs
        self.scalar_lines: list[str] = []  # computed once per call, in double
        self.cast: dict[str, str] = {}      # double expression -> name of its T constant
        self.body: list[str] = []

    def scalar(self, e: Expr) -> str:
        """A double-valued C expression for scalar node ``e``."""
        if e.op == "const":
            return _lit(e.value)
        return f"s{e.index}"

    def const(self, dexpr: str) -> str:
        """A loop-invariant value of type T (``(T) dexpr``), declared once."""
        if dexpr not in self.cast:
            name = f"c{len(self.cast)}"
            self.cast[dexpr] = name
            self.scalar_lines.append(f"    const {self.T} {name} = ({self.T})({dexpr});")
        return self.cast[dexpr]

    def value(self, e: Expr) -> str:
        if e.is_scalar:
            return self.const(self.scalar(e))
        return f"t{e.index}"

    def fn(self, name: str) -> str:
        return name + self.fs

    def generate(self) -> str:
        g, plan, T = self.graph, self.plan, self.T
        for n in g.nodes:  # scalar nodes, in double
            if not n.is_scalar or n.op == "const":
                continue
            if n.op == "scalar":
                k = g.scalar_inputs.index(n.name)
                self.scalar_lines.append(f"    const double s{n.index} = S[{k}];")
            else:
                args = [self.scalar(a) for a in n.args]
                self.scalar_lines.append(
                    f"    const double s{n.index} = {_SCALAR_C[n.op].format(*args)};")
        ind = " " * 12
        for k, name in enumerate(g.tensor_inputs):
            ptr_const = "const " if name not in g.outputs else ""
            self.body.append(f"{ind}{ptr_const}{T} *restrict x{k} = P[{k} * nt + i];")
        self.body.append(f"{ind}#pragma omp simd")
        self.body.append(f"{ind}for (i64 j = s; j < e; j++) {{")
        ind2 = ind + "    "
        for n in g.nodes:
            if n.is_scalar or n.index in plan.absorbed:
                continue
            if n.op == "tensor":
                k = g.tensor_inputs.index(n.name)
                self.body.append(f"{ind2}const {T} t{n.index} = x{k}[j];")
                continue
            self.body.append(f"{ind2}const {T} t{n.index} = {self.node(n)};")
        for name, out in g.outputs.items():
            k = g.tensor_inputs.index(name)
            if out.op == "tensor" and out.name == name:
                continue  # unchanged
            self.body.append(f"{ind2}x{k}[j] = {self.value(out)};")
        self.body.append(f"{ind}}}")
        walk = _WALK % "\n".join(self.body)
        fin_walk = _WALK % (_FINITE_BODY % {"T": T})
        fmt = {"sfx": self.sfx, "T": T, "grad": g.tensor_inputs.index("grad"),
               "scalars": "\n".join(self.scalar_lines), "walk": walk}
        return _FINITE % {"sfx": self.sfx, "T": T, "walk": fin_walk} + _STEP % fmt

    def node(self, n: Expr) -> str:
        T, fma = self.T, self.fn("fma")
        fused = self.plan.fused.get(n.index)
        if fused:
            x, term, sign = fused
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
        args = n.args
        if n.op == "lerp":
            return self.lerp(*args)
        if n.op in ("neg", "sqrt", "abs", "sign"):
            v = self.value(args[0])
            return {"neg": f"(-{v})", "sqrt": f"{self.fn('sqrt')}({v})",
                    "abs": f"{self.fn('fabs')}({v})",
                    "sign": f"(({T})({v} > 0) - ({T})({v} < 0))"}[n.op]
        a, b = args
        if n.op in ("maximum", "minimum"):
            if a.is_scalar:  # foreach turns it around (the op commutes)
                a, b = b, a
            av, bv = self.value(a), self.value(b)
            cmp = ">" if n.op == "maximum" else "<"
            if b.is_scalar:  # clamp_min / clamp_max: NaN in the tensor propagates
                return f"(({bv} {cmp} {av}) ? {bv} : {av})"
            return (f"(({av} != {av} || {bv} != {bv}) ? ({T})NAN : "
                    f"(({av} {cmp} {bv}) ? {av} : {bv}))")
        av, bv = self.value(a), self.value(b)
        if a.is_scalar and n.op == "div":  # foreach: reciprocal, then multiply
            return f"((({T})1 / {bv}) * {av})"
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


def source(graph: Graph) -> str:
    """The C source of ``graph``'s kernels (float32 and float64) and the finite checks."""
    plan = ForeachPlan(graph)
    parts = [_PRELUDE % {"parallel_min": PARALLEL_MIN}]
    for _dtype, (sfx, T, fs) in DTYPES.items():
        parts.append(_Gen(plan, sfx, T, fs).generate())
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------
# compiling and loading

def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(message + " antigrad falls back to its foreach backend: the same numbers, "
                      "several times slower for large models. Set CC to a working C compiler "
                      "(gcc or clang with OpenMP), or ANTIGRAD_BACKEND=foreach to silence this.",
                      RuntimeWarning, stacklevel=4)


def build(src: str) -> Path | None:
    """Path of the compiled library for ``src`` (compiled now unless cached); None on failure."""
    cc = compiler()
    if cc is None:
        _warn_once("No C compiler found (looked for $CC, cc and gcc).")
        return None
    try:
        st = os.stat(cc)
        stamp = f"{cc}:{st.st_size}:{int(st.st_mtime)}"
    except OSError:
        stamp = cc
    key = hashlib.sha256("\0".join([src, " ".join(FLAGS), stamp]).encode()).hexdigest()[:24]
    folder = cache_dir()
    path = folder / f"{key}.so"
    if path.exists():
        return path
    if cc in _failed_compilers:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_c = tempfile.mkstemp(suffix=".c", prefix=f"{key}.", dir=folder)
        with os.fdopen(fd, "w") as f:
            f.write(src)
        tmp_so = tmp_c[:-2] + ".tmp.so"
        try:
            proc = subprocess.run([cc, *FLAGS, "-o", tmp_so, tmp_c, "-lm"],
                                  capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                raise OSError(proc.stderr.strip()[-2000:] or f"exit status {proc.returncode}")
            os.replace(tmp_so, path)  # atomic: another process sees the whole file or none
        finally:
            for leftover in (tmp_c, tmp_so):
                if os.path.exists(leftover):
                    os.unlink(leftover)
    except (OSError, subprocess.SubprocessError) as err:
        _failed_compilers.add(cc)
        _warn_once(f"Compiling antigrad's native kernel with {cc!r} failed ({err}).")
        return None
    return path


_PP = ctypes.POINTER(ctypes.c_void_p)
_PI = ctypes.POINTER(ctypes.c_longlong)
_PD = ctypes.POINTER(ctypes.c_double)


class Kernel:
    """A compiled graph: ``step(tensors, scalars, dtype, check)`` runs one bucket in one call."""

    def __init__(self, graph: Graph, lib: ctypes.CDLL) -> None:
        self.graph, self.lib = graph, lib
        self.inputs = list(graph.tensor_inputs)
        self.scalar_names = list(graph.scalar_inputs)
        self.fns = {}
        for dtype, (sfx, _T, _fs) in DTYPES.items():
            fn = getattr(lib, f"ag_step_{sfx}")
            fn.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p,
                           ctypes.c_void_p, ctypes.c_int]
            fn.restype = ctypes.c_int
            self.fns[dtype] = fn

    def step(self, tensors: dict[str, list[Tensor]], scalars: dict[str, float],
             dtype: torch.dtype, check: bool = False) -> bool:
        """Run one step; False (and nothing written) if ``check`` found a non-finite gradient."""
        params = tensors["param"]
        nt = len(params)
        ptrs = (ctypes.c_void_p * (nt * len(self.inputs)))(
            *[t.data_ptr() for name in self.inputs for t in tensors[name]])
        numel = (ctypes.c_longlong * nt)(*[t.numel() for t in params])
        svals = (ctypes.c_double * max(1, len(self.scalar_names)))(
            *[scalars[n] for n in self.scalar_names])
        return self.fns[dtype](nt, ptrs, numel, svals, int(check)) == CHECK_OK


_kernels: dict[str, Kernel | None] = {}


def kernel(graph: Graph) -> Kernel | None:
    """The compiled kernel of ``graph`` (compiled or loaded on first call); None if impossible."""
    k = graph.key
    if k in _kernels:
        return _kernels[k]
    with _lock:
        if k not in _kernels:
            _kernels[k] = _load(graph)
    return _kernels[k]


def _load(graph: Graph) -> Kernel | None:
    path = build(source(graph))
    if path is None:
        return None
    try:
        return Kernel(graph, ctypes.CDLL(str(path)))
    except OSError as err:
        _warn_once(f"Loading antigrad's native kernel {path} failed ({err}).")
        return None


# ----------------------------------------------------------------------------------------
# the non-finite check on its own (graph-independent)

_FINITE_LIB: list = []


def _finite_fns() -> dict | None:
    if not _FINITE_LIB:
        with _lock:
            if not _FINITE_LIB:
                src = _PRELUDE % {"parallel_min": PARALLEL_MIN} + "".join(
                    _FINITE % {"sfx": sfx, "T": T, "walk": _WALK % (_FINITE_BODY % {"T": T})}
                    for sfx, T, _fs in DTYPES.values())
                path = build(src)
                fns = None
                if path is not None:
                    try:
                        lib = ctypes.CDLL(str(path))
                        fns = {}
                        for dtype, (sfx, _T, _fs) in DTYPES.items():
                            fn = getattr(lib, f"ag_all_finite_{sfx}")
                            fn.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p]
                            fn.restype = ctypes.c_int
                            fns[dtype] = fn
                    except OSError:
                        fns = None
                _FINITE_LIB.append(fns)
    return _FINITE_LIB[0]


def all_finite(grads: list[Tensor]) -> bool | None:
    """True/False if every gradient is finite, in one native pass per dtype; None if the
    native check does not apply (a device other than the CPU, a non-contiguous tensor, a
    dtype other than float32/float64, no compiler)."""
    by_dtype: dict[torch.dtype, list[Tensor]] = {}
    for g in grads:
        if g.dtype not in DTYPES or g.device.type != "cpu" or not g.is_contiguous() \
                or g.is_sparse:
            return None
        by_dtype.setdefault(g.dtype, []).append(g)
    fns = _finite_fns()
    if fns is None:
        return None
    for dtype, gs in by_dtype.items():
        n = len(gs)
        ptrs = (ctypes.c_void_p * n)(*[g.data_ptr() for g in gs])
        numel = (ctypes.c_longlong * n)(*[g.numel() for g in gs])
        if not fns[dtype](n, ptrs, numel):
            return False
    return True


def eligible(tensors: dict[str, list[Tensor]], device: torch.device, dtype: torch.dtype) -> bool:
    """Whether a bucket can run natively: CPU, float32/float64, every tensor contiguous."""
    if device.type != "cpu" or dtype not in DTYPES:
        return False
    return all(t.is_contiguous() for ts in tensors.values() for t in ts)
