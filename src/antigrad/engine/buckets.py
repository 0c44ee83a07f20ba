"""A bucket: the parameters of one group that step together, prepared once, reused each step.

Parameters share a bucket when they share device and dtype, so one backend call updates
them all; parameters whose scalar state differs (``step`` counts, after some skipped steps)
take their scalars from different rows. The bucket keeps the state tensors in lists and a
Python mirror of the scalar state, so a step reads no scalar tensor and looks nothing up
by parameter. It stays valid while the same parameters have gradients, their state
entries are the same tensors at the same addresses with the same dtypes, shapes and
strides, and the scalar tensors were not modified by anyone else (their version counters
are unchanged); otherwise the optimizer rebuilds it. On the native backend it holds its
kernel bound to its tensors (:class:`~antigrad.engine.native.Bound`), bound again when a
parameter moves or changes dtype, shape or strides; a gradient unlike its parameter runs
on foreach that step. A bucket on the Triton backend whose groups compute their scalars
on the device (:mod:`.capturable`) does not advance its mirror: it reads the scalar
state again if it ever steps on the host afterwards.
"""

from __future__ import annotations

import itertools
import operator
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..formula.transform import Chain, ScalarState
from . import backends, capturable, guards, native, pertensor, tritonkernel
from .rowscalars import RowScalars

_NONE = type(None)
_BY_READS, _NATIVELY = 1, 2  # how a check passed: by Python reads, by the native check
_VERSION = operator.attrgetter("_version")


def _real(ts: list[Tensor | None]) -> list[Tensor | None]:
    return [torch.view_as_real(t) if t is not None and t.is_complex() else t for t in ts]


@dataclass
class Row:
    """Parameters of one param group that share scalar state: its Python mirror."""

    group: int
    fresh: bool  # their state buffers were just created
    state: ScalarState

    def copy(self) -> Row:
        return Row(self.group, self.fresh, self.state.copy())


@dataclass
class Step:
    """A bucket's step, prepared (:meth:`Bucket.stage`) but not yet committed."""

    params: list[Tensor]
    grads: list[Tensor | None]
    partial: bool
    row_of: list[int]
    rows: list[Row]
    call_rows: list[int]
    moving: Any
    scalars: list[dict[str, float]]
    values: list[list[float]]
    bound: Any  # native.Bound, tritonkernel.Bound or None (the general path)
    on_device: Tensor | None = None  # scalars computed on the device (see .capturable)
    # per parameter: the param group whose totals it counts in, or -1 (it sits out)
    owners: list[int] = field(default_factory=list)
    # the gradients passed the native layout check (see .guards): their addresses are read
    # natively too
    grads_matched: bool = False


