r"""A compiled product of many small matrices, one per replica: the kernel that
``replicas_gemm.py`` measures against torch's ``baddbmm``/``bmm`` (MKL).

The batched model's products are small (a 100 x 100 weight times 128 examples per
replica), so their operands sit in the core's caches. :func:`matmul` computes
``C[r] = bias[r] + A[r] B[r]`` (optionally ``max(C, 0)`` as ``C`` is stored) for ``A``
``(R, M, K)`` with any strides, ``B`` ``(R, K, N)`` contiguous along either axis,
``bias`` ``(R, M, 1)`` or none:

- ``B`` is read a panel of 16 columns (8 in float64) at a time, copied into a buffer of
  the thread's, so that the panel's rows lie side by side in the first-level cache
  whatever ``B``'s strides (rows 512 bytes apart, read in place, map onto a few cache
  sets), transposing it on the way when ``B`` is contiguous along ``K`` (a weight's
  gradient ``dY X^T``); with at most 12 rows of ``A``, a panel contiguous along ``N``
  is read in place;
- a tile of 6 rows x 2 vectors of ``C`` is held in 12 AVX2 registers, started at the
  bias; each step of the sum over ``k`` loads the tile's 2 vectors of the panel's row
  ``k`` and multiplies them by each of the 6 entries ``A[i, k]`` (broadcast), in fused
  multiply-adds; every row tile passes over the panel before the next panel is made;
- while a replica computes, the next replica's operands are prefetched, a share per
  panel; OpenMP splits the replicas (or, with fewer replicas than threads, their rows)
  over ``threads`` threads.

C compiled by :mod:`antigrad.engine.compiler` (``-O3 -march=native -fopenmp``, once per
machine), float32 and float64, with plain loops where AVX2/FMA are not targeted.
:func:`matmul` returns ``None`` where it does not apply (no compiler, another dtype or
device, ``B`` contiguous along neither axis).

Example::

    >>> import torch
    >>> from replicas_gemm_kernel import matmul
    >>> a, b = torch.randn(4, 6, 5, dtype=torch.float64), torch.randn(4, 5, 7, dtype=torch.float64)
    >>> c = matmul(a, b, threads=1)
    >>> c is None or torch.allclose(c, a @ b)
    True
"""

from __future__ import annotations

import ctypes
import threading
from string import Template

import torch
from torch import Tensor

from antigrad.engine.compiler import build

__all__ = ["matmul", "source"]

_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}

_PRELUDE = r"""
#include <stddef.h>
#include <stdlib.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define AG_SIMD 1
#define AG_INLINE static inline __attribute__((always_inline))
#endif
typedef long long i64;

/* Row slices per replica so that every thread has work; a multiple of `unit` rows each. */
static i64 ag_rows_per_task(i64 R, i64 M, int threads, i64 unit)
{
    i64 parts = (threads > 1 && R < threads) ? (threads + R - 1) / R : 1;
    i64 rows = (M + parts - 1) / parts;
    rows = (rows + unit - 1) / unit * unit;
    return rows < 1 ? 1 : rows;
}

/* Ask for part `part` of `parts` of the cache lines of [p, p + bytes) (into L2). */
static void ag_prefetch(const void* p, i64 bytes, i64 part, i64 parts, int write)
{
    i64 lines = (bytes + 63) / 64, first = lines * part / parts, last = lines * (part + 1) / parts;
    const char* base = (const char*)p;
    for (i64 l = first; l < last; l++) {
        if (write) __builtin_prefetch(base + 64 * l, 1, 2);
        else __builtin_prefetch(base + 64 * l, 0, 2);
    }
}

static int ag_team(int threads, i64 tasks)
{
    return threads < 1 ? 1 : (tasks < threads ? (int)(tasks < 1 ? 1 : tasks) : threads);
}
"""

