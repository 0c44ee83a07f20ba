r"""The columns of a 1-D convolution over many replicas' signals (im2col), for computing
every replica's convolution, each with its own weights, as one batched product.

Signals are laid out ``(R, channels, length, batch)``: the batch is the innermost axis,
so every copy below moves runs of ``batch`` contiguous numbers, and the product
``weights (R, C_out, C*K) @ columns (R, C*K, L_out*batch)`` gives
``(R, C_out, L_out*batch)``, the next convolution's input as it is, with no copy.

:func:`columns` returns ``(R, C*K, L_out*batch)``: row ``c*K + k`` holds tap ``k`` of
channel ``c``, column ``l*batch + b`` output position ``l`` of example ``b``, the input
at ``stride*l + dilation*k - padding`` (zero where that falls in the padding). It is
made by ``K`` strided copies (no padded copy of the input), and its backward adds the
columns' gradient back in ``K`` strided additions. Autograd's own way (a stack of ``K``
slices) makes ``K`` input-sized gradients and adds them; torch's ``unfold`` (``im2col``)
and grouped convolutions with one group per replica, measured on ``mnist1d-cnn``'s
layers, were slower (``benchmarks/conv_formulations.py``).

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

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["columns", "ConvShape"]


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
        r, rows, n = grad.shape
        out_len = shape.output_length(length)
        per_tap = grad.view(r, rows // shape.kernel, shape.kernel, out_len, n // out_len)
        grad_x = grad.new_zeros(r, rows // shape.kernel, length, n // out_len)
        for k in range(shape.kernel):
            lo, hi, start = shape.tap(k, length)
            if hi > lo:
                grad_x[:, :, start:start + shape.stride * (hi - lo - 1) + 1:shape.stride] += \
                    per_tap[:, :, k, lo:hi]
        return grad_x, None


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
