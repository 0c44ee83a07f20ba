"""Compile a traced update into one C loop: every input read once, every output written once.

An optimizer step is memory traffic: Adam reads ``p, g, m, v`` and writes ``p, m, v``.
The foreach backend makes one pass over memory per operation; this backend makes one
pass in total. From a :class:`~antigrad.formula.expr.Graph` it generates C source:

- the per-step scalar nodes (``-lr / bc1``, ...) are computed once per tensor, in double,
  from that tensor's row of scalar inputs (bias corrections computed in Python for each
  distinct scalar state, e.g. step count), exactly as the foreach backend computes them;
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

Compiling and caching: :mod:`.compiler`. The same library exports a non-finite check
over all gradients of a bucket (one pass, both threads), which a step can run before
its update in the same call.

Nothing here is used when the device is not the CPU, a tensor has gaps or is laid out
unlike its parameter, the dtype is not float32/float64, a tensor is a subclass (DTensor,
...), or no compiler works (then a warning says so, once).
"""

from __future__ import annotations

import ctypes
import itertools
import operator
import threading
from collections.abc import Callable

import torch
from torch import Tensor

from ..formula.expr import Graph
from . import guards, reduction
from .compiler import build, warn_fallback
from .csource import DTYPES, finite_source, source
from .sharded import PLAIN_TYPES

CHECK_OK = 0
_lock = threading.Lock()


class Kernel:
    """A compiled graph; :meth:`bind` prepares it for one bucket of tensors."""

    def __init__(self, graph: Graph, lib: ctypes.CDLL) -> None:
        self.graph, self.lib = graph, lib
        self.inputs = list(graph.tensor_inputs)
        self.scalar_names = list(graph.scalar_inputs)
        self.fns = {}
        self.reduce_fns: dict[torch.dtype, list] = {}
        for dtype, (sfx, _T, _fs) in DTYPES.items():
            fn = getattr(lib, f"ag_step_{sfx}")
            fn.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p,
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong,
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
            fn.restype = ctypes.c_int
            self.fns[dtype] = fn
            self.reduce_fns[dtype] = []
            for k in range(graph.phases):
                rf = getattr(lib, f"ag_reduce{k}_{sfx}")
                rf.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_void_p]
                rf.restype = None
                self.reduce_fns[dtype].append(rf)

    def bind(self, tensors: dict[str, list[Tensor]], dtype: torch.dtype,
             store: list[list[Tensor]]) -> Bound:
        """The kernel set up for these tensors (see :class:`Bound`)."""
        return Bound(self, tensors, dtype, store)


