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

Other buckets keep the Python path: a ``capturable`` parameter on a device torch cannot
capture on (the CPU) is refused as torch refuses it, and one on a GPU bucket that is not
on the Triton backend steps correctly but cannot be captured (:func:`check_capture`
says so when a capture is attempted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.optim.optimizer import _get_capturable_supported_devices

from ..formula.transform import Chain, ScalarState, TensorHypers

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


def check_capture(groups: list[dict[str, Any]], nonfinite: str,
                  buckets: list[Bucket] | None) -> None:
    """While a CUDA graph is being captured, refuse a step that could not be replayed:
    a param group without ``capturable=True`` (as torch), a non-finite check (its verdict
    is read on the host), a bucket that is not on the Triton backend."""
    if not torch.cuda.is_initialized() or not torch.cuda.is_current_stream_capturing():
        return
    if not all(g.get("capturable") for g in groups):
        raise RuntimeError("Attempting CUDA graph capture of step() for an optimizer whose "
                           "param groups' capturable is False.")
    if nonfinite != "ignore":
        raise RuntimeError(f"CUDA graph capture of step() with nonfinite={nonfinite!r}: the "
                           f"verdict of the non-finite check is read on the host; pass "
                           f"nonfinite='ignore' (torch.optim's behaviour) to capture.")
    if buckets is not None and not all(b.triton for b in buckets):
        raise RuntimeError("CUDA graph capture of step(): some parameters are not on the "
                           "Triton backend (is Triton installed? are they strided views or "
                           "tensor subclasses?), and their step reads values on the host.")