# What differs between float32 and float64: the vector type and its lane count, the
# suffix of the intrinsics, and a mask of the first `n` lanes.
_TYPES = {
    "f32": dict(S="f32", T="float", V="__m256", P="ps", W="8", MASK=(
        "_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), "
        "_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))")),
    "f64": dict(S="f64", T="double", V="__m256d", P="pd", W="4", MASK=(
        "_mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)(n)), "
        "_mm256_setr_epi64x(0, 1, 2, 3))")),
}

_KERNELS = Template(r"""
/* ---------------------------------------------------------------- ${T} */
#ifdef AG_SIMD
AG_INLINE __m256i ag_mask_${S}(i64 n) { return ${MASK}; }

/* A tile of mr rows x nv vectors of C (the last one stored masked if `masked`); B's
   columns come packed: row k of the panel at panel + k * 2W, aligned. */
AG_INLINE void ag_tile_${S}(const int mr, const int nv, const int masked, i64 K,
    const ${T}* a, i64 sam, i64 sak, const ${T}* panel, i64 sp, ${T}* c, i64 scm,
    const ${T}* bias, i64 sbias, int relu, __m256i mask)
{
    ${V} acc[6][2];
    for (int i = 0; i < mr; i++) {
        ${V} start = bias ? _mm256_set1_${P}(bias[i * sbias]) : _mm256_setzero_${P}();
        for (int v = 0; v < nv; v++) acc[i][v] = start;
    }
    for (i64 k = 0; k < K; k++) {
        ${V} bv[2];
        for (int v = 0; v < nv; v++)  /* a masked load: B read in place ends there */
            bv[v] = (masked && v == nv - 1) ? _mm256_maskload_${P}(panel + k * sp + v * ${W}, mask)
                                            : _mm256_loadu_${P}(panel + k * sp + v * ${W});
        const ${T}* ak = a + k * sak;
        for (int i = 0; i < mr; i++) {
            ${V} ai = _mm256_set1_${P}(ak[i * sam]);
            for (int v = 0; v < nv; v++) acc[i][v] = _mm256_fmadd_${P}(ai, bv[v], acc[i][v]);
        }
    }
    ${V} zero = _mm256_setzero_${P}();
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++) {
            ${V} x = relu ? _mm256_max_${P}(zero, acc[i][v]) : acc[i][v];  /* NaN stays */
            if (masked && v == nv - 1) _mm256_maskstore_${P}(c + i * scm + v * ${W}, mask, x);
            else _mm256_storeu_${P}(c + i * scm + v * ${W}, x);
        }
}

#define AG_TILE_${S}(MR, NV, MK) ag_tile_${S}(MR, NV, MK, K, a + i * sam, sam, sak, panel, sp, \
    c + i * scm + j, scm, bias ? bias + i * sbias : NULL, sbias, relu, mask)
#define AG_TILE_CASES_${S}(MR) \
    case 4 * (MR) + 0: AG_TILE_${S}(MR, 1, 0); break; \
    case 4 * (MR) + 1: AG_TILE_${S}(MR, 1, 1); break; \
    case 4 * (MR) + 2: AG_TILE_${S}(MR, 2, 0); break; \
    case 4 * (MR) + 3: AG_TILE_${S}(MR, 2, 1); break;

/* Rows m0..m1 of C's columns j..j+width (width <= 2W), the columns' panel packed. */
static void ag_panel_rows_${S}(i64 m0, i64 m1, i64 j, i64 width, i64 K, const ${T}* a,
    i64 sam, i64 sak, const ${T}* panel, i64 sp, ${T}* c, i64 scm, const ${T}* bias,
    i64 sbias, int relu)
{
    int nv = (int)((width + ${W} - 1) / ${W}), masked = width % ${W} != 0;
    __m256i mask = ag_mask_${S}(width % ${W});
    for (i64 i = m0; i < m1; i += 6) {
        int mr = m1 - i < 6 ? (int)(m1 - i) : 6;
        switch (4 * mr + 2 * (nv - 1) + masked) {
            AG_TILE_CASES_${S}(1) AG_TILE_CASES_${S}(2) AG_TILE_CASES_${S}(3)
            AG_TILE_CASES_${S}(4) AG_TILE_CASES_${S}(5) AG_TILE_CASES_${S}(6)
        }
    }
}
#else  /* plain loops: any compiler, any machine */
static void ag_panel_rows_${S}(i64 m0, i64 m1, i64 j, i64 width, i64 K, const ${T}* a,
    i64 sam, i64 sak, const ${T}* panel, i64 sp, ${T}* c, i64 scm, const ${T}* bias,
    i64 sbias, int relu)
{
    for (i64 i = m0; i < m1; i++) {
        ${T} acc[2 * ${W}];
        ${T} start = bias ? bias[i * sbias] : 0;
        for (int n = 0; n < 2 * ${W}; n++) acc[n] = start;
        for (i64 k = 0; k < K; k++) {
            ${T} aik = a[i * sam + k * sak];
            for (i64 n = 0; n < width; n++) acc[n] += aik * panel[k * sp + n];
        }
        for (i64 n = 0; n < width; n++)
            c[i * scm + j + n] = (relu && acc[n] < 0) ? 0 : acc[n];
    }
}
#endif

/* B's columns 0..width (width <= 2W) into panel (K x 2W, zero past width), read along
   whichever of B's axes is contiguous. */
static void ag_pack_${S}(i64 K, i64 width, const ${T}* b, i64 sbk, i64 sbn, ${T}* panel)
{
    const i64 P = 2 * ${W};
    if (sbn == 1 || width == 1) {
        for (i64 k = 0; k < K; k++)
            for (i64 n = 0; n < P; n++) panel[k * P + n] = n < width ? b[k * sbk + n * sbn] : 0;
    } else {
        for (i64 n = 0; n < width; n++)
            for (i64 k = 0; k < K; k++) panel[k * P + n] = b[n * sbn + k * sbk];
        for (i64 k = 0; k < K; k++)
            for (i64 n = width; n < P; n++) panel[k * P + n] = 0;
    }
}

/* C[r] = bias[r] + A[r] B[r] (then ReLU if relu), C contiguous along N. B is read a panel
   of 2W columns at a time, copied into a buffer of the thread's (its rows then lie
   side by side in the first-level cache, whatever B's strides: a panel read in place
   with rows 2^k bytes apart maps them onto a few cache sets), and every row of A passes
   over the panel. Strides in elements; bias may be NULL. */
void ag_matmul_${S}(i64 R, i64 M, i64 N, i64 K,
    const ${T}* A, i64 sar, i64 sam, i64 sak, const ${T}* B, i64 sbr, i64 sbk, i64 sbn,
    ${T}* C, i64 scr, i64 scm, const ${T}* bias, i64 sbiasr, i64 sbiasm,
    int relu, int threads)
{
    const i64 P = 2 * ${W};
    i64 per = ag_rows_per_task(R, M, threads, 6);
    i64 parts = M > 0 ? (M + per - 1) / per : 1;
    i64 tasks = R * parts;
    int team = ag_team(threads, tasks);
    /* B read in place when contiguous along N and few rows of A pass over each panel:
       copying it would cost about as much as the product */
    int in_place = sbn == 1 && M <= 12;
    size_t bytes = ((sizeof(${T}) * (size_t)(K > 0 ? K : 1) * P + 63) / 64) * 64;
    #pragma omp parallel num_threads(team) if(team > 1)
    {
        ${T}* panel = (${T}*)aligned_alloc(64, bytes);
        #pragma omp for schedule(static)
        for (i64 t = 0; t < tasks; t++) {
            i64 r = t / parts, m0 = (t % parts) * per, m1 = m0 + per < M ? m0 + per : M;
            i64 panels = (N + P - 1) / P, next = t + 1 < tasks ? (t + 1) / parts : r;
            for (i64 j = 0; j < N; j += P) {
                i64 width = N - j < P ? N - j : P;
                if (next != r) {  /* a share of the next replica's operands meanwhile */
                    i64 part = j / P;
                    ag_prefetch(A + next * sar, sizeof(${T}) * ((M - 1) * sam + (K - 1) * sak + 1),
                                part, panels, 0);
                    ag_prefetch(B + next * sbr, sizeof(${T}) * ((K - 1) * sbk + (N - 1) * sbn + 1),
                                part, panels, 0);
                    ag_prefetch(C + next * scr, sizeof(${T}) * ((M - 1) * scm + N),
                                part, panels, 1);
                }
                const ${T}* b = B + r * sbr + j;
                if (!in_place) ag_pack_${S}(K, width, B + r * sbr + j * sbn, sbk, sbn, panel);
                ag_panel_rows_${S}(m0, m1, j, width, K, A + r * sar, sam, sak,
                                   in_place ? b : panel, in_place ? sbk : P,
                                   C + r * scr, scm, bias ? bias + r * sbiasr : NULL,
                                   sbiasm, relu);
            }
        }
        free(panel);
    }
}

""")


