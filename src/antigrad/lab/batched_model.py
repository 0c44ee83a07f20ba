r"""R copies of one model computed as one batched model, without ``vmap``, when the model
is made of common layers.

:func:`batched_forward` reads a model's layers once and returns a function
``forward(weights, x)``: ``weights[name]`` are the model's parameters stacked with a
leading replica axis (``torch.func.stack_module_state``), ``x`` is ``(R, batch, ...)``
(replica ``r``'s inputs in row ``r``), and the result is ``(R, batch, ...)``, replica
``r``'s output in row ``r``: what ``vmap`` of ``functional_call`` computes, with one
operation per layer for all replicas:

- ``nn.Linear``: one ``baddbmm`` over the stacked weights (bias added in the product),
  computing the transposed output ``W x^T``, kept in that layout for the next layer;
- ``nn.Conv1d`` (zero padding given as numbers, ``groups=1``; any stride, dilation, with
  or without bias): the input's columns (:mod:`~antigrad.lab.conv_columns`) and one
  ``baddbmm`` with the weights as ``(R, C_out, C_in * K)``. The activations stay laid
  out ``(R, channels, length, batch)``, the product's output as it comes, so no layout
  copy is made from one convolution to the next, nor to a linear layer after
  ``nn.Flatten``, which reads them as ``(R, channels * length, batch)``: its ``W x^T``.
  Without gradients (an evaluation) a slice of the batch at a time, so that the columns
  are no larger than the convolution's input;
- elementwise activations (``nn.ReLU``, ``nn.Tanh``, ``nn.GELU``...) in either layout;
  ``nn.ReLU``, ``nn.ReLU6``, ``nn.Tanh`` and ``nn.Sigmoid`` right after a linear layer or
  a convolution are computed in place in the product's output (a fresh tensor that the
  product's backward does not read: it needs the factors, and the activation's backward
  needs only its own output), so no second tensor of that size is allocated, filled and
  freed each step; after anything else, or after another activation, out of place;
  ``nn.Flatten()`` (its default dims) and :class:`~antigrad.problems.models.AddChannel`
  as reshapes that keep the replica axis first;
- ``nn.Sequential`` of these, nested or not.

Any other module (a custom ``forward``, a subclass of a supported layer, a module with
hooks or buffers: batch norm, dropout, recurrent layers) makes :func:`batched_forward`
return ``None``, and the caller uses ``vmap``. Only the exact types are recognized: a
subclass may compute something else.

Example::

    >>> import torch
    >>> from torch.func import stack_module_state
    >>> from antigrad.lab.batched_model import batched_forward
    >>> from antigrad.problems import models
    >>> nets = [models.mlp(4, [8], 3) for _ in range(5)]
    >>> weights, _ = stack_module_state(nets)
    >>> x = torch.randn(5, 16, 4)
    >>> out = batched_forward(nets[0])(weights, x)
    >>> out.shape, torch.allclose(out[2], nets[2](x[2]), atol=1e-6)
    (torch.Size([5, 16, 3]), True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..problems.models import AddChannel
from .conv_columns import ConvShape, columns

__all__ = ["batched_forward", "BatchedForward", "Activation", "ELEMENTWISE"]

#: Parameter-free layers that act on every entry alone: the same in any layout.
ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
    nn.Softplus, nn.Identity)

Weights = Mapping[str, Tensor]
#: An activation computed in place: ``f(t)`` overwrites ``t`` and returns it.
InPlace = Callable[[Tensor], Tensor]


ROWS, SIGNALS, FEATURES = "rows", "signals", "features"


@dataclass
class Activation:
    """An activation of all replicas, laid out as the layer that made it computes best:
    ``rows``, ``(R, batch, ...)``; ``signals`` (after a convolution),
    ``(R, channels, length, batch)``; ``features`` (after a linear layer),
    ``(R, features, n)`` with ``n`` the product of ``lead``, the rows' inner dims."""

    value: Tensor
    replicas: int
    layout: str = ROWS
    lead: tuple[int, ...] = ()

    def rows(self) -> Tensor:
        if self.layout == SIGNALS:
            return self.value.permute(0, 3, 1, 2)
        if self.layout == FEATURES:
            return self.value.transpose(1, 2).reshape(self.replicas, *self.lead,
                                                      self.value.shape[1])
        return self.value

    def features(self) -> Tensor:
        """``(R, features, n)``: what a linear layer multiplies by its weights."""
        if self.layout == FEATURES:
            return self.value
        x = self.rows()
        return x.reshape(self.replicas, -1, x.shape[-1]).transpose(1, 2)

    def signals(self) -> Tensor:
        """``(R, channels, length, batch)``: what a convolution reads."""
        if self.layout == SIGNALS:
            return self.value
        x = self.rows()
        if x.dim() != 4:
            raise ValueError(f"Invalid input of a batched Conv1d: shape {tuple(x.shape)} "
                             f"(needs (R, batch, channels, length))")
        return x.permute(0, 2, 3, 1)

    def inner(self) -> tuple[int, ...]:
        """The rows' dims between the replica axis and the last one."""
        return self.lead if self.layout == FEATURES else tuple(self.rows().shape[1:-1])