class Bound:
    """A kernel bound to one bucket: pointers and sizes are set up once, not per step.

    ``tensors`` are the bucket's inputs by name. Every address but the gradients' is kept:
    the caller binds again when a parameter or a state tensor moves; gradients are passed
    to every call, with the rows of scalars each tensor takes. ``store`` are 0-d
    scalar-state tensors, one list per name, that each successful call sets to the step's
    new values (of the tensor's row). They must pass :func:`storable`; the write does not
    bump their version counters.
    """

    def __init__(self, kernel: Kernel, tensors: dict[str, list[Tensor]], dtype: torch.dtype,
                 store: list[list[Tensor]]) -> None:
        self.fn = kernel.fns[dtype]
        self.reduce_fns = kernel.reduce_fns[dtype]
        self.graph = kernel.graph
        self.scalar_names = kernel.scalar_names
        # A row of scalars (name -> value) as the kernel's values, in its order.
        self._row_values = _values_getter(self.scalar_names)
        self.nt = nt = len(tensors["param"])
        self.rows = (ctypes.c_int * max(1, nt))()
        self.row_list: list[int] = []
        self.nrows = 0
        inputs = kernel.inputs
        self.ptrs = (ctypes.c_void_p * (nt * len(inputs)))()
        for k, name in enumerate(inputs):
            self.ptrs[k * nt:(k + 1) * nt] = [t.data_ptr() for t in tensors[name]]
        params = tensors["param"]
        # What the parameters were bound as: a parameter whose address, dtype, shape or
        # strides changed (`p.data = ...`) makes the caller bind again, or fall back.
        self.param_layout = param_layout(params)
        self.grad_at = inputs.index("grad") * nt
        self.numel = (ctypes.c_longlong * nt)(*[t.numel() for t in params])
        # What each call's gradients must look like: plain tensors of the parameters' dtype,
        # shape and strides. Anything else (`p.grad.data = g.double()`, a view with other
        # strides) is refused before a byte is read: it runs on the foreach backend.
        self.grad_layout = [(Tensor, t.dtype, t.shape, t.stride()) for t in params]
        self.nq = len(store)
        self._use_rows([0] * nt, 1)
        self.qptrs = (ctypes.c_void_p * max(1, self.nq * nt))(
            *[t.data_ptr() for ts in store for t in ts])
        self.q64 = int(bool(store) and store[0][0].dtype == torch.float64)
        # Each tensor's row of reduction results, written by the reduce phases.
        nr = len(kernel.graph.columns)
        self.reduced = torch.zeros(nt, nr, dtype=torch.float64)
        self.outs = [torch.zeros(nt, len(phase), dtype=torch.float64)
                     for phase in kernel.graph.reductions]

    def __call__(self, grads: list[Tensor | None], scalars: list[dict[str, float]],
                 values: list[list[float]], check: bool, rows: list[int],
                 partial: bool = True, owners: list[int] | None = None,
                 grads_matched: bool = False) -> bool:
        """One step of the bound parameters (as ``param_layout`` says) with these
        gradients, which must match ``grad_layout`` (see :func:`grad_layout`). Tensor ``i``
        uses row ``rows[i]``: ``scalars[r]`` and ``values[r]`` are row ``r``'s scalar inputs
        and new scalar state; row -1 (gradient ``None``, allowed if ``partial``) leaves the
        tensor alone. ``owners[i]`` is the param group whose totals tensor ``i`` counts in
        (all one group if None). False (and nothing written) if ``check`` found a
        non-finite gradient. ``grads_matched``: the gradients just passed a native layout
        check (:class:`.guards.Layouts`), so their addresses are read natively too."""
        if (rows is not self.row_list and rows != self.row_list) or len(scalars) > self.nrows:
            self._use_rows(rows, len(scalars))
        # (plain tensors: the caller checked their types against grad_layout)
        if not (grads_matched and guards.addresses_into(grads, self.ptrs, self.grad_at,
                                                         self.nt)):
            self.ptrs[self.grad_at:self.grad_at + self.nt] = [
                0 if g is None else g.data_ptr() for g in grads] if partial else list(
                map(Tensor.data_ptr, grads))
        self.svals[:len(scalars) * len(self.scalar_names)] = list(
            itertools.chain.from_iterable(map(self._row_values, scalars)))
        self.qvals[:len(values) * self.nq] = list(itertools.chain.from_iterable(values))
        if self.reduce_fns:
            self._reduce(rows, owners)
        return self.fn(self.nt, self.ptrs, self.numel, self.svals, self.rows, int(check),
                       self.nq, self.qvals, self.qptrs, self.q64,
                       self.reduced.data_ptr()) == CHECK_OK

    def _reduce(self, rows: list[int], owners: list[int] | None) -> None:
        """Run the reduce phases into ``self.reduced`` (one read pass each)."""
        columns = self.graph.columns
        owners = [0] * self.nt if owners is None else owners
        who = torch.tensor([o if r >= 0 else -1 for o, r in zip(owners, rows, strict=True)])

        def partials(phase: int, values: dict[int, Tensor]) -> Tensor:
            for node, v in values.items():  # the results of the phases before
                self.reduced[:, columns[node]] = v
            out = self.outs[phase]
            self.reduce_fns[phase](self.nt, self.ptrs, self.numel, self.svals, self.rows,
                                   self.reduced.data_ptr(), out.data_ptr())
            return out.clone()

        for node, v in reduction.run(self.graph, partials, who, max(owners) + 1).items():
            self.reduced[:, columns[node]] = v

    def _use_rows(self, rows: list[int], nrows: int) -> None:
        self.rows[:self.nt] = rows
        self.row_list = rows  # the caller's list, never changed in place
        if nrows > self.nrows:  # room for every row's scalars and new scalar state
            self.nrows = nrows
            self.svals = (ctypes.c_double * max(1, nrows * len(self.scalar_names)))()
            self.qvals = (ctypes.c_double * max(1, nrows * self.nq))()