def source() -> str:
    """The C source of the kernels, float32 and float64."""
    return _PRELUDE + "".join(_KERNELS.substitute(**fields) for fields in _TYPES.values())


_I64, _PTR, _INT = ctypes.c_longlong, ctypes.c_void_p, ctypes.c_int
_MATMUL_ARGS = [_I64, _I64, _I64, _I64, _PTR, _I64, _I64, _I64, _PTR, _I64, _I64, _I64,
                _PTR, _I64, _I64, _PTR, _I64, _I64, _INT, _INT]

_lock = threading.Lock()
_functions: list[dict[str, ctypes._CFuncPtr] | None] = []


def _load() -> dict[str, ctypes._CFuncPtr] | None:
    """The compiled functions by name (compiled on first use); None without a compiler."""
    if not _functions:
        with _lock:
            if not _functions:
                _functions.append(_compile())
    return _functions[0]


def _compile() -> dict[str, ctypes._CFuncPtr] | None:
    path = build(source())
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    functions = {}
    for sfx in _SUFFIX.values():
        fn = getattr(lib, f"ag_matmul_{sfx}")
        fn.argtypes, fn.restype = _MATMUL_ARGS, None
        functions[f"matmul_{sfx}"] = fn
    return functions


def _usable(*tensors: Tensor) -> bool:
    first = tensors[0]
    return first.dtype in _SUFFIX and all(
        type(t) in (Tensor, torch.nn.Parameter) and t.layout == torch.strided
        and t.device.type == "cpu" and t.dtype == first.dtype and t.dim() == 3
        for t in tensors)


