"""Whether many tensors are still as they were, in two native calls instead of Python reads.

A bucket's bound kernel (:class:`~antigrad.engine.native.Bound`) holds the addresses of its
parameters and state tensors, and assumes their dtypes, shapes and strides and those of
the gradients. Each step must check them, since ``p.data = ...`` or ``.data = ...`` on a
state tensor changes any of them while keeping the object. Read from Python, every
attribute of a tensor costs 400-600 instructions in torch's bindings, and a step of 64
replicas of a small MLP reads four of them for each of 1,920 tensors: half the step.

Two native pieces torch itself ships do the same work for a whole list at once:

- ``torch._C._dynamo.guards.TensorGuards``, the C++ check behind torch.compile's guards:
  for each tensor, its exact Python type, dispatch keys (device type, layout, conjugate and
  negative bits, subclass and functionalization keys), dtype, device index,
  ``requires_grad``, number of dimensions, sizes and strides against those recorded;
- ``_torchinductor_pyobject_tensor_data_ptr``, the ``data_ptr()`` reader torch exports for
  the C code torch.compile generates, called from a small C loop compiled as antigrad's
  kernels are (:mod:`.compiler`).

:class:`Snapshot` records tensors held from step to step (their addresses too);
:class:`Layouts` records the layouts of tensors that come anew each step (gradients), and
:func:`addresses_into` writes their addresses where a kernel reads them. A check that
passes means each tensor's type, dtype, shape, strides (and address) are those recorded:
what the Python reads would have compared. A check that fails means only "look again": it
also fails for changes that do not matter to a kernel (``requires_grad_()``), and then the
caller compares the Python reads as before and, if they still agree, records anew.

The native loop calls torch's reader only on tensors the layout check has just passed:
plain tensors of the recorded exact type (``Tensor`` or ``Parameter``) and dispatch keys,
whose ``data_ptr()`` read from Python succeeded when they were recorded. Where a piece is
missing (another torch, no C compiler) or fails its self-test, :func:`available` is False
and callers read from Python.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence

import torch
from torch import Tensor

from .compiler import build
from .sharded import PLAIN_TYPES

_SOURCE = r"""
typedef void *(*ag_data_ptr_fn)(void *);

/* 1 if the tensor objs[i] has the address want[i], for every i < n; 0 at the first that
   has not. */
int ag_same_addresses(long long n, void *const *objs, void *const *want,
                      ag_data_ptr_fn data_ptr) {
    for (long long i = 0; i < n; i++)
        if (data_ptr(objs[i]) != want[i]) return 0;
    return 1;
}

/* out[i] = the address of the tensor objs[i], or 0 where objs[i] is skip (None). */
void ag_addresses(long long n, void *const *objs, void **out, void *skip,
                  ag_data_ptr_fn data_ptr) {
    for (long long i = 0; i < n; i++)
        out[i] = objs[i] == skip ? 0 : data_ptr(objs[i]);
}

/* The head of a CPython list object (PyObject_VAR_HEAD, then its array of items); the
   self-test checks that it reads lists so on this interpreter. */
typedef struct { long long refcnt; void *type; long long size; void **items; } ag_list;

long long ag_list_size(const ag_list *list) { return list->size; }

/* ag_addresses over the items of a Python list (no array of ids built in Python) into
   out, which has room for n: 1, or 0 with nothing written if the list holds other than n
   items now (it may have changed since the caller counted them). */
int ag_list_addresses(const ag_list *list, long long n, void **out, void *skip,
                      ag_data_ptr_fn data_ptr) {
    if (list->size != n) return 0;
    ag_addresses(n, (void *const *)list->items, out, skip, data_ptr);
    return 1;
}

/* PyDict_GetItem: a borrowed reference, or 0 if the key is missing or d is not a dict. */
typedef void *(*ag_get_item_fn)(void *d, void *key);

/* 1 if the list dicts holds n dicts and dicts[i] maps names[k] to the object
   want[i * nk + k] (want has n * nk), for every i and k; 0 if the list holds other than
   n items now, or at the first that does not. */