class Bucket:
    """Parameters updated by one backend call; see the module docstring."""

    def __init__(self, params: list[Tensor], states: list[dict[str, Any] | None], chain: Chain,
                 scalar_values: list[tuple[float, ...]], fresh: list[bool],
                 group_of: list[int]) -> None:
        self.params, self.states, self.chain = params, states, chain
        self.device, self.dtype = params[0].device, params[0].dtype
        self.is_complex = params[0].is_complex()
        kept = {n: [s[n] for s in states] for n in chain.state}
        self.scalar_names = list(chain.scalar_state)
        self.scalar_tensors = [[s[n] for s in states] for n in self.scalar_names]
        # Everything a step relies on, to notice when someone replaces or moves it.
        self.names = [*chain.state, *self.scalar_names]
        self.held = [s[n] for s in states for n in self.names]
        self._entries_of = operator.itemgetter(*self.names) if self.names else None
        self._buffers = [s[n] for s in states for n in chain.state]
        self._scalar_flat = [t for ts in self.scalar_tensors for t in ts]
        self._zero_dim = all(isinstance(t, Tensor) and t.dim() == 0 for t in self._scalar_flat)
        self.addresses = self._layout()
        # Element-wise formulas act on the real and imaginary parts of complex tensors.
        self.tensors = {n: _real(ts) for n, ts in kept.items()} if self.is_complex else kept
        # Parameters whose param group or scalar state (step counts, say) differ take their
        # scalars from different rows; a row is a Python mirror of that state.
        self._set_rows(group_of, fresh, scalar_values)
        self.stale = False  # the mirror lags the scalar tensors (advanced on the device)
        self.native = native.eligible(self.tensors, self.device, self.dtype) and \
            native.storable(self.scalar_tensors)
        self.triton = backends.use_triton(self.device) and tritonkernel.eligible(
            {"param": _real(params), **self.tensors}, self.device, self.scalar_tensors)
        self.bound: native.Bound | tritonkernel.Bound | None = None
        self.undo: tuple[list[int], list[Row]] | None = None
        self.versions = self._versions()
        # The optimizer's state mapping as last found valid (its keys and values, in order)
        self._entries: tuple[list[Any], list[Any]] | None = None
        # Each parameter's param group in the call (-1: it sits out), for a row assignment
        self._owners_of: tuple[list[int], list[int]] | None = None
        # Native checks of what the Python reads below compare (see .guards), taken once
        # a native kernel is bound: None not yet taken, False not possible here.
        self._held_guard: guards.Snapshot | None | bool = None
        self._param_guard: guards.Snapshot | None | bool = None
        self._grad_guard: guards.Layouts | None | bool = None
        # The native check of _same_held (see .guards.Entries): None not yet made, False
        # not possible here.
        self._entries_guard: guards.Entries | None | bool = None
        self._row_scalars = RowScalars(chain)

    def _set_rows(self, group_of: list[int], fresh: list[bool],
                  scalar_values: list[tuple[float, ...]]) -> None:
        kept_as = self.scalar_tensors[0][0].dtype if self.scalar_names else torch.float32
        keys: dict[tuple, int] = {}
        self.row_of = [keys.setdefault(key, len(keys))
                       for key in zip(group_of, fresh, scalar_values, strict=True)]
        self.rows = [Row(g, f, ScalarState(dict(zip(self.scalar_names, v, strict=True)), kept_as))
                     for g, f, v in keys]

    def _reload_rows(self) -> None:
        """The mirror read again from the scalar tensors (one wait for the device), after
        steps that advanced them on the device."""
        per_tensor = zip(*self.scalar_tensors, strict=True)
        flat = torch.stack([t for ts in per_tensor for t in ts]).tolist() \
            if self.scalar_names else []
        k = len(self.scalar_names)
        rows = [self.rows[r] for r in self.row_of]
        self._set_rows([row.group for row in rows], [row.fresh for row in rows],
                       [tuple(flat[i * k:(i + 1) * k]) for i in range(len(rows))])
        self.stale = False

    def _versions(self) -> list[int]:
        return list(map(_VERSION, self._scalar_flat))

    def valid(self, state: Mapping[Tensor, dict[str, Any]]) -> bool:
        """Still describes the optimizer's ``state`` (nobody replaced, moved or edited it:
        not ``opt.state`` itself, a parameter's entry, nor a tensor in it)."""
        if not self._same_entries(state):
            return False
        return self._same_held() and self._held_unmoved() and self._versions() == self.versions

    def _same_held(self) -> bool:
        """Each parameter's entry still holds the bucket's tensors (``state[p]["exp_avg"] =
        other`` replaces one): in one native call where it can (:class:`.guards.Entries`),
        else with C-level maps, not a Python loop per tensor."""
        if not self.names:
            return True
        if self._entries_guard is None:
            self._entries_guard = self._native_entries()
        if self._entries_guard:
            return self._entries_guard.same()
        try:
            now = map(self._entries_of, self.states)
            if len(self.names) > 1:
                now = itertools.chain.from_iterable(now)
            return all(map(operator.is_, now, self.held))
        except KeyError:  # an entry lost one of them
            return False

    def _native_entries(self) -> guards.Entries | bool:
        """The native check of :meth:`_same_held`, or False where there is none: the lists
        are not read natively here, there are too few entries for it to pay, or it refuses
        these entries (then the Python reads answer, as everywhere it does not apply)."""
        if not guards.reads_lists() or len(self.states) < guards.NATIVE_FROM:
            return False
        try:
            return guards.Entries(self.states, self.names, self.held)
        except ValueError:
            return False

    def _held_unmoved(self) -> bool:
        """Each held tensor has the address, dtype, shape and strides it had when the bucket
        was built (`state["exp_avg"].data = ...` can change any): by the native check while
        it passes, else by reading them from Python."""
        guard = self._held_guard
        if guard and guard.unchanged():
            return True
        if self._layout() != self.addresses:
            return False
        if guard is not False and isinstance(self.bound, native.Bound):
            # first taken, or a change the Python reads do not see (`requires_grad_()`)
            self._held_guard = guards.snapshot(self.held) or False
        return True

    def _layout(self) -> list[tuple]:
        """The address, dtype, shape and strides of each held tensor (read when they are
        known to be the held ones). Scalar-state tensors that were 0-d when the bucket was
        built are read as address, dtype and ``dim()``: their shape and strides are ``()``
        exactly while ``dim()`` is 0 (one read instead of two, per parameter)."""
        if not self._zero_dim:
            return native.param_layout(self.held)
        return native.param_layout(self._buffers) + native.scalar_layout(self._scalar_flat)

    def _same_entries(self, state: Mapping[Tensor, dict[str, Any]]) -> bool:
        """Each parameter's entry in ``state`` is the dict the bucket holds. Without hashing
        a tensor when ``state`` holds the same keys and values, in the same order, as when
        last found so (no entry was replaced, added or removed since)."""
        keys, values = list(state), list(state.values())
        seen = self._entries
        if seen is not None and len(keys) == len(seen[0]) and \
                all(map(operator.is_, keys, seen[0])) and all(map(operator.is_, values, seen[1])):
            return True
        if not all(map(operator.is_, map(state.get, self.params), self.states)):
            return False
        self._entries = (keys, values)
        return True

    def step(self, plan: backends.Plan, chain: Chain, groups: list[dict[str, Any]],
             grads: list[Tensor | None], check: bool) -> bool:
        """One update of the bucket's parameters with these gradients (one per parameter;
        ``None``: the parameter sits this step out, its state untouched); False (nothing
        written) if ``check`` found a non-finite gradient."""
        step = self.stage(plan, chain, groups, grads)
        if step.on_device is not None and step.bound is None:  # capturable, not on Triton
            ok = not check or backends.all_finite([g for g in step.grads if g is not None])
            if ok:
                capturable.run_eager(plan.foreach, {"param": step.params, "grad": step.grads,
                                                    **self.tensors},
                                     step.on_device, step.call_rows, plan.scalars,
                                     self.scalar_tensors)
                self.versions = self._versions()
        elif step.on_device is not None:
            ok = step.bound(step.grads, step.scalars, step.values, check, step.call_rows,
                            step.partial, step.on_device, owners=step.owners)
        elif step.bound is not None:
            # (only a native kernel's gradients pass the native check: see _bound)
            matched = {"grads_matched": True} if step.grads_matched else {}
            ok = step.bound(step.grads, step.scalars, step.values, check, step.call_rows,
                            step.partial, owners=step.owners, **matched)
        else:
            ops = [self._ops(groups[row.group]) for row in step.rows]
            ok = self._run_by_rows(plan, step.params, step.grads, step.scalars, step.values,
                                   check, step.call_rows, step.owners, ops)
            self.versions = self._versions()
        if ok:
            self.commit(step)
        return ok

    def stage(self, plan: backends.Plan, chain: Chain, groups: list[dict[str, Any]],
              grads: list[Tensor | None]) -> Step:
        """Everything a step needs, computed without changing the bucket: its rows (copies,
        advanced), scalars, new scalar state and the bound kernel that can run it."""
        # Parameters are read afresh: `p.data` may be a new tensor.
        params = self.params
        if self.is_complex:
            params, grads = _real(params), _real(grads)
        partial = _NONE in map(type, grads)
        bound, matched = self._bound(plan, params, grads, partial)
        on_triton = isinstance(bound, tritonkernel.Bound)
        device_side = capturable.device_side([groups[row.group] for row in self.rows],
                                             on_triton)
        if self.stale and not device_side:
            self._reload_rows()
        if partial:
            row_of, rows, call_rows = self._split_rows(grads)
            moving = set(call_rows) - {-1}
        else:
            row_of = call_rows = self.row_of
            rows = [row.copy() for row in self.rows]
            moving = range(len(rows))
        if device_side:
            on_device, kernel_rows = capturable.device_rows(chain, plan.scalars, groups, self,
                                                            grads)
            owners = [rows[r].group if g is not None else -1
                      for r, g in zip(row_of, grads, strict=True)]
            return Step(params, grads, partial, row_of, rows, kernel_rows, moving, [], [],
                        bound if on_triton else None, on_device, owners)
        # Advancing a row's copy: the bucket keeps the old state if the step is refused.
        # (rows with exactly equal inputs share one computation: see .rowscalars)
        shared = self._row_scalars if chain is self.chain else RowScalars(chain)
        scalars = shared.compute(groups, rows, moving, plan.scalars)
        values = [[row.state[n] for n in self.scalar_names] for row in rows]
        owners = self._owners(rows, call_rows)
        return Step(params, grads, partial, row_of, rows, call_rows, moving, scalars, values,
                    bound, owners=owners, grads_matched=matched)

    def _owners(self, rows: list[Row], call_rows: list[int]) -> list[int]:
        """Each parameter's param group in a call with these rows, -1 where it sits out;
        kept for the bucket's own row assignment (a row's group never changes)."""
        kept = self._owners_of
        if kept is not None and kept[0] is call_rows:
            return kept[1]
        owners = [rows[r].group if r >= 0 else -1 for r in call_rows]
        if call_rows is self.row_of:
            self._owners_of = (call_rows, owners)
        return owners

    def commit(self, step: Step, undo: bool = False) -> None:
        """Make ``step``'s advanced rows the bucket's own (the update was applied); with
        ``undo``, keep the old ones for :meth:`revert`."""
        self.undo = (self.row_of, self.rows) if undo else None
        self.stale = self.stale or step.on_device is not None
        for r in step.moving:
            step.rows[r].fresh = False
        self.row_of, self.rows = step.row_of, step.rows
        if step.partial:
            self._merge_rows()

    def revert(self) -> None:
        """Back to the rows before the last :meth:`commit` with ``undo``: the device refused
        that step, so its scalar state did not advance."""
        if self.undo is not None:
            self.row_of, self.rows = self.undo
            self.undo = None

    def _split_rows(self, grads: list[Tensor | None]) -> tuple[list[int], list[Row], list[int]]:
        """Rows for a step that some parameters sit out: a row splits into the parameters
        that step (their scalar state advances) and those that do not (row -1 in the call)."""
        keys: dict[tuple[int, bool], int] = {}
        row_of = [keys.setdefault((r, g is not None), len(keys))
                  for r, g in zip(self.row_of, grads, strict=True)]
        rows = [self.rows[r].copy() for r, _ in keys]
        call_rows = [r if g is not None else -1 for r, g in zip(row_of, grads, strict=True)]
        return row_of, rows, call_rows

    def _merge_rows(self) -> None:
        """One row per param group and scalar state (rows that split may have met again)."""
        keys: dict[tuple, int] = {}
        new = [keys.setdefault((row.group, row.fresh, tuple(row.state.values())), len(keys))
               for row in self.rows]
        if len(keys) < len(self.rows):
            first: dict[int, int] = {}
            for r, n in enumerate(new):
                first.setdefault(n, r)
            self.rows = [self.rows[first[n]] for n in range(len(keys))]
            self.row_of = [new[r] for r in self.row_of]

    def _run_by_rows(self, plan: backends.Plan, params: list[Tensor],
                     grads: list[Tensor | None], scalars: list[dict[str, float]],
                     values: list[list[float]], check: bool, call_rows: list[int],
                     owners: list[int], ops: list[Any]) -> bool:
        """The general path: one backend call per row of scalars (after the reduce phases,
        over all rows: a param group's totals span them), its calls made by ``ops[row]``."""
        tensors = {"param": params, "grad": grads, **self.tensors}
        if len(scalars) == 1 and -1 not in call_rows and not plan.graph.reductions:
            return backends.run(plan, tensors, scalars[0], self.dtype, check=check,
                                store=(self.scalar_tensors, values[0]), ops=ops[0])
        if check and not backends.all_finite([g for g in grads if g is not None]):
            return False
        reduced = backends.reduced_values(plan, tensors, scalars, call_rows, owners) \
            if plan.graph.reductions else None
        for r in sorted(set(call_rows) - {-1}):
            pick = [i for i, row in enumerate(call_rows) if row == r]
            backends.run(plan, {n: [ts[i] for i in pick] for n, ts in tensors.items()},
                         scalars[r], self.dtype, ops=ops[r],
                         store=([[ts[i] for i in pick] for ts in self.scalar_tensors], values[r]),
                         reduced=None if reduced is None else {
                             k: type(v)(v[i] for i in pick) for k, v in reduced.items()})
        return True

    def _ops(self, group: dict[str, Any]) -> Any:
        """What makes the general path's calls for ``group``: per tensor where that is
        torch's default (CPU bfloat16/float16), else torch's foreach ops."""
        return pertensor.OPS if pertensor.wanted(self.device, self.dtype, group) else torch

    def _bound(self, plan: backends.Plan, params: list[Tensor], grads: list[Tensor | None],
               partial: bool) -> tuple[native.Bound | tritonkernel.Bound | None, bool]:
        """The native or Triton kernel bound to this bucket, if it can run this step; and
        whether the gradients passed the native layout check."""
        if self.triton:
            bound = self._bind_triton(plan, params, grads)
        elif self.native and plan.use_native:
            bound = self._bind_native(plan, params, grads)
        else:
            return None, False
        if isinstance(bound, native.Bound):
            fit = self._grads_fit(bound, params, grads, partial)
            return (bound if fit else None), fit == _NATIVELY
        if bound is not None and \
                _grad_layout(grads, bound.grad_layout, partial) == bound.grad_layout:
            return bound, False
        return None, False

    def _grads_fit(self, bound: native.Bound, params: list[Tensor],
                   grads: list[Tensor | None], partial: bool) -> int:
        """Whether ``grads`` are laid out as ``bound`` reads them (0: no): by the native
        check of the layouts last found so while it passes (:data:`_NATIVELY`), else by
        reading them from Python (:data:`_BY_READS`). A parameter sitting the step out
        stands in for its gradient."""
        stand_ins = [p if g is None else g for p, g in zip(params, grads, strict=True)] \
            if partial else grads
        guard = self._grad_guard
        if guard and guard.match(stand_ins):
            return _NATIVELY
        if _grad_layout(grads, bound.grad_layout, partial) != bound.grad_layout:
            return 0
        if guard is not False:
            self._grad_guard = guards.layouts(stand_ins) or False
        return _BY_READS

    def _stand_ins(self, params: list[Tensor], grads: list[Tensor | None]
                   ) -> dict[str, list[Tensor]]:
        # A parameter sitting this step out stands in for its gradient: same layout.
        return {"param": params, "grad": [p if g is None else g
                                          for p, g in zip(params, grads, strict=True)],
                **self.tensors}

    def _bind_native(self, plan: backends.Plan, params: list[Tensor],
                     grads: list[Tensor | None]) -> native.Bound | None:
        bound = self.bound
        if not isinstance(bound, native.Bound) or not self._params_unmoved(bound, params):
            kernel = plan.kernel
            tensors = self._stand_ins(params, grads)
            if kernel is None or not native.eligible(tensors, self.device, self.dtype):
                return None
            bound = self.bound = kernel.bind(tensors, self.dtype, self.scalar_tensors)
            self._param_guard = self._grad_guard = None  # taken again for this binding
        return bound

    def _params_unmoved(self, bound: native.Bound, params: list[Tensor]) -> bool:
        """``params`` have the address, dtype, shape and strides ``bound`` was bound to: by
        the native check while it passes, else by reading them from Python (complex
        parameters, read as real views made anew each step, always so)."""
        guard = self._param_guard
        if guard and params is self.params and guard.unchanged():
            return True
        if native.param_layout(params) != bound.param_layout:
            return False
        if guard is not False and params is self.params:
            self._param_guard = guards.snapshot(params) or False
        return True

    def _bind_triton(self, plan: backends.Plan, params: list[Tensor],
                     grads: list[Tensor | None]) -> tritonkernel.Bound | None:
        bound = self.bound
        if not isinstance(bound, tritonkernel.Bound) or \
                native.param_layout(params) != bound.param_layout:
            tensors = self._stand_ins(params, grads)
            if not tritonkernel.eligible(tensors, self.device, self.scalar_tensors):
                return None
            try:
                bound = tritonkernel.Bound(plan.graph, tensors, self.scalar_tensors)
            except Exception as err:  # Triton cannot compile for this device: say so, go on
                warnings.warn(f"antigrad's Triton kernel for {self.chain!r} on {self.device} "
                              f"failed to build ({type(err).__name__}: {err}); this bucket "
                              f"runs on another backend (foreach on a GPU: same numbers, "
                              f"slower).",
                              RuntimeWarning, stacklevel=6)
                self.triton = False
                return None
            self.bound = bound
        return bound


def _grad_layout(grads: list[Tensor | None], bound: list[tuple], partial: bool) -> list[tuple]:
    """Each gradient's type, dtype, shape and strides read from Python, to compare with a
    bound kernel's ``grad_layout`` (a missing gradient takes the bound value)."""
    if partial:
        return native.grad_layout(grads, bound)
    return [(type(g), g.dtype, g.shape, g.stride()) for g in grads]