def _unit(t: Tensor, dim: int) -> bool:
    """Whether ``t`` is contiguous along ``dim`` (any stride will do for a single entry)."""
    return t.shape[dim] <= 1 or t.stride(dim) == 1


def matmul(a: Tensor, b: Tensor, bias: Tensor | None = None, relu: bool = False,
           threads: int | None = None) -> Tensor | None:
    """``bias + a @ b`` (then ``max(., 0)`` if ``relu``) as a new contiguous ``(R, M, N)``
    tensor, for ``a`` ``(R, M, K)``, ``b`` ``(R, K, N)`` and ``bias`` ``(R, M, 1)``; None
    when the kernel does not apply (see the module doc). ``threads``: default
    ``torch.get_num_threads()``."""
    operands = (a, b) if bias is None else (a, b, bias)
    if not _usable(*operands) or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        return None
    r, m, k = a.shape
    n = b.shape[2]
    if bias is not None and tuple(bias.shape) != (r, m, 1):
        return None
    if not (_unit(b, 2) or _unit(b, 1)):
        return None
    functions = _load()
    if functions is None:
        return None
    out = a.new_empty(r, m, n)
    if out.numel() == 0:
        return out
    fn = functions[f"matmul_{_SUFFIX[a.dtype]}"]
    fn(r, m, n, k, a.data_ptr(), *a.stride(), b.data_ptr(), *b.stride(),
       out.data_ptr(), *out.stride()[:2], 0 if bias is None else bias.data_ptr(),
       *((0, 0) if bias is None else bias.stride()[:2]), int(relu),
       torch.get_num_threads() if threads is None else threads)
    return out
