"""antigrad.LBFGS as a drop-in for torch.optim.LBFGS: signature, numbers, checkpoints."""

from __future__ import annotations

import inspect
import io

import pytest
import torch

import antigrad

torch.manual_seed(0)
A = torch.randn(30, 10, dtype=torch.float64)
B = torch.randn(30, dtype=torch.float64)


def objective(w):
    v = torch.view_as_real(w).reshape(-1)[:10] if w.is_complex() else w
    z = A.to(v.dtype) @ v - B.to(v.dtype)
    return torch.nn.functional.softplus(z).sum() + 0.01 * (v**4).sum()


def closure_for(opt, w, backward=True):
    def closure():
        opt.zero_grad()
        loss = objective(w)
        if backward:
            loss.backward()
        return loss
    return closure


def run(cls, steps=6, dtype=torch.float64, w=None, backward=True, **kw):
    w = torch.zeros(10, dtype=dtype, requires_grad=True) if w is None else w
    opt = cls([w], **kw)
    out = []
    for _ in range(steps):
        opt.step(closure_for(opt, w, backward))
        out.append(w.detach().clone())
    return out, opt


def test_signature_and_defaults_are_torchs():
    ours = inspect.signature(antigrad.LBFGS).parameters
    theirs = inspect.signature(torch.optim.LBFGS).parameters
    assert list(ours) == list(theirs)
    assert {k: v.default for k, v in ours.items()} == {k: v.default for k, v in theirs.items()}


def test_is_a_torch_lbfgs():
    opt = antigrad.LBFGS([torch.zeros(2, requires_grad=True)])
    assert isinstance(opt, torch.optim.LBFGS) and isinstance(opt, torch.optim.Optimizer)


@pytest.mark.parametrize("kw", [
    {}, dict(lr=0.5), dict(lr=torch.tensor([0.5])), dict(lr=torch.tensor(0.25)),
    dict(history_size=3, max_iter=7), dict(tolerance_grad=float("-inf"), max_iter=4),
    dict(tolerance_change=-1.0, max_eval=9)])
def test_default_fixed_step_gives_torchs_iterates(kw):
    """Step by step against torch.optim.LBFGS (float64: to rounding)."""
    ours, _ = run(antigrad.LBFGS, **kw)
    theirs, _ = run(torch.optim.LBFGS, **kw)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_float32_is_as_close_to_exact_as_torchs_float32():
    """float32 iterates differ from torch's by rounding (compact form vs two-loop
    recursion): step by step, ours are as close to the float64 iterates as torch's."""
    ours, _ = run(antigrad.LBFGS, dtype=torch.float32)
    theirs, _ = run(torch.optim.LBFGS, dtype=torch.float32)
    exact, _ = run(torch.optim.LBFGS)
    for a, b, c in zip(ours, theirs, exact, strict=True):
        torch_error = float((b.double() - c).abs().max())
        assert float((a.double() - c).abs().max()) <= max(2 * torch_error, 1e-6)


def test_complex_parameters_are_real_pairs_as_in_torch():
    def start():
        return torch.zeros(5, dtype=torch.complex128, requires_grad=True)
    ours, _ = run(antigrad.LBFGS, w=start())
    theirs, _ = run(torch.optim.LBFGS, w=start())
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_closure_without_backward_gets_the_gradient():
    """torch's hook tests return the loss without backward(); the gradient is computed."""
    ours, _ = run(antigrad.LBFGS, backward=False)
    theirs, _ = run(torch.optim.LBFGS)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_tensor_lr_must_have_one_element():
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        antigrad.LBFGS([torch.zeros(2, requires_grad=True)], lr=torch.tensor([0.1, 0.2]))


def roundtrip(sd):
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("history_size", [100, 3])
def test_state_dict_moves_to_torch_and_back(history_size):
    """ours (2 steps) -> torch (2 steps) -> ours (2 steps) equals torch all along."""
    kw = dict(history_size=history_size, max_iter=5)
    reference, _ = run(torch.optim.LBFGS, steps=6, **kw)

    w = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    ours = antigrad.LBFGS([w], **kw)
    got = []
    for _ in range(2):
        ours.step(closure_for(ours, w))
        got.append(w.detach().clone())
    theirs = torch.optim.LBFGS([w], **kw)
    theirs.load_state_dict(roundtrip(ours.state_dict()))
    for _ in range(2):
        theirs.step(closure_for(theirs, w))
        got.append(w.detach().clone())
    back = antigrad.LBFGS([w], **kw)
    back.load_state_dict(roundtrip(theirs.state_dict()))
    for _ in range(2):
        back.step(closure_for(back, w))
        got.append(w.detach().clone())
    for a, b in zip(got, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)
    assert back.state[w]["func_evals"] > theirs.state[w]["func_evals"]


def test_state_dict_of_a_foreign_optimizer_is_refused_by_name():
    w = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    sgd = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = torch.ones_like(w)
    sgd.step()
    with pytest.raises(ValueError, match="another optimizer"):
        antigrad.LBFGS([w]).load_state_dict(sgd.state_dict())


def test_state_dict_hooks_and_torch_flags_as_in_torch():
    """Entries hooks put into optimizer.state, and the flags Optimizer.__setstate__ adds
    to defaults, do not break state_dict()/load_state_dict() (as torch's suite checks)."""
    w = torch.rand(2, 3, requires_grad=True)
    opt = antigrad.LBFGS([w])
    opt.register_state_dict_pre_hook(lambda o: o.state.__setitem__("test", 1))
    assert opt.state_dict()["state"]["test"] == 1
    opt.register_load_state_dict_post_hook(lambda o: o.state.__setitem__("ran", True))
    sd = opt.state_dict()
    opt.load_state_dict(sd)
    opt.load_state_dict(sd)  # defaults now hold "differentiable" from __setstate__
    assert opt.state["ran"] is True
    opt.step(closure_for_rand(opt, w))


def closure_for_rand(opt, w):
    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss
    return closure
