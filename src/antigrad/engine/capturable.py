"""A step's scalars computed on the device: ``capturable=True`` and tensor hyperparameters.

By default a bucket's scalars (bias corrections, the learning rate, ...) are computed in
Python from a mirror of its scalar state (``step``) and uploaded with the step. A CUDA
graph cannot replay that (it would replay the captured values), and a tensor ``lr`` on
the GPU would have to be read with ``float()``, a wait for the device. So a bucket on
the Triton backend whose param groups ask for ``capturable=True``, or hold a tensor
hyperparameter, computes them on the device instead (:func:`device_rows`): its chain's
own scalar formulas, run with torch ops on the stacked ``step`` tensors (one row per
parameter) and with tensor hyperparameters left as tensors
(:class:`~antigrad.formula.transform.TensorHypers`), in float64 with the scalar state
rounded to its own dtype (the arithmetic of the Python path), written as float64 rows
that the kernel reads, together with the new scalar state it stores. Nothing is read
back and nothing is copied from the host once the gradients' addresses are known, so the
step can be captured in a CUDA graph.

A ``capturable`` bucket that is not on the Triton backend (a GPU without Triton, strided
views) computes the same device rows and runs the eager backend with them, one parameter
at a time (:func:`run_eager`); one on a device torch cannot capture on (the CPU) is
refused as torch refuses it. A tensor ``lr`` without ``capturable`` off the Triton backend
is read on the host, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.optim.optimizer import _get_capturable_supported_devices

from ..formula.transform import Chain, ScalarState, TensorHypers
from . import eager
from .foreach import ForeachPlan

if TYPE_CHECKING:
    from .buckets import Bucket


def on_device(group: Mapping[str, Any]) -> bool:
    """Whether ``group``'s scalars are computed on the device (on the Triton backend):
    it asks for ``capturable=True`` or holds a tensor hyperparameter."""
    if group.get("capturable"):
        return True
    for key, value in group.items():
        if key == "params":
            continue
        if isinstance(value, Tensor) or (
                isinstance(value, (tuple, list)) and any(isinstance(v, Tensor) for v in value)):
            return True
    return False


def device_side(groups: Sequence[Mapping[str, Any]], on_triton: bool) -> bool:
    """Whether a bucket of these param groups computes its scalars on the device: on the
    Triton backend when a group asks (:func:`on_device`); on any other backend only for
    ``capturable=True`` (it then runs on the eager backend, :func:`run_eager`)."""
    if on_triton:
        return any(on_device(g) for g in groups)
    return any(g.get("capturable") for g in groups)


def device_rows(chain: Chain, names: Sequence[str], groups: list[dict[str, Any]],
                bucket: Bucket, grads: Sequence[Tensor | None]) -> tuple[Tensor, list[int]]:
    """This step's scalars (``names``, in order) and new scalar state of ``bucket``'s
    parameters, computed on the device: a float64 tensor of one row of scalars per
    parameter, then one row of new scalar state per parameter; and each parameter's row
    (-1: no gradient, it sits the step out and its state is not written)."""
    blocks: dict[tuple[int, bool], list[int]] = {}
    for i, r in enumerate(bucket.row_of):
        row = bucket.rows[r]
        blocks.setdefault((row.group, row.fresh), []).append(i)
    scalar_parts: list[Tensor] = []
    state_parts: list[Tensor] = []
    position = [0] * len(bucket.row_of)
    done = 0
    for (gi, fresh), members in blocks.items():
        scalars, state = _block(chain, names, groups[gi], bucket, members, fresh)
        scalar_parts.append(scalars)
        state_parts.append(state)
        for k, i in enumerate(members):
            position[i] = done + k
        done += len(members)
    rows = [-1 if g is None else position[i] for i, g in enumerate(grads)]
    flat = torch.cat([torch.cat(scalar_parts).flatten(), torch.cat(state_parts).flatten()])
    return flat, rows


def _block(chain: Chain, names: Sequence[str], group: dict[str, Any], bucket: Bucket,
           members: list[int], fresh: bool) -> tuple[Tensor, Tensor]:
    """The scalar rows and new scalar-state rows of the parameters ``members`` of one
    param group (all fresh or none): the chain's scalar formulas on tensors."""
    kept = bucket.scalar_tensors
    dtype = kept[0][0].dtype if kept else torch.float32
    # In float64, the state rounded to its own dtype: the Python path's arithmetic.
    state = ScalarState({n: torch.stack([ts[i] for i in members]).to(torch.float64)
                         for n, ts in zip(bucket.scalar_names, kept, strict=True)}, dtype)
    scalars = chain.scalars(TensorHypers(group), state, fresh)
    # A column per value (a number, a 0-d tensor or one entry per parameter), float64.
    zero = torch.zeros(len(members), dtype=torch.float64, device=bucket.device)
    columns = [zero + scalars[n] for n in names] or [zero[:, None][:, :0]]
    values = [zero + state[n] for n in bucket.scalar_names] or [zero[:, None][:, :0]]
    return _stack(columns), _stack(values)


