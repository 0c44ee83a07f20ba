"""The batched module: R models' outputs in one pass, as each model computes alone."""

import pytest
import torch
from torch import nn
from torch.func import stack_module_state

from antigrad.lab.batched_model import batched_forward
from antigrad.problems import models


def _check(make, x_shape, dtype=torch.float64):
    torch.manual_seed(3)
    nets = [make().to(dtype) for _ in range(4)]
    weights, _ = stack_module_state(nets)
    x = torch.randn(4, *x_shape, dtype=dtype)
    forward = batched_forward(nets[0])
    assert forward is not None
    out = forward(weights, x)
    want = torch.stack([net(xr) for net, xr in zip(nets, x, strict=True)])
    assert out.shape == want.shape
    return float((out - want).abs().max().detach() / want.abs().max().detach())


@pytest.mark.parametrize("make, x_shape", [
    (lambda: models.mlp(7, [9, 5], 3), (6, 7)),
    (lambda: nn.Sequential(nn.Linear(7, 4, bias=False), nn.Tanh(), nn.Linear(4, 2)), (6, 7)),
    (lambda: models.cnn1d(16, 3, channels=4), (6, 16)),
    (lambda: models.conv_classifier(40, 10, channels=5), (3, 40)),
    (lambda: nn.Sequential(models.AddChannel(), nn.Conv1d(1, 3, 3, bias=False, dilation=2),
                           nn.GELU(), nn.Linear(6, 2)), (5, 10)),  # a linear on the length
])
def test_outputs_equal_each_model_alone(make, x_shape):
    assert _check(make, x_shape) < 1e-14
    assert _check(make, x_shape, torch.float32) < 1e-5


@pytest.mark.parametrize("make", [
    lambda: models.mlp(7, [9, 5], 3),
    lambda: nn.Sequential(nn.Linear(7, 6), nn.ReLU6(), nn.Tanh(), nn.Linear(6, 4),
                          nn.Sigmoid(), nn.ReLU(), nn.Linear(4, 2)),  # two in a row
    lambda: nn.Sequential(models.AddChannel(), nn.Conv1d(1, 3, 3), nn.ReLU(),
                          nn.Conv1d(3, 2, 3, stride=2), nn.Tanh(), nn.Flatten(),
                          nn.Linear(4, 2)),
    lambda: nn.Sequential(nn.Linear(7, 4), nn.ReLU(), nn.Linear(4, 3), nn.Tanh()),  # last
])
def test_activations_after_products_keep_every_gradient(make):
    """An activation that follows a product is computed in the product's output; the
    gradients of the weights and the input are each model's own (float64)."""
    torch.manual_seed(11)
    nets = [make().double() for _ in range(3)]
    weights, _ = stack_module_state(nets)
    x = torch.randn(3, 5, 7, dtype=torch.float64, requires_grad=True)
    out = batched_forward(nets[0])(weights, x)
    want = torch.stack([net(xr) for net, xr in zip(nets, x, strict=True)])
    assert torch.allclose(out, want, rtol=1e-13, atol=1e-15)
    probe = torch.randn_like(want)
    kept = probe.clone()
    got = torch.autograd.grad(out, [x, *weights.values()], probe)
    assert torch.equal(probe, kept)  # the caller's gradient is never written
    expected = torch.autograd.grad(want, [x, *[p for net in nets for p in net.parameters()]],
                                   probe)
    assert torch.allclose(got[0], expected[0], rtol=1e-12, atol=1e-14)
    per_model = [torch.stack(expected[1 + k::len(weights)]) for k in range(len(weights))]
    for g, e in zip(got[1:], per_model, strict=True):
        assert torch.allclose(g, e, rtol=1e-12, atol=1e-14)


def test_a_relu_after_a_product_is_computed_in_the_product_s_output(monkeypatch):
    """No second tensor of the product's size: the product's own output holds the ReLU."""
    products: list = []
    real = torch.baddbmm
    monkeypatch.setattr(torch, "baddbmm", lambda *a: products.append(real(*a)) or products[-1])
    nets = [models.mlp(4, [6], 2) for _ in range(2)]
    weights, _ = stack_module_state(nets)
    batched_forward(nets[0])(weights, torch.randn(2, 9, 4))
    hidden, logits = products
    assert (hidden >= 0).all() and (hidden == 0).any()  # it is the ReLU's output
    assert (logits < 0).any()  # the last product has no activation after it


class _Custom(nn.Linear):
    def forward(self, x):
        return super().forward(x) * 2