def _values_getter(names: list[str]) -> Callable[[dict[str, float]], tuple[float, ...]]:
    if len(names) == 1:
        name = names[0]
        return lambda row: (row[name],)
    return operator.itemgetter(*names) if names else lambda row: ()


def param_layout(params: list[Tensor]) -> list[tuple]:
    """What a bound kernel assumes of each parameter: address, dtype, shape, strides."""
    return [(p.data_ptr(), p.dtype, p.shape, p.stride()) for p in params]


def scalar_layout(scalars: list[Tensor]) -> list[tuple]:
    """Address, dtype and number of dimensions of each 0-d tensor: while ``dim()`` is 0,
    its shape and strides are ``()``, so this tells as much as :func:`param_layout` with
    one read less."""
    return [(t.data_ptr(), t.dtype, t.dim()) for t in scalars]


def grad_layout(grads: list[Tensor | None], bound: list[tuple]) -> list[tuple]:
    """Each gradient's type, dtype, shape and strides, to compare with a :class:`Bound`'s
    ``grad_layout``; a missing gradient (``None``) takes the bound value (it is skipped).
    The device needs no check: torch refuses a gradient on another device, by ``p.grad =``
    and by ``p.grad.data =`` alike."""
    return [(type(g), g.dtype, g.shape, g.stride()) if g is not None else want
            for g, want in zip(grads, bound, strict=True)]


def storable(targets: list[list[Tensor]]) -> bool:
    """Whether a kernel can write these 0-d tensors: on the CPU, all float32 or all float64."""
    dtypes = {t.dtype for ts in targets for t in ts}
    return len(dtypes) <= 1 and dtypes <= set(DTYPES) and all(
        t.device.type == "cpu" and t.dim() == 0 for ts in targets for t in ts)


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
        warn_fallback(f"Loading antigrad's native kernel {path} failed ({err}).")
        return None


# ----------------------------------------------------------------------------------------
# the non-finite check on its own (graph-independent)

_FINITE_LIB: list = []


def _finite_fns() -> dict | None:
    if not _FINITE_LIB:
        with _lock:
            if not _FINITE_LIB:
                path = build(finite_source())
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
    native check does not apply (a device other than the CPU, a tensor with gaps, a
    dtype other than float32/float64, a tensor subclass, no compiler)."""
    by_dtype: dict[torch.dtype, list[Tensor]] = {}
    for g in grads:
        if not plain(g) or g.dtype not in DTYPES or g.device.type != "cpu" or not dense(g):
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


def plain(t: Tensor) -> bool:
    """A dense tensor that owns its memory: not a subclass (DTensor, FakeTensor, ...), whose
    ``data_ptr()`` need not be the elements a kernel may write, and not sparse."""
    return type(t) in PLAIN_TYPES and t.layout == torch.strided


def dense(t: Tensor) -> bool:
    """Whether ``t``'s elements fill its memory exactly once, in any dimension order
    (contiguous, channels-last, ...): then a flat walk over ``numel`` elements from
    ``data_ptr()`` visits each once."""
    if t.is_contiguous():
        return True
    expected = 1
    dims = sorted((st, sz) for st, sz in zip(t.stride(), t.shape, strict=True) if sz != 1)
    for stride, size in dims:
        if stride != expected:
            return False
        expected *= size
    return True


def eligible(tensors: dict[str, list[Tensor]], device: torch.device, dtype: torch.dtype) -> bool:
    """Whether a bucket can run natively: plain CPU float32/float64 tensors, each dense and
    laid out as the first list's (its parameter's), so that one flat walk pairs the same
    elements in all. Anything else (a size mismatch included: foreach raises torch's size
    error then) runs on foreach."""
    if device.type != "cpu" or dtype not in DTYPES:
        return False
    first = next(iter(tensors.values()), [])
    layout = [(t.shape, t.stride()) for t in first]
    return all(plain(t) and t.device == device and t.dtype == dtype
               for ts in tensors.values() for t in ts) and \
        all(dense(t) for t in first) and \
        all([(t.shape, t.stride()) for t in ts] == layout for ts in tensors.values())
