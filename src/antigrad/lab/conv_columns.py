r"""The columns of a 1-D convolution over many replicas' signals (im2col), for computing
every replica's convolution, each with its own weights, as one batched product.

Signals are laid out ``(R, channels, length, batch)``: the batch is the innermost axis,
so every copy below moves runs of ``batch`` contiguous numbers, and the product
``weights (R, C_out, C*K) @ columns (R, C*K, L_out*batch)`` gives
``(R, C_out, L_out*batch)``, the next convolution's input as it is, with no copy.

:func:`columns` returns ``(R, C*K, L_out*batch)``: row ``c*K + k`` holds tap ``k`` of
channel ``c``, column ``l*batch + b`` output position ``l`` of example ``b``, the input
at ``stride*l + dilation*k - padding`` (zero where that falls in the padding). It is
made by ``K`` strided copies (no padded copy of the input). Its backward writes each
input position once: the positions that the same taps read form runs, and a run gets the
sum of those taps' gradients in one pass (``add(tap1, tap2, out=run)``, then ``+= tap3``),
the same sums in the same order as ``K`` strided additions into zeros, without their fill
and their repeated passes over the input gradient; a double backward (which needs the
backward differentiable, and ``out=`` is not) takes those ``K`` additions. Autograd's own
way (a stack of ``K`` slices) makes ``K`` input-sized gradients and adds them; torch's
``unfold`` (``im2col``) and grouped convolutions with one group per replica, measured on
``mnist1d-cnn``'s layers, were slower (``benchmarks/conv_formulations.py``).

Example::

    >>> import torch
    >>> from antigrad.lab.conv_columns import columns
    >>> x = torch.arange(6.0).reshape(1, 1, 6, 1)  # one replica, channel, example
    >>> columns(x, kernel=3, stride=2, padding=1, dilation=1).reshape(3, 3)
    tensor([[0., 1., 3.],
            [0., 2., 4.],
            [1., 3., 5.]])
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["columns", "ConvShape"]

#: Input positions ``lo <= j < hi`` of one residue and the taps that read them, each
#: with the output position it reads at ``lo``.
Run = tuple[int, int, list[tuple[int, int]]]


@dataclass(frozen=True)
class ConvShape:
    """A convolution's window: ``kernel`` taps ``dilation`` apart, moved by ``stride``,
    over the input with ``padding`` zeros at each end."""

    kernel: int
    stride: int
    padding: int
    dilation: int

    def output_length(self, length: int) -> int:
        """The output length for a ``length`` input (torch's formula)."""
        return (length + 2 * self.padding - self.dilation * (self.kernel - 1) - 1) \
            // self.stride + 1

    def tap(self, k: int, length: int) -> tuple[int, int, int]:
        """``(lo, hi, start)``: tap ``k`` of outputs ``lo <= l < hi`` reads the input
        at ``start + stride * (l - lo)``; the other outputs' tap ``k`` is padding."""
        offset = self.dilation * k - self.padding  # input read by output 0
        lo = max(0, -(offset // self.stride))  # the first l with stride*l + offset >= 0
        hi = min(self.output_length(length), (length - 1 - offset) // self.stride + 1)
        return lo, max(lo, hi), self.stride * lo + offset


class _Columns(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, shape: ConvShape) -> Tensor:
        r, c, length, batch = x.shape
        out_len = shape.output_length(length)
        cols = x.new_empty(r, c, shape.kernel, out_len, batch)
        for k in range(shape.kernel):
            lo, hi, start = shape.tap(k, length)
            cols[:, :, k, :lo] = 0
            cols[:, :, k, hi:] = 0
            if hi > lo:
                cols[:, :, k, lo:hi] = x[:, :, start:start + shape.stride * (hi - lo - 1) + 1
                                         :shape.stride]
        ctx.shape, ctx.length = shape, length
        return cols.view(r, c * shape.kernel, out_len * batch)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        shape, length = ctx.shape, ctx.length
        if torch.is_grad_enabled():  # a double backward: out= writes are not differentiable
            return _scatter_taps(grad, shape, length), None
        return _gather_taps(grad, shape, length), None


def _scatter_taps(grad: Tensor, shape: ConvShape, length: int) -> Tensor:
    """The columns' gradient added back tap by tap into a zeroed input gradient."""
    r, rows, n = grad.shape
    out_len = shape.output_length(length)
    per_tap = grad.view(r, rows // shape.kernel, shape.kernel, out_len, n // out_len)
    grad_x = grad.new_zeros(r, rows // shape.kernel, length, n // out_len)
    for k in range(shape.kernel):
        lo, hi, start = shape.tap(k, length)
        if hi > lo:
            grad_x[:, :, start:start + shape.stride * (hi - lo - 1) + 1:shape.stride] += \
                per_tap[:, :, k, lo:hi]
    return grad_x


def _runs(shape: ConvShape, length: int, residue: int) -> list[Run]:
    """The input positions ``residue + stride * j`` cut into runs ``lo <= j < hi`` that
    the same taps (in order) read: ``(lo, hi, [(tap, output position read at lo)...])``."""
    count = len(range(residue, length, shape.stride))
    reads: dict[int, tuple[int, int, int]] = {}  # tap -> its j range, its first output
    for k in range(shape.kernel):
        lo, hi, start = shape.tap(k, length)
        if hi > lo and start % shape.stride == residue:
            first = start // shape.stride
            reads[k] = (first, first + hi - lo, lo)
    cuts = sorted({0, count, *(j for a, b, _ in reads.values() for j in (a, b))})
    return [(lo, hi, [(k, out + lo - a) for k, (a, b, out) in reads.items()
                      if a <= lo and hi <= b])
            for lo, hi in itertools.pairwise(cuts)]


def _gather_taps(grad: Tensor, shape: ConvShape, length: int) -> Tensor:
    """The input gradient written once per position: a run of positions read by taps
    ``k1 < k2 < ...`` gets ``tap1 + tap2`` in one ``add(out=)``, then ``+= tap3``...
    (a run no tap reads, zeros; one tap, a copy): the sums of :func:`_scatter_taps` in the
    same order, so the same numbers, without its zero fill and with one pass less over
    the input gradient per run (``benchmarks/conv_columns_backward.py``)."""
    r, rows, n = grad.shape
    out_len = shape.output_length(length)
    per_tap = grad.view(r, rows // shape.kernel, shape.kernel, out_len, n // out_len)
    grad_x = grad.new_empty(r, rows // shape.kernel, length, n // out_len)
    for residue in range(min(shape.stride, length)):
        target = grad_x[:, :, residue::shape.stride]
        for lo, hi, taps in _runs(shape, length, residue):
            _sum_taps(target[:, :, lo:hi], per_tap, taps)
    return grad_x


def _sum_taps(out: Tensor, per_tap: Tensor, taps: list[tuple[int, int]]) -> None:
    """``out`` = the sum of ``per_tap[:, :, k, first:first + len]`` over the taps
    ``(k, first)``, in order."""
    size = out.shape[2]
    parts = [per_tap[:, :, k, first:first + size] for k, first in taps]
    if not parts:
        out.zero_()
    elif len(parts) == 1:
        out.copy_(parts[0])
    else:
        torch.add(parts[0], parts[1], out=out)
        for part in parts[2:]:
            out += part


def columns(x: Tensor, kernel: int, stride: int, padding: int, dilation: int) -> Tensor:
    """``x`` ``(R, C, L, batch)`` -> its columns ``(R, C*kernel, L_out*batch)`` (see the
    module doc); differentiable, twice too."""
    if x.dim() != 4:
        raise ValueError(f"Invalid signals: shape {tuple(x.shape)} "
                         f"(needs (R, channels, length, batch))")
    shape = ConvShape(kernel, stride, padding, dilation)
    if shape.output_length(x.shape[2]) < 1:
        raise ValueError(f"Invalid signals: length {x.shape[2]} is shorter than the "
                         f"convolution's window ({dilation * (kernel - 1) + 1} with "
                         f"padding {padding} at each end)")
    return _Columns.apply(x, shape)
