"""differentiable=True: gradients through one optimizer step, against torch.optim's own
differentiable step (values and the whole Jacobian) and torch.autograd.gradcheck."""

import pytest
import torch
from torch.autograd import gradcheck

import antigrad

N = 4


def _rand(requires_grad=True):
    return torch.rand(N, dtype=torch.float64, requires_grad=requires_grad)


def _step(p, grad, state, cls, kwargs, *inputs):
    """One step as a function of the parameter, the gradient and the state tensors
    (``inputs`` are the state values again, so that gradcheck sees them as inputs)."""
    p = p.clone()
    p.grad = grad
    state = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in state.items()}
    opt = cls([p], differentiable=True, **kwargs)
    opt.state[p].update(state)
    opt.step()
    return (p, *(v for v in opt.state[p].values()
                 if isinstance(v, torch.Tensor) and v.requires_grad))


def _state(name, kwargs):
    step = {"step": torch.tensor(3.0, dtype=torch.float64)}
    if name == "SGD":
        return {"momentum_buffer": _rand()}
    if name == "Adagrad":
        return {**step, "sum": _rand()}
    if name == "RMSprop":
        state = {**step, "square_avg": _rand() + 1}
        if kwargs.get("momentum"):
            state["momentum_buffer"] = _rand()
        if kwargs.get("centered"):
            state["grad_avg"] = _rand() * 0.1
        return state
    state = {**step, "exp_avg": _rand(), "exp_avg_sq": _rand()}
    if name == "NAdam":
        state["mu_product"] = torch.tensor(0.7, dtype=torch.float64)
    if kwargs.get("amsgrad"):
        state["max_exp_avg_sq"] = _rand()
    return state


CASES = [
    ("SGD", dict(lr=0.9, momentum=0.9, weight_decay=0.1, nesterov=True, maximize=True)),
    ("SGD", dict(lr=0.5, momentum=0.5, dampening=0.3)),
    ("Adagrad", dict(lr=0.9, weight_decay=0.1, lr_decay=0.1)),
    ("RMSprop", dict(lr=0.1, weight_decay=0.1, momentum=0.9, centered=True)),
    ("Adam", dict(lr=0.9, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.9, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.9, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.9, weight_decay=0.1)),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=lambda c: c if isinstance(c, str) else "")
def test_gradients_through_a_step_match_torch(name, kwargs):
    torch.manual_seed(0)
    p, grad = _rand(), _rand()
    state = _state(name, kwargs)
    args = (p, grad, state, getattr(antigrad, name), kwargs, *state.values())
    ours = _step(*args)
    theirs = _step(p, grad, state, getattr(torch.optim, name), kwargs, *state.values())
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)
    # The whole vector-Jacobian product, with respect to every input that requires grad.
    inputs = [p, grad, *(v for v in state.values() if v.requires_grad)]
    weights = [torch.randn_like(o) for o in ours]
    ours_vjp = torch.autograd.grad(ours, inputs, weights, allow_unused=True)
    theirs_vjp = torch.autograd.grad(theirs, inputs, weights, allow_unused=True)
    for a, b in zip(ours_vjp, theirs_vjp, strict=True):
        torch.testing.assert_close(a, b)
    assert gradcheck(_step, args, fast_mode=True)


def test_leaf_parameter_is_refused_as_torch_does():
    p = torch.nn.Parameter(torch.rand(3))
    p.grad = torch.rand(3)
    for cls in (antigrad.SGD, torch.optim.SGD):
        with pytest.raises(RuntimeError, match="leaf Variable"):
            cls([p], lr=0.1, differentiable=True).step()


def test_complex_parameter():
    outs = []
    for cls in (antigrad.Adam, torch.optim.Adam):
        torch.manual_seed(0)
        p0 = torch.randn(4, dtype=torch.complex128, requires_grad=True)
        p = p0.clone()
        p.grad = torch.randn(4, dtype=torch.complex128)
        opt = cls([p], lr=0.1, differentiable=True)
        for _ in range(2):
            opt.step()
        (grad,) = torch.autograd.grad(p.abs().sum(), p0)
        outs.append((p.detach(), grad))
    # From a fresh state torch's differentiable Adam computes its bias corrections in the
    # float32 precision of its step tensor, antigrad in double: about 1e-7 relative apart.
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