Layer = Callable[[Weights, Activation], Activation]


def _linear(prefix: str, layer: nn.Linear, activation: InPlace | None) -> Layer:
    weight, bias = prefix + "weight", (prefix + "bias") if layer.bias is not None else None

    def run(w: Weights, act: Activation) -> Activation:
        # out^T = W x^T: the weight is the left factor as stored, so its gradient comes
        # out of autograd contiguous (no copy into the weight's layout) and the product's
        # wide side is the batch, not the (often few) outputs
        x = act.features()
        out = _product(w[weight], None if bias is None else w[bias].unsqueeze(2), x)
        return Activation(_activate(out, activation), act.replicas, FEATURES, act.inner())

    return run


def _product(weights: Tensor, bias: Tensor | None, cols: Tensor) -> Tensor:
    return torch.bmm(weights, cols) if bias is None else torch.baddbmm(bias, weights, cols)


def _activate(out: Tensor, activation: InPlace | None) -> Tensor:
    """The activation after a product, computed in the product's output: a fresh tensor
    that the product's backward does not read (it needs the factors, not the result), so
    no second tensor of that size is made."""
    return out if activation is None else activation(out)


def _convolve_in_slices(x: Tensor, weights: Tensor, bias: Tensor | None,
                        shape: ConvShape, activation: InPlace | None) -> Tensor:
    """The convolution without gradients, a slice of the batch at a time, so that its
    columns are no larger than its input: an evaluation's whole test set at once would
    make ``kernel / stride`` times the input (26 MB for 8 replicas of ``mnist1d-cnn``)."""
    r, _, length, batch = x.shape
    out_len = shape.output_length(length)
    step = max(1, batch * length // max(1, shape.kernel * out_len))
    if step >= batch:
        return _activate(_product(weights, bias, columns(x, **vars(shape))),
                         activation).view(r, -1, out_len, batch)
    out = x.new_empty(r, weights.shape[1], out_len, batch)
    for start in range(0, batch, step):
        part = x[..., start:start + step]
        out[..., start:start + step] = _activate(
            _product(weights, bias, columns(part, **vars(shape))), activation
        ).view(r, -1, out_len, part.shape[3])
    return out


def _conv1d(prefix: str, layer: nn.Conv1d, activation: InPlace | None) -> Layer | None:
    if layer.padding_mode != "zeros" or layer.groups != 1 or isinstance(layer.padding, str):
        return None
    weight, bias = prefix + "weight", (prefix + "bias") if layer.bias is not None else None
    (kernel,), (stride,), (padding,), (dilation,) = (
        layer.kernel_size, layer.stride, layer.padding, layer.dilation)
    shape = ConvShape(kernel, stride, padding, dilation)

    def run(w: Weights, act: Activation) -> Activation:
        x = act.signals()
        stacked = w[weight].reshape(act.replicas, layer.out_channels, -1)
        b = None if bias is None else w[bias].unsqueeze(2)
        tensors = (x, stacked) if b is None else (x, stacked, b)
        if not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)):
            out = _convolve_in_slices(x, stacked, b, shape, activation)
        else:  # the backward pass keeps the columns: all of them at once
            out = _activate(_product(stacked, b, columns(x, **vars(shape))), activation) \
                .view(act.replicas, layer.out_channels, -1, x.shape[3])
        return Activation(out, act.replicas, SIGNALS)

    return run


def _flatten(act: Activation) -> Activation:
    if act.layout == SIGNALS:  # (R, C, L, batch) is (R, C * L, batch) in torch's order
        r, c, length, batch = act.value.shape
        return Activation(act.value.reshape(r, c * length, batch), r, FEATURES, (batch,))
    return Activation(act.rows().flatten(2), act.replicas)


