"""The foreach backend's calls, run one tensor at a time: torch's for-loop arithmetic.

torch.optim has two paths on the CPU: ``foreach=True`` issues ``torch._foreach_*`` calls
over tensor lists; its default (``foreach=None`` or ``False`` there) loops over the
parameters with the per-tensor ops (``buf.mul_(0.9)``, ``p.add_(g, alpha=-lr)``). For
float32/float64 the two agree, but in bfloat16/float16 a per-tensor op on the CPU does
not round as its foreach counterpart (``buf.mul_(0.9)`` in bfloat16 is not
``torch._foreach_mul_([buf], 0.9)``). :data:`OPS` stands in for ``torch`` in
:func:`antigrad.engine.foreach.run`: each ``_foreach_<op>`` call it receives becomes a
loop of ``<op>`` over the lists, with list arguments (tensors or one scalar per tensor)
taken element by element, so the foreach plan's op sequence runs as torch's for-loop
path runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

PREFIX = "_foreach_"
# Ops without an in-place Tensor method: written into their first operand with ``out=``.
_WITH_OUT = ("maximum", "minimum")


def _nth(arg: Any, i: int) -> Any:
    """The argument for tensor ``i``: a list or tuple holds one per tensor, else shared."""
    return arg[i] if isinstance(arg, (list, tuple)) else arg


def _loop(op: str, inplace: bool) -> Callable[..., Any]:
    if inplace and op in _WITH_OUT:
        per_tensor = getattr(torch, op)

        def call(xs: list, *args: Any, **kw: Any) -> None:
            for i, x in enumerate(xs):
                per_tensor(x, *(_nth(a, i) for a in args), **kw, out=x)
    elif inplace:
        def call(xs: list, *args: Any, **kw: Any) -> None:
            for i, x in enumerate(xs):
                getattr(x, op + "_")(*(_nth(a, i) for a in args), **kw)
    else:
        per_tensor = getattr(torch, op)

        def call(xs: list, *args: Any, **kw: Any) -> list:
            return [per_tensor(x, *(_nth(a, i) for a in args), **kw) for i, x in enumerate(xs)]
    return call


class PerTensorOps:
    """A stand-in for ``torch`` whose ``_foreach_<op>`` and ``_foreach_<op>_`` attributes
    loop over the tensors with ``torch.<op>`` and ``Tensor.<op>_``."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if not name.startswith(PREFIX):
            raise AttributeError(name)
        op = name[len(PREFIX):]
        inplace = op.endswith("_")
        call = _loop(op.rstrip("_"), inplace)
        setattr(self, name, call)  # built once per op
        return call


OPS = PerTensorOps()
LOW_PRECISION = (torch.bfloat16, torch.float16)


def wanted(device: torch.device, dtype: torch.dtype, group: dict[str, Any]) -> bool:
    """Whether a bucket runs per tensor, as torch.optim's default does for it: CPU
    bfloat16/float16 tensors, unless the param group asks for ``foreach=True``."""
    return device.type == "cpu" and dtype in LOW_PRECISION and group.get("foreach") is not True
