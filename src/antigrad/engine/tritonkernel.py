"""Run a traced update as one generated Triton kernel per bucket (the GPU backend).

:mod:`.tritonsource` writes the kernel; this module loads it (once per chain and dtype
combination, from a file under the kernel cache so that Triton can read its source, and
Triton caches the compiled binary), binds it to a bucket and launches it.

How a bucket is laid out for the kernel: a **table**, not flat copies. Binding builds two
device tensors once: the static table (per tensor: its size, the addresses of the
parameter and state tensors, of its scalar-state tensors) and the chunk table (per
program: which tensor, which first element), ``BLOCK`` elements per program
(:func:`block_for`: fewer for 16-bit parameters). A step
uploads one small buffer, in one asynchronous copy from pinned memory: the gradients'
addresses, each tensor's row, and per row the step's scalars (learning rate, bias
corrections) and new scalar state (``step``), as float64. So a step is one upload and one
launch (two with the non-finite check), whatever the number of tensors, and no step
waits for the device: scalars are data, never compile-time constants, and nothing is
read back.

With scalars computed on the device (:mod:`.capturable`: ``capturable=True``, a tensor
``lr``) the kernel reads them from that device tensor instead, and the upload holds only
the gradients' addresses and rows: it is kept, and reused while they are the same, so
such a step copies nothing from the host (:class:`KeptUploads`, written for CUDA graphs).

The non-finite check (:func:`check_launch`) sets a device flag that the update kernel
reads: a refused step writes nothing, and the host learns the verdict later
(:class:`Verdict`), when it next needs it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import struct
import sys
import threading
from types import ModuleType

import torch
from torch import Tensor

from ..formula.expr import Graph
from . import reduction
from .compiler import kernel_folder
from .native import dense, param_layout, plain
from .tritonsource import TL, check_source, step_source, width

# Elements per program for 32- and 64-bit parameters (a multiple of 4 warps' 128 threads).
BLOCK = 2048
# For 16-bit parameters, smaller programs: measured on an H200 (llama-1b layout, bfloat16),
# SGD with momentum ran in 3.8 ms per step with 1024 against 11.5 ms with 2048, and Adam in
# 5.8 against 10.0 ms; 4096 and 8192 were slower still (benchmarks/RESULTS.md). float16
# follows bfloat16 (not measured).
BLOCK_16BIT = 1024
SCALAR_DTYPES = (torch.float32, torch.float64)
_lock = threading.Lock()
_modules: dict[str, ModuleType] = {}
# (kernel source hash, compile-time arguments) pairs launched so far: each is one Triton
# compilation (per-step values are runtime arguments, so they never add one).
signatures: set[tuple] = set()


def available() -> bool:
    """Whether Triton can be imported (it is an optional dependency: ``antigrad[triton]``)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def interpreted() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``, CPU tensors)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _load(src: str) -> ModuleType:
    """The module of generated source ``src``, written once under the kernel cache."""
    key = hashlib.sha256(src.encode()).hexdigest()[:24]
    mod = _modules.get(key)
    if mod is not None:
        return mod
    with _lock:
        if key not in _modules:
            folder = kernel_folder() / "triton"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"ag_{key}.py"
            if not path.exists():  # atomic: another process sees the whole file or none
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(src)
                os.replace(tmp, path)
            spec = importlib.util.spec_from_file_location(f"antigrad_kernel_{key}", path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = mod  # Triton resolves the kernel's globals through it
            spec.loader.exec_module(mod)
            mod.KEY = key
            _modules[key] = mod
    return _modules[key]


def step_module(graph: Graph, dtypes: dict[str, torch.dtype], nq: int,
                scalar_dtype: torch.dtype) -> ModuleType:
    """The loaded ``ag_step`` of ``graph`` for these dtypes (generated on first use)."""
    return _load(step_source(graph, dtypes, nq, scalar_dtype))


def check_module(dtype: torch.dtype) -> ModuleType:
    return _load(check_source(dtype))


def upload(ints: list[int], floats: list[float], device: torch.device) -> Tensor:
    """``ints`` then the bits of ``floats`` (float64) as one int64 tensor on ``device``,
    copied asynchronously from pinned memory (the host never waits)."""
    buf = bytearray(struct.pack(f"{len(ints)}q{len(floats)}d", *ints, *floats))
    t = torch.frombuffer(buf, dtype=torch.int64) if buf else torch.zeros(1, dtype=torch.int64)
    if device.type == "cpu":
        return t
    if device.type == "cuda":
        t = t.pin_memory()  # the caching host allocator keeps it until the copy is done
    return t.to(device, non_blocking=True)


def block_for(dtype: torch.dtype) -> int:
    """Elements per program for parameters of ``dtype``: :data:`BLOCK_16BIT` for bfloat16
    and float16, :data:`BLOCK` otherwise."""
    return BLOCK_16BIT if dtype in (torch.bfloat16, torch.float16) else BLOCK


def chunk_table(sizes: list[int], device: torch.device, block: int = BLOCK
                ) -> tuple[Tensor, int]:
    """Per program: (tensor index, first element), ``block`` elements each; an empty
    tensor gets one (empty) chunk so that its scalar state is still written."""
    rows: list[int] = []
    for i, n in enumerate(sizes):
        for start in range(0, max(n, 1), block):
            rows += (i, start)
    return torch.tensor(rows, dtype=torch.int64, device=device), len(rows) // 2


def eligible(tensors: dict[str, list[Tensor]], device: torch.device,
             store: list[list[Tensor]]) -> bool:
    """Whether a bucket can run on this backend: plain floating tensors on ``device``
    (float32/float64/bfloat16/float16, each list of one dtype), each dense and laid out as
    its parameter, and scalar-state tensors the kernel can write (0-d float32 or float64,
    all of one dtype, on the same device)."""
    first = tensors["param"]
    layout = [(t.shape, t.stride()) for t in first]
    for ts in tensors.values():
        if not ts or len({t.dtype for t in ts}) != 1 or ts[0].dtype not in TL:
            return False
        if not all(plain(t) and t.device == device for t in ts):
            return False
        if [(t.shape, t.stride()) for t in ts] != layout:
            return False
    if not all(dense(t) for t in first):
        return False
    qs = [t for ts in store for t in ts]
    return len({t.dtype for t in qs}) <= 1 and all(
        t.dtype in SCALAR_DTYPES and t.dim() == 0 and t.device == device for t in qs)


def _launch(fn, grid: int, device: torch.device, *args, **meta) -> None:
    if device.type == "cuda" and device.index is not None \
            and device.index != torch.cuda.current_device():
        with torch.cuda.device(device):
            fn[(grid,)](*args, **meta)
    else:
        fn[(grid,)](*args, **meta)


class Bound:
    """The kernel of one chain bound to one bucket (see the module docstring).

    ``tensors`` are the bucket's inputs by name (the gradients' entries only fix the
    layout); ``store`` the 0-d scalar-state tensors the kernel writes after the update.
    """

    def __init__(self, graph: Graph, tensors: dict[str, list[Tensor]],
                 store: list[list[Tensor]]) -> None:
        params = tensors["param"]
        self.device = params[0].device
        self.nt = nt = len(params)
        self.nq = len(store)
        self.scalar_names = list(graph.scalar_inputs)
        dtypes = {n: tensors[n][0].dtype for n in graph.tensor_inputs}
        scalar_dtype = store[0][0].dtype if store else torch.float32
        self.step_fn = step_module(graph, dtypes, self.nq, scalar_dtype)
        self.check_fn = check_module(dtypes["grad"])
        sizes = [t.numel() for t in params]
        self.width = width(graph, self.nq)
        table: list[int] = []
        # The reduce phases' results: a row per tensor, its address at the end of the
        # tensor's row of the static table (see tritonsource.width).
        self.graph = graph
        nr = len(graph.columns)
        self.reduced = torch.zeros(nt, max(nr, 1), dtype=torch.float64, device=self.device)
        for i in range(nt):
            table.append(sizes[i])
            table += [0 if n == "grad" else tensors[n][i].data_ptr() for n in graph.tensor_inputs]
            table += [ts[i].data_ptr() for ts in store]
            if nr:
                table.append(self.reduced.data_ptr() + 8 * nr * i)
        self.stat = torch.tensor(table, dtype=torch.int64, device=self.device)
        self.block = block_for(dtypes["param"])
        self.chunks, self.grid = chunk_table(sizes, self.device, self.block)
        self.chunk_owner = self.chunks.view(-1, 2)[:, 0]
        self.owners: list[int] = [0] * nt
        self._owner_table: tuple[tuple[int, ...], Tensor] | None = None
        # What the parameters were bound as (a change makes the bucket bind again), and what
        # each call's gradients must look like: plain tensors of the parameters' dtype,
        # shape and strides (anything else runs that step on foreach).
        self.param_layout = param_layout(params)
        self.grad_layout = [(Tensor, t.dtype, t.shape, t.stride()) for t in params]
        self.dtypes = dtypes
        self.zero = new_flag(self.device)
        self.kept = KeptUploads(2 * nt, self.device)
        if not interpreted():  # compile now: a failure leaves the bucket to foreach
            self.step_fn.ag_step.warmup(self.stat, self.stat, self.chunks, self.zero, self.stat,
                                        0, 0, 0, BLOCK=self.block, grid=(1,))
            self.check_fn.ag_check.warmup(self.stat, self.stat, self.chunks, self.zero, 0, 0,
                                          0, BLOCK=self.block, grid=(1,))

    def stage(self, grads: list[Tensor | None], scalars: list[dict[str, float]],
              values: list[list[float]], rows: list[int], on_device: Tensor | None = None,
              owners: list[int] | None = None) -> tuple[Tensor, Tensor, int, int]:
        """Upload this step's gradient addresses, rows, scalars and new scalar state; with
        ``on_device`` (scalars then new scalar state, float64 rows computed on the device:
        :func:`antigrad.engine.capturable.device_rows`) only the addresses and rows, once.
        ``owners`` (for the reduce phases) as for :meth:`__call__`."""
        if owners is not None:
            self.owners = [o if r >= 0 else -1 for o, r in zip(owners, rows, strict=True)]
        ints = [0 if g is None else g.data_ptr() for g in grads] + rows
        if on_device is not None:
            return self.kept.get(tuple(ints)), on_device.view(torch.int64), 0, \
                len(rows) * len(self.scalar_names)
        names = self.scalar_names
        floats = [row[n] for row in scalars for n in names]
        s_off, v_off = 2 * self.nt, 2 * self.nt + len(floats)
        floats += [v for row in values for v in row]
        dyn = upload(ints, floats, self.device)
        return dyn, dyn, s_off, v_off

    def check(self, staged: tuple[Tensor, Tensor, int, int], flag: Tensor, base: int) -> None:
        """Set ``flag`` (see ``ag_check``) if a gradient of this step is not finite."""
        signatures.add((self.check_fn.KEY, self.block))
        _launch(self.check_fn.ag_check, self.grid, self.device, self.stat, staged[0],
                self.chunks, flag, self.nt, self.width, base, BLOCK=self.block)

    def update(self, staged: tuple[Tensor, Tensor, int, int], flag: Tensor | None) -> None:
        """The update, in place; with ``flag``, only if it is still 0."""
        dyn, scal, s_off, v_off = staged
        if self.graph.phases:
            self.reduce(staged)
        # Unchecked steps read a flag that stays 0: one compiled variant for both.
        signatures.add((self.step_fn.KEY, self.block))
        _launch(self.step_fn.ag_step, self.grid, self.device, self.stat, dyn, self.chunks,
                self.zero if flag is None else flag, scal, self.nt, s_off, v_off, BLOCK=self.block)

    def reduce(self, staged: tuple[Tensor, Tensor, int, int]) -> None:
        """Run the reduce phases into ``self.reduced``, on the device without waiting: one
        kernel per phase writes each program's partials, torch ops add them up per tensor
        and param group (:mod:`.reduction`)."""
        dyn, scal, s_off, _ = staged
        columns = self.graph.columns
        owners = self._owners_on_device()

        def partials(phase: int, values: dict[int, Tensor]) -> Tensor:
            for node, v in values.items():  # the results of the phases before
                self.reduced[:, columns[node]] = v
            kinds = self.graph.reductions[phase]
            out = torch.empty(self.grid, len(kinds), dtype=torch.float64, device=self.device)
            signatures.add((self.step_fn.KEY, self.block, phase))
            _launch(getattr(self.step_fn, f"ag_reduce{phase}"), self.grid, self.device,
                    self.stat, dyn, self.chunks, scal, out, self.nt, s_off, BLOCK=self.block)
            return torch.stack([reduction.combine(r.op, out[:, j], self.chunk_owner, self.nt)
                                for j, r in enumerate(kinds)], dim=1)

        groups = max(self.owners, default=0) + 1
        for node, v in reduction.run(self.graph, partials, owners, groups).items():
            self.reduced[:, columns[node]] = v

    def _owners_on_device(self) -> Tensor:
        """This step's owners (see :meth:`stage`) on the device, uploaded when they change."""
        key = tuple(self.owners)
        if self._owner_table is None or self._owner_table[0] != key:
            self._owner_table = (key, torch.tensor(key, dtype=torch.int64).to(self.device))
        return self._owner_table[1]

    def __call__(self, grads: list[Tensor | None], scalars: list[dict[str, float]],
                 values: list[list[float]], check: bool, rows: list[int],
                 partial: bool = True, on_device: Tensor | None = None,
                 owners: list[int] | None = None) -> bool:
        """One step, as :meth:`antigrad.engine.native.Bound.__call__` (``on_device``: see
        :meth:`stage`). With ``check`` the verdict is read back (the host waits for the
        device): the optimizer avoids this by checking all its buckets against one flag
        (:class:`Verdict`)."""
        staged = self.stage(grads, scalars, values, rows, on_device, owners)
        if not check:
            self.update(staged, None)
            return True
        flag = new_flag(self.device)
        self.check(staged, flag, 0)
        self.update(staged, flag)
        return int(flag.item()) == 0


class KeptUploads:
    """Uploads of gradient addresses and rows, for steps with device scalars: each set is
    uploaded once and reused while the gradients stay where they are.

    For CUDA graphs: a copy captured in a graph reads its pinned host buffer again on every
    replay, so that buffer is never written again nor freed while the bucket is bound
    (sets uploaded during a capture are never evicted), and a spare buffer, allocated
    outside any capture, is ready for the next capture, whose gradients are new tensors.
    """

    LIMIT = 4  # sets kept besides those a graph captured

    def __init__(self, size: int, device: torch.device) -> None:
        self.size, self.device = size, device
        self.sets: dict[tuple[int, ...], tuple[Tensor, Tensor, bool]] = {}
        self.spare = self._host()

    def __len__(self) -> int:
        return len(self.sets)

    def _host(self) -> Tensor:
        host = torch.empty(self.size, dtype=torch.int64)
        return host.pin_memory() if self.device.type == "cuda" else host

    def get(self, ints: tuple[int, ...]) -> Tensor:
        kept = self.sets.get(ints)
        if kept is not None:
            return kept[1]
        capturing = capturing_on(self.device)
        if not capturing:
            loose = [k for k, v in self.sets.items() if not v[2]]
            if len(loose) >= self.LIMIT:
                del self.sets[loose[0]]
        host = self.spare if self.spare is not None else self._host()
        self.spare = None
        host.copy_(torch.tensor(ints, dtype=torch.int64))
        if self.device.type == "cpu":
            dev = host
        else:
            dev = torch.empty(self.size, dtype=torch.int64, device=self.device)
            dev.copy_(host, non_blocking=True)
        self.sets[ints] = (host, dev, capturing)
        if not capturing:
            self.spare = self._host()
        return dev


def capturing_on(device: torch.device) -> bool:
    """Whether a CUDA graph is being captured on ``device``'s current stream."""
    return device.type == "cuda" and torch.cuda.is_current_stream_capturing()


def new_flag(device: torch.device) -> Tensor:
    """A zeroed int32 verdict flag on ``device``."""
    return torch.zeros(1, dtype=torch.int32, device=device)


class Verdict:
    """A step's non-finite flag, copied to the host without waiting for it.

    :meth:`value` waits for that copy only (not for work queued after the step), and
    decodes it: None if every gradient was finite, else ``(index, has_nan)`` of a gradient
    that was not.
    """

    def __init__(self, flag: Tensor) -> None:
        self.event = None
        if flag.device.type == "cuda":
            self.host = torch.empty(1, dtype=torch.int32, pin_memory=True)
            self.host.copy_(flag, non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record()
        else:
            self.host = flag

    def value(self) -> tuple[int, bool] | None:
        if self.event is not None:
            self.event.synchronize()
        code = int(self.host[0])
        return None if code == 0 else (code // 2 - 1, bool(code % 2))


def step_all(steps: list, device: torch.device) -> Verdict:
    """Checked updates of several bound buckets on ``device`` (``steps``: their staged
    :class:`~antigrad.engine.buckets.Step`), without waiting: every gradient is checked
    into one flag before any update runs, and every update reads it, so a refused step
    writes nothing anywhere. Gradient ``k`` of the flag counts across the buckets in order."""
    flag = new_flag(device)
    uploads = [s.bound.stage(s.grads, s.scalars, s.values, s.call_rows, s.on_device, s.owners)
               for s in steps]
    base = 0
    for s, up in zip(steps, uploads, strict=True):
        s.bound.check(up, flag, base)
        base += s.bound.nt
    for s, up in zip(steps, uploads, strict=True):
        s.bound.update(up, flag)
    return Verdict(flag)