def _hooked():
    net = models.mlp(3, [4], 2)
    net[0].register_forward_hook(lambda m, i, o: o * 0)
    return net


@pytest.mark.parametrize("make", [
    lambda: models.ResidualMLP(5, 3),  # a forward of its own
    lambda: models.GRUClassifier(8, 3),
    lambda: nn.Sequential(_Custom(3, 2)),  # a subclass may compute something else
    lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)),  # buffers
    lambda: nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5)),
    lambda: nn.Sequential(nn.Conv1d(1, 2, 3, padding="same")),
    lambda: nn.Sequential(nn.Conv1d(2, 2, 3, groups=2)),
    lambda: nn.Sequential(nn.Flatten(0)),
    _hooked,
])
def test_unsupported_models_are_left_to_vmap(make):
    assert batched_forward(make()) is None


def test_a_model_that_is_not_a_module_is_refused():
    with pytest.raises(TypeError, match="Invalid model"):
        batched_forward(lambda x: x)


def _conv_net(conv: nn.Conv1d, length: int) -> nn.Sequential:
    out_len = conv(torch.zeros(1, conv.in_channels, length)).shape[2]
    return nn.Sequential(conv, nn.Tanh(), nn.Flatten(), nn.Linear(conv.out_channels * out_len, 2))


@pytest.mark.parametrize("conv", [
    lambda: nn.Conv1d(3, 4, 5, stride=2, padding=2),  # mnist1d-cnn's layers
    lambda: nn.Conv1d(3, 4, 3),  # stride 1, no padding
    lambda: nn.Conv1d(3, 4, 4, stride=3, padding=1),  # the stride skips the last inputs
    lambda: nn.Conv1d(3, 4, 3, padding=4),  # padding wider than the kernel reaches
    lambda: nn.Conv1d(3, 4, 3, dilation=3, padding=2),
    lambda: nn.Conv1d(3, 4, 2, stride=2, dilation=2, padding=1, bias=False),
    lambda: nn.Conv1d(3, 4, 3, bias=False),
])
def test_convolutions_and_their_gradients_equal_vmap_of_the_module(conv):
    """Every configuration of the convolution, outputs and weight and input gradients,
    float64, against ``vmap`` of ``functional_call`` (what replicas used before)."""
    torch.manual_seed(7)
    nets = [_conv_net(conv(), 11).double() for _ in range(3)]
    weights, _ = stack_module_state(nets)
    x = torch.randn(3, 5, 3, 11, dtype=torch.float64, requires_grad=True)

    def one(w, xr):
        return torch.func.functional_call(nets[0], w, (xr,))

    want = torch.func.vmap(one)(weights, x)
    out = batched_forward(nets[0])(weights, x)
    assert out.shape == want.shape
    assert torch.allclose(out, want, rtol=1e-13, atol=0)
    probe = torch.randn_like(want)
    inputs = [x, *weights.values()]
    got = torch.autograd.grad(out, inputs, probe)
    expected = torch.autograd.grad(want, inputs, probe)
    for g, e in zip(got, expected, strict=True):
        assert torch.allclose(g, e, rtol=1e-12, atol=1e-14)


def test_without_gradients_the_columns_are_no_larger_than_the_input(monkeypatch):
    """An evaluation's batch is the whole test set: its columns are made a slice of the
    batch at a time, the outputs unchanged."""
    from antigrad.lab import batched_model

    sizes: list = []
    real = batched_model.columns

    def recording(x, *args, **kwargs):
        cols = real(x, *args, **kwargs)
        r, c, length, _ = x.shape
        sizes.append((cols.numel(), r * c * length * 50))  # the layer's whole input
        return cols

    monkeypatch.setattr(batched_model, "columns", recording)
    torch.manual_seed(5)
    nets = [models.cnn1d(40, 10).double() for _ in range(3)]
    weights, _ = stack_module_state(nets)
    x = torch.randn(3, 50, 40, dtype=torch.float64)
    forward = batched_forward(nets[0])
    with torch.no_grad():
        out = forward(weights, x)
        want = torch.stack([net(xr) for net, xr in zip(nets, x, strict=True)])
    assert torch.allclose(out, want, rtol=1e-13, atol=1e-15)
    assert len(sizes) > 3 and all(cols <= inputs for cols, inputs in sizes)
    sizes.clear()
    forward(weights, x)  # with gradients: one product per convolution, all columns kept
    assert len(sizes) == 3