def _add_channel(act: Activation) -> Activation:
    return Activation(act.rows().unsqueeze(2), act.replicas)


def _elementwise(layer: nn.Module) -> Layer:
    return lambda w, act: Activation(layer(act.value), act.replicas, act.layout, act.lead)


def _plain(module: nn.Module) -> bool:
    """No hooks that a batched computation would skip."""
    return not (module._forward_hooks or module._forward_pre_hooks
                or module._backward_hooks or module._backward_pre_hooks)


def _leaves(prefix: str, module: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """``module``'s layers in order, nested ``nn.Sequential`` opened (each with the prefix
    of its parameters' names), or None if a module has hooks or buffers."""
    if not _plain(module) or any(True for _ in module.buffers(recurse=False)):
        return None
    if type(module) is not nn.Sequential:
        return [(prefix, module)]
    leaves: list[tuple[str, nn.Module]] = []
    for name, child in module.named_children():
        inner = _leaves(f"{prefix}{name}.", child)
        if inner is None:
            return None
        leaves += inner
    return leaves


def _in_place(module: nn.Module | None) -> InPlace | None:
    """``module``'s computation in its input's memory, if it is an activation whose
    backward reads its output only (then a product's fresh output may hold it)."""
    apply = _IN_PLACE.get(type(module))
    return None if apply is None else (lambda t: apply(module, t))


_IN_PLACE: dict[type[nn.Module], Callable[[nn.Module, Tensor], Tensor]] = {
    nn.ReLU: lambda m, t: t.relu_(),
    nn.ReLU6: lambda m, t: nn.functional.relu6(t, inplace=True),
    nn.Tanh: lambda m, t: t.tanh_(),
    nn.Sigmoid: lambda m, t: t.sigmoid_(),
}


def _layer(prefix: str, module: nn.Module, after: nn.Module | None) -> tuple[Layer, int] | None:
    """``module``'s batched layer (its parameters named under ``prefix``) and how many
    modules it computes: 2 when it is a product that computes ``after``, the activation
    that follows it, in its own output; None if ``module`` is not supported."""
    kind = type(module)
    activation = _in_place(after) if kind in (nn.Linear, nn.Conv1d) else None
    taken = 1 if activation is None else 2
    if kind is nn.Linear:
        return _linear(prefix, module, activation), taken
    if kind is nn.Conv1d:
        conv = _conv1d(prefix, module, activation)
        return None if conv is None else (conv, taken)
    if kind is nn.Flatten:
        default = module.start_dim == 1 and module.end_dim == -1
        return ((lambda w, act: _flatten(act)), 1) if default else None
    if kind is AddChannel:
        return (lambda w, act: _add_channel(act)), 1
    if kind in ELEMENTWISE:
        return _elementwise(module), 1
    return None


def _layers(model: nn.Module) -> list[Layer] | None:
    """``model``'s batched layers, or None if one of them is not supported."""
    leaves = _leaves("", model)
    if leaves is None:
        return None
    layers: list[Layer] = []
    i = 0
    while i < len(leaves):
        prefix, module = leaves[i]
        after = leaves[i + 1][1] if i + 1 < len(leaves) else None
        made = _layer(prefix, module, after)
        if made is None:
            return None
        layers.append(made[0])
        i += made[1]
    return layers


class BatchedForward:
    """``forward(weights, x)``: every replica's output, one operation per layer (see the
    module doc)."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers

    def __call__(self, weights: Weights, x: Tensor) -> Tensor:
        return self.activation(weights, x).rows()

    def activation(self, weights: Weights, x: Tensor) -> Activation:
        """Every replica's output as the last layer lays it out: ``.rows()`` is what the
        call returns, ``.features()`` its transpose ``(R, outputs, n)``, for a last linear
        layer its result as it comes, with no copy."""
        act = Activation(x, x.shape[0])
        for layer in self.layers:
            act = layer(weights, act)
        return act


def batched_forward(model: nn.Module) -> BatchedForward | None:
    """The batched forward of ``model``'s replicas, or ``None`` if a layer is not one of
    the supported kinds (then ``vmap`` of ``functional_call`` is the way)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"Invalid model: {model!r} (must be a torch.nn.Module)")
    layers = _layers(model)
    return None if layers is None else BatchedForward(layers)