int ag_same_entries(const ag_list *dicts, long long n, void *const *names, long long nk,
                    void *const *want, ag_get_item_fn get_item) {
    if (dicts->size != n) return 0;
    for (long long i = 0; i < n; i++)
        for (long long k = 0; k < nk; k++)
            if (get_item(dicts->items[i], names[k]) != want[i * nk + k]) return 0;
    return 1;
}
"""

_lock = threading.Lock()
_loaded: list = []  # [(library, data_ptr reader, TensorGuards)] or [None], once tried


def _load() -> tuple | None:
    try:
        from torch._C._dynamo.guards import TensorGuards
        from torch._C._dynamo.guards import _torchinductor_pyobject_tensor_data_ptr as reader
    except ImportError:
        return None
    path = build(_SOURCE)
    if path is None or not isinstance(reader, int) or not reader:
        return None
    try:
        lib = ctypes.PyDLL(str(path))  # keeps the GIL: torch's reader is Python-facing code
    except OSError:
        return None
    lib.ag_same_addresses.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.c_void_p]
    lib.ag_same_addresses.restype = ctypes.c_int
    lib.ag_addresses.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_void_p, ctypes.c_void_p]
    lib.ag_addresses.restype = None
    lib.ag_list_size.argtypes = [ctypes.c_void_p]
    lib.ag_list_size.restype = ctypes.c_longlong
    lib.ag_list_addresses.argtypes = [ctypes.c_void_p, ctypes.c_longlong, ctypes.c_void_p,
                                      ctypes.c_void_p, ctypes.c_void_p]
    lib.ag_list_addresses.restype = ctypes.c_int
    lib.ag_same_entries.argtypes = [ctypes.c_void_p, ctypes.c_longlong, ctypes.c_void_p,
                                    ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p]
    lib.ag_same_entries.restype = ctypes.c_int
    found = (lib, ctypes.c_void_p(reader), TensorGuards)
    if not _self_test(*found):
        return None
    _lists.append(_lists_test(lib, found[1]))
    return found


_GET_ITEM = ctypes.cast(ctypes.pythonapi.PyDict_GetItem, ctypes.c_void_p)
_lists: list[bool] = []  # [whether the C code reads Python lists here], once tried


class _ListHead(ctypes.Structure):
    """The C code's ``ag_list``, field for field (ctypes lays it out as the compiler does)."""

    _fields_ = [("refcnt", ctypes.c_longlong), ("type", ctypes.c_void_p),
                ("size", ctypes.c_longlong), ("items", ctypes.c_void_p)]


def _reads_as_list(address: int, items: Sequence[object]) -> bool:
    """Whether the object at ``address``, read as an ``ag_list``, is a list holding exactly
    ``items``: its type field is ``list``, its size ``len(items)`` and its array the
    items' ids. Read from Python, and the array only once the head fields agree, so a head
    laid out otherwise (free-threaded or trace-refs builds put more before the type) is
    refused without following a pointer that is not one. Any list object is larger than
    the four fields read."""
    head = _ListHead.from_address(address)
    if head.type != id(list) or head.size != len(items) or not head.items:
        return False
    array = (ctypes.c_void_p * len(items)).from_address(head.items)
    return [a or 0 for a in array] == list(map(id, items))