def _stack(columns: list[Tensor]) -> Tensor:
    return columns[0] if columns[0].dim() == 2 else torch.stack(columns, dim=1)


def run_eager(plan: ForeachPlan, tensors: dict[str, list[Tensor | None]], flat: Tensor,
              rows: Sequence[int], names: Sequence[str], store: list[list[Tensor]]) -> None:
    """The update of a capturable bucket that is not on the Triton backend (a GPU without
    Triton, strided views): one parameter at a time on the eager backend, whose ops take
    the scalars as 0-d device tensors (rows of ``flat``, see :func:`device_rows`), then
    the outputs and the new scalar state copied in place. Slower than a kernel (a few
    launches per parameter), but nothing is read on the host: it can be captured."""
    nt, ns, nq = len(rows), len(names), len(store)
    scalars, values = flat[:nt * ns].view(nt, ns), flat[nt * ns:].view(nt, nq)
    for i, r in enumerate(rows):
        if r < 0:
            continue
        one = {n: ts[i] for n, ts in tensors.items()}
        out = eager.run(plan, one, {n: scalars[r, k] for k, n in enumerate(names)})
        for name, value in out.items():
            if value is not one[name]:
                one[name].copy_(value)
        for q, ts in enumerate(store):
            ts[i].copy_(values[r, q])


def check_devices(buckets: list[Bucket], groups: list[dict[str, Any]]) -> None:
    """Refuse ``capturable=True`` for parameters on a device torch cannot capture on,
    unless their bucket runs on the Triton backend (its interpreter on the CPU): the
    AssertionError torch raises at the step, with its message."""
    for bucket in buckets:
        if bucket.triton or not any(groups[r.group].get("capturable") for r in bucket.rows):
            continue
        supported = _get_capturable_supported_devices()
        if bucket.device.type not in supported:
            raise AssertionError(f"If capturable=True, params and state_steps must be on "
                                 f"supported devices: {supported}.")


def check_capture(groups: list[dict[str, Any]], nonfinite: str) -> None:
    """While a CUDA graph is being captured, refuse a step that could not be replayed:
    a param group without ``capturable=True`` (as torch), a non-finite check (its verdict
    is read on the host)."""
    if not torch.cuda.is_initialized() or not torch.cuda.is_current_stream_capturing():
        return
    if not all(g.get("capturable") for g in groups):
        raise RuntimeError("Attempting CUDA graph capture of step() for an optimizer whose "
                           "param groups' capturable is False.")
    if nonfinite != "ignore":
        raise RuntimeError(f"CUDA graph capture of step() with nonfinite={nonfinite!r}: the "
                           f"verdict of the non-finite check is read on the host; pass "
                           f"nonfinite='ignore' (torch.optim's behaviour) to capture.")
