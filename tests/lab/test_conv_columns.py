"""The columns of a 1-D convolution: what torch's convolution multiplies, and their
gradients (first and second) exact."""

import itertools

import pytest
import torch
from torch.nn import functional as F  # noqa: N812

from antigrad.lab.conv_columns import ConvShape, _scatter_taps, columns

SHAPES = [ConvShape(5, 2, 2, 1), ConvShape(3, 1, 0, 1), ConvShape(4, 3, 1, 1),
          ConvShape(3, 1, 4, 1), ConvShape(3, 1, 2, 3), ConvShape(2, 2, 1, 2),
          ConvShape(1, 1, 0, 1)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_weights_times_columns_is_the_convolution(shape):
    torch.manual_seed(0)
    r, c, length, batch, c_out = 2, 3, 10, 4, 5
    x = torch.randn(r, c, length, batch, dtype=torch.float64)
    w = torch.randn(r, c_out, c, shape.kernel, dtype=torch.float64)
    out = torch.bmm(w.reshape(r, c_out, -1), columns(x, **vars(shape)))
    out_len = shape.output_length(length)
    assert out.shape == (r, c_out, out_len * batch)
    for i in range(r):
        want = F.conv1d(x[i].permute(2, 0, 1), w[i], None, shape.stride, shape.padding,
                        shape.dilation)  # (batch, c_out, out_len)
        got = out[i].view(c_out, out_len, batch).permute(2, 0, 1)
        assert torch.allclose(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_first_and_second_gradients(shape):
    x = torch.randn(2, 2, 9, 3, dtype=torch.float64, requires_grad=True)

    def fn(t):
        return columns(t, **vars(shape))

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_a_strided_input_gives_the_columns_of_its_values():
    x = torch.randn(2, 5, 3, 12).permute(0, 3, 2, 1)  # (R, 12 channels, 3 length, 5 batch)
    assert torch.equal(columns(x, 3, 1, 1, 1), columns(x.contiguous(), 3, 1, 1, 1))


def test_bad_signals_are_refused():
    with pytest.raises(ValueError, match="needs \\(R, channels, length, batch\\)"):
        columns(torch.zeros(2, 3, 4), 3, 1, 0, 1)
    with pytest.raises(ValueError, match="shorter than the convolution's window"):
        columns(torch.zeros(1, 1, 4, 1), 3, 1, 0, 3)


def _windows():
    for kernel, stride, padding, dilation, length in itertools.product(
            [1, 2, 3, 5], [1, 2, 3, 4], [0, 1, 2, 4], [1, 2, 3], [1, 3, 7, 10, 20]):
        shape = ConvShape(kernel, stride, padding, dilation)
        if shape.output_length(length) >= 1:
            yield shape, length


def test_the_backward_sums_the_taps_as_added_one_by_one_into_zeros():
    """The first backward writes each input position once; its sums are those of the taps
    added in order into a zeroed gradient (what a double backward computes): equal bit for
    bit, positions no tap reads (a stride longer than the window) zero."""
    torch.manual_seed(0)
    checked = 0
    for shape, length in _windows():
        x = torch.randn(2, 3, length, 4, dtype=torch.float64, requires_grad=True)
        cols = columns(x, **vars(shape))
        grad = torch.randn_like(cols)
        cols.backward(grad)
        assert torch.equal(x.grad, _scatter_taps(grad, shape, length)), (shape, length)
        checked += 1
    assert checked > 500


def test_a_stride_longer_than_the_window_leaves_zeros():
    x = torch.randn(1, 2, 9, 3, requires_grad=True)
    columns(x, 2, 4, 0, 1).sum().backward()  # reads positions 0, 1, 4, 5, 8
    want = torch.zeros(9)
    want[[0, 1, 4, 5]] = 1.0
    assert torch.equal(x.grad[0, 1, :, 2], want)


def test_float32_backward_of_odd_sizes_matches_torch_convolution():
    torch.manual_seed(1)
    shape, r, c, length, batch, c_out = ConvShape(5, 2, 2, 1), 3, 7, 13, 5, 4
    x = torch.randn(r, c, length, batch, requires_grad=True)
    w = torch.randn(r, c_out, c, shape.kernel)
    out = torch.bmm(w.reshape(r, c_out, -1), columns(x, **vars(shape)))
    grad = torch.randn_like(out)
    out.backward(grad)
    out_len = shape.output_length(length)
    for i in range(r):
        xi = x[i].detach().permute(2, 0, 1).requires_grad_()
        yi = F.conv1d(xi, w[i], None, shape.stride, shape.padding, shape.dilation)
        yi.backward(grad[i].view(c_out, out_len, batch).permute(2, 0, 1))
        assert torch.allclose(x.grad[i], xi.grad.permute(1, 2, 0), rtol=1e-5, atol=1e-5)