def _lists_test(lib: ctypes.PyDLL, reader: ctypes.c_void_p) -> bool:
    """The list and dict readers answer as documented on objects whose answers are known
    (a list read as another interpreter lays it out would not, see :func:`_reads_as_list`),
    and refuse a list of another size than they are told."""
    t, u = torch.zeros(3), torch.ones(2)
    items = [t, None, u]
    if not _reads_as_list(id(items), items) or lib.ag_list_size(id(items)) != 3:
        return False
    out = (ctypes.c_void_p * 3)()
    if lib.ag_list_addresses(id(items), 2, out, id(None), reader) != 0 or any(out):
        return False
    written = lib.ag_list_addresses(id(items), 3, out, id(None), reader)
    names = ["a", "b"]
    entries = [{"a": t, "b": u}, {"b": t, "a": u}]
    want = [t, u, u, t]
    ok = (ctypes.c_void_p * 4)(*map(id, want))
    wrong = (ctypes.c_void_p * 4)(*map(id, [t, u, t, u]))
    keys = (ctypes.c_void_p * 2)(*map(id, names))
    lacking = [{"a": t}]  # "b" missing
    return written == 1 and (out[0], out[1], out[2]) == (t.data_ptr(), None, u.data_ptr()) \
        and lib.ag_same_entries(id(entries), 2, keys, 2, ok, _GET_ITEM) == 1 \
        and lib.ag_same_entries(id(entries), 1, keys, 2, ok, _GET_ITEM) == 0 \
        and lib.ag_same_entries(id(entries), 2, keys, 2, wrong, _GET_ITEM) == 0 \
        and lib.ag_same_entries(id(lacking), 1, keys, 2, ok, _GET_ITEM) == 0


def _self_test(lib: ctypes.PyDLL, reader: ctypes.c_void_p, guards: type) -> bool:
    """Each piece answers as documented on tensors whose answers are known."""
    base = torch.zeros(4, 6)
    t = base[1:3]
    try:
        check = guards(t, dynamic_dims_sizes=None, dynamic_dims_strides=None)
        same_layout = check.check(t) and not check.check(base[:, 1:3]) and \
            not check.check(base[1:3].double()) and not check.check(t.view(3, 4))
    except (TypeError, RuntimeError):
        return False
    objs = (ctypes.c_void_p * 2)(id(t), id(None))
    out = (ctypes.c_void_p * 2)()
    lib.ag_addresses(2, objs, out, id(None), reader)
    want = (ctypes.c_void_p * 1)(t.data_ptr())
    return bool(same_layout and out[0] == t.data_ptr() and not out[1]
                and lib.ag_same_addresses(1, objs, want, reader)
                and not lib.ag_same_addresses(1, objs, (ctypes.c_void_p * 1)(base.data_ptr()),
                                              reader))


def _pieces() -> tuple | None:
    if not _loaded:
        with _lock:
            if not _loaded:
                _loaded.append(_load())
    return _loaded[0]


def available() -> bool:
    """Whether the native checks work here (else callers read layouts from Python)."""
    return _pieces() is not None


class Layouts:
    """The exact type, dispatch keys, dtype, device, ``requires_grad``, sizes and strides of
    tensors, as recorded, for tensors that come anew each step (see the module docstring)."""

    def __init__(self, tensors: Sequence[Tensor]) -> None:
        pieces = _pieces()
        if pieces is None:
            raise RuntimeError("antigrad's native tensor checks are not available here")
        self.n = len(tensors)
        self._guard = pieces[2](*tensors, dynamic_dims_sizes=None, dynamic_dims_strides=None)

    def match(self, tensors: Sequence[Tensor]) -> bool:
        """True if each of ``tensors`` (distinct objects) is laid out as recorded."""
        return len(tensors) == self.n and self._guard.check(*tensors)


class Snapshot:
    """Tensors held from step to step (kept alive here), with their layouts and addresses
    as recorded: :meth:`unchanged` says whether they are all still so."""

    def __init__(self, tensors: Sequence[Tensor]) -> None:
        self.tensors = tuple(tensors)
        self._layouts = Layouts(self.tensors)
        n = len(self.tensors)
        self._objects = (ctypes.c_void_p * max(1, n))(*map(id, self.tensors))
        self._addresses = (ctypes.c_void_p * max(1, n))(*[t.data_ptr() for t in self.tensors])

    def unchanged(self) -> bool:
        """True if every tensor has its recorded type, dtype, shape, strides and address."""
        lib, reader, _ = _loaded[0]
        return self._layouts.match(self.tensors) and bool(lib.ag_same_addresses(
            len(self.tensors), self._objects, self._addresses, reader))


def snapshot(tensors: Sequence[Tensor]) -> Snapshot | None:
    """A :class:`Snapshot` of ``tensors``; None where the native checks do not apply (see
    :func:`_plain`) or the tensors are not distinct objects (the layout check refuses a list
    with repeats)."""
    if not _plain(tensors):
        return None
    taken = Snapshot(tensors)
    return taken if taken.unchanged() else None


def layouts(tensors: Sequence[Tensor]) -> Layouts | None:
    """:class:`Layouts` of ``tensors``; None where :func:`snapshot` would be."""
    if not _plain(tensors):
        return None
    taken = Layouts(tensors)
    return taken if taken.match(tensors) else None


# Fewer tensors are read from Python: a native call's fixed cost (~4k instructions) is
# more than the Python reads of one or two tensors (benchmarks/RESULTS.md).
NATIVE_FROM = 3


def _plain(tensors: Sequence[Tensor]) -> bool:
    """Whether the native checks apply to ``tensors``: enough of them (:data:`NATIVE_FROM`),
    the checks work here, each is a plain tensor, and each one's address reads from Python
    (so torch's reader called from C, which cannot report an error, reads it too for
    tensors of the same type and dispatch keys)."""
    if len(tensors) < NATIVE_FROM or not available() or \
            not all(type(t) in PLAIN_TYPES for t in tensors):
        return False
    try:
        for t in tensors:
            t.data_ptr()
    except RuntimeError:  # no storage (a functional or fake tensor), a frozen storage
        return False
    return True


def addresses_into(tensors: Sequence[Tensor | None], out: ctypes.Array, at: int,
                   n: int) -> bool:
    """Write the address of each of ``tensors`` (0 for None) into ``out[at:at + n]``: True,
    or False with nothing written if there are not ``n`` of them or ``out`` has no room
    for ``n`` from ``at`` (the caller then writes them from Python). Only for tensors that
    a :class:`Layouts` has just matched (or None in their place). A list is read by the C
    loop itself where it can (:func:`reads_lists`), which counts its items again: an array
    of the tensors' ids built in Python cost ~1,700 instructions a tensor, the loop ~60."""
    if at < 0 or at + n > len(out):
        return False
    lib, reader, _ = _loaded[0]
    where = ctypes.byref(out, at * ctypes.sizeof(ctypes.c_void_p))
    if type(tensors) is list and reads_lists():
        return bool(lib.ag_list_addresses(id(tensors), n, where, id(None), reader))
    if len(tensors) != n:
        return False
    objects = (ctypes.c_void_p * max(1, n))(*map(id, tensors))
    lib.ag_addresses(n, objects, where, id(None), reader)
    return True


def reads_lists() -> bool:
    """Whether the native loops read Python lists and dicts directly here (see
    :func:`_lists_test`); else they take arrays of ids built in Python."""
    return available() and _lists[0]


class Entries:
    """Whether dicts still map names to the objects they did, in one native call: each
    ``dicts[i][names[k]]`` is ``want[i * len(names) + k]`` (an optimizer's state entries
    and the tensors a bucket holds from them). Keeps ``dicts`` (a list not changed
    afterwards), ``names`` and ``want`` alive. Only where :func:`reads_lists`. A list that
    holds another number of dicts than it did is "changed" (``want`` has one object per
    dict and name as built)."""

    def __init__(self, dicts: list[dict], names: Sequence[str], want: Sequence[object]) -> None:
        if not reads_lists() or type(dicts) is not list or \
                not all(type(n) is str for n in names) or len(want) != len(dicts) * len(names):
            raise ValueError("native entry checks need a list of dicts, str names and one "
                             "object per dict and name")
        self._dicts, self._names, self._want = dicts, tuple(names), tuple(want)
        self._count = len(dicts)
        self._keys = (ctypes.c_void_p * max(1, len(names)))(*map(id, self._names))
        self._ids = (ctypes.c_void_p * max(1, len(want)))(*map(id, self._want))

    def same(self) -> bool:
        """True if every dict maps every name to its recorded object (not merely an equal
        one); False if one does not, a name is missing, an entry is not a dict, or the list
        holds another number of entries than it did."""
        lib = _loaded[0][0]
        return bool(lib.ag_same_entries(id(self._dicts), self._count, self._keys,
                                        len(self._names), self._ids, _GET_ITEM))
