"""The torch.optim contract: closures, validation, param groups, state_dict, results."""

from __future__ import annotations

import io

import pytest
import torch

import antigrad
from antigrad.second_order import SolveResult
from second_order.so_problems import METHODS, closure_for, extended_rosenbrock, make


def rosen_params():
    a = torch.tensor([-1.2, 1.0, -1.2], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[1.0], [-1.2], [1.0]], dtype=torch.float64, requires_grad=True)
    return [a, b]


def rosen_loss(params):
    return lambda: extended_rosenbrock(torch.cat([p.reshape(-1) for p in params]))


@pytest.mark.parametrize("name", METHODS)
def test_step_without_closure_says_why(name):
    opt = make(name, [torch.zeros(2, requires_grad=True)])
    with pytest.raises(TypeError, match=rf"{name}.step\(\) requires a closure.*several points"):
        opt.step()


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("arg,value", [("lr", -1.0), ("max_iter", 0),
                                       ("max_eval", -3), ("tolerance_grad", -1e-3),
                                       ("tolerance_change", -1.0),
                                       ("line_search_fn", "armijo")])
def test_invalid_arguments_name_argument_and_value(name, arg, value):
    if name == "LBFGS" and arg.startswith("tolerance"):  # torch's rule: never fires
        assert make(name, [torch.zeros(2, requires_grad=True)], **{arg: value})
        return
    with pytest.raises(ValueError, match=rf"Invalid {arg} value: '?{value}"):
        make(name, [torch.zeros(2, requires_grad=True)], **{arg: value})


@pytest.mark.parametrize("name,arg,value", [
    ("Newton", "mode", "lbfgs"), ("Newton", "damping", -1.0), ("Newton", "cg_max_iter", 0),
    ("DiagonalNewton", "hessian", "full"), ("DiagonalNewton", "samples", 0),
    ("DiagonalNewton", "damping", -0.5), ("LBFGS", "history_size", 0)])
def test_invalid_specific_arguments(name, arg, value):
    with pytest.raises(ValueError, match=rf"Invalid {arg} value: '?{value}"):
        make(name, [torch.zeros(2, requires_grad=True)], **{arg: value})


@pytest.mark.parametrize("name", METHODS)
def test_lr_zero_is_accepted_and_takes_no_step(name):
    """The bound of the first-order optimizers and torch.optim.LBFGS: lr >= 0."""
    params = rosen_params()
    before = [p.detach().clone() for p in params]
    opt = make(name, params, lr=0.0)
    opt.step(closure_for(opt, rosen_loss(params)))
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, params, strict=True))
    assert opt.result.reason == "step_size" and opt.result.iterations <= 1


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("arg,value,error", [
    ("max_iter", 1.5, TypeError), ("max_eval", "9", TypeError), ("lr", "1", TypeError),
    ("nonfinite", "warn", ValueError)])
def test_wrong_type_is_a_type_error_wrong_value_a_value_error(name, arg, value, error):
    with pytest.raises(error, match=rf"Invalid {arg} value: '?{value}"):
        make(name, [torch.zeros(2, requires_grad=True)], **{arg: value})


def test_lbfgs_accepts_torch_signature_positionally():
    w = torch.zeros(2, requires_grad=True)
    opt = antigrad.LBFGS([w], 0.5, 7, 9, 1e-5, 1e-8, 5, None)
    assert {k: opt.defaults[k] for k in ("lr", "max_iter", "max_eval", "tolerance_grad",
                                         "tolerance_change", "history_size",
                                         "line_search_fn")} == dict(
        lr=0.5, max_iter=7, max_eval=9, tolerance_grad=1e-5, tolerance_change=1e-8,
        history_size=5, line_search_fn=None)
    assert antigrad.LBFGS([w]).defaults["max_eval"] == 25  # torch's max_iter * 5 // 4


def test_lbfgs_fixed_step_matches_torch_lbfgs_first_iterations():
    """line_search_fn=None is torch's fixed-step L-BFGS: same iterates."""
    runs = []
    for cls in (antigrad.LBFGS, torch.optim.LBFGS):
        w = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
        opt = cls([w], lr=0.01, max_iter=5, line_search_fn=None, history_size=3)
        opt.step(closure_for(opt, lambda w=w: extended_rosenbrock(w)))
        runs.append(w.detach().clone())
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", METHODS)
def test_param_groups_are_one_vector(name):
    """Two groups give exactly the iterates of one group holding the same tensors."""
    one, two = rosen_params(), rosen_params()
    opt1 = make(name, one, max_iter=5)
    opt2 = make(name, [{"params": [two[0]]}, {"params": [two[1]]}], max_iter=5)
    for _ in range(2):
        opt1.step(closure_for(opt1, rosen_loss(one)))
        opt2.step(closure_for(opt2, rosen_loss(two)))
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a, b)


def test_param_group_options_must_agree():
    a, b = rosen_params()
    opt = antigrad.LBFGS([{"params": [a]}, {"params": [b], "history_size": 3}],
                         line_search_fn="strong_wolfe")
    with pytest.raises(ValueError, match="Invalid history_size value: 3 in param group 1"):
        opt.step(closure_for(opt, rosen_loss([a, b])))


@pytest.mark.parametrize("name,kw", [(m, {}) for m in METHODS] + [
    ("Newton", dict(line_search_fn=None)), ("Newton", dict(mode="cg")),
    ("Newton", dict(mode="trust_region")),
    ("DiagonalNewton", dict(hessian="hutchinson", samples=2)),
    ("LBFGS", dict(history_size=2))])
def test_state_dict_round_trip_continues_identically(name, kw):
    params = rosen_params()
    opt = make(name, params, max_iter=4, **kw)
    for _ in range(2):
        opt.step(closure_for(opt, rosen_loss(params)))
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    copy = [p.detach().clone().requires_grad_() for p in params]
    opt2 = make(name, copy, max_iter=4, **kw)
    buf.seek(0)
    opt2.load_state_dict(torch.load(buf))
    for _ in range(3):
        opt.step(closure_for(opt, rosen_loss(params)))
        opt2.step(closure_for(opt2, rosen_loss(copy)))
    for a, b in zip(params, copy, strict=True):
        assert torch.equal(a, b)
    assert opt.state[params[0]]["func_evals"] == opt2.state[copy[0]]["func_evals"]


@pytest.mark.parametrize("name", METHODS)
def test_result_reports_counts_and_reason(name):
    params = rosen_params()
    calls = [0]
    opt = make(name, params, max_iter=3, max_eval=1000)
    inner = closure_for(opt, rosen_loss(params))

    def closure():
        calls[0] += 1
        return inner()

    loss = opt.step(closure)
    r = opt.result
    assert isinstance(r, SolveResult) and r.reason == "max_iter" and not r.converged
    assert r.iterations == 3 and r.func_evals == calls[0]
    assert float(loss) == r.initial_loss == r.losses[0] and r.losses[-1] == r.loss
    assert all(b <= a for a, b in zip(r.losses, r.losses[1:], strict=False))  # never uphill
    assert r.grad_norm == pytest.approx(float(torch.cat(
        [p.grad.reshape(-1) for p in params]).abs().max()))
    assert opt.state[params[0]]["n_iter"] == 3
    assert "max_iter" in str(r)


@pytest.mark.parametrize("name", METHODS)
def test_budget_and_tolerances_fire(name):
    params = rosen_params()
    opt = make(name, params, max_iter=1000, max_eval=4)
    opt.step(closure_for(opt, rosen_loss(params)))
    assert opt.result.reason == "max_eval" and opt.result.func_evals >= 4
    opt = make(name, params, max_iter=1000, tolerance_grad=1e3)
    opt.step(closure_for(opt, rosen_loss(params)))
    assert opt.result.reason == "gradient" and opt.result.iterations == 0
    opt = make(name, params, max_iter=1000, tolerance_change=1e-1)
    opt.step(closure_for(opt, rosen_loss(params)))
    assert opt.result.reason in ("loss_change", "step_size")


@pytest.mark.parametrize("name", METHODS)
def test_closure_may_return_loss_without_backward(name):
    w = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = make(name, [w], max_iter=5)
    opt.step(lambda: extended_rosenbrock(w))
    assert opt.result.loss < opt.result.initial_loss


@pytest.mark.parametrize("name", METHODS)
def test_float32_model(name):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    opt = make(name, model.parameters(), max_iter=10)
    opt.step(closure_for(opt, lambda: torch.nn.functional.mse_loss(model(x), y)))
    assert opt.result.loss < opt.result.initial_loss
    assert all(p.grad is None or p.grad.grad_fn is None for p in model.parameters())


@pytest.mark.parametrize("name", METHODS)
def test_deepcopy_continues_identically(name):
    import copy

    params = rosen_params()
    opt = make(name, params, max_iter=4)
    opt.step(closure_for(opt, rosen_loss(params)))
    clone = copy.deepcopy(opt)
    cloned = clone.param_groups[0]["params"]
    for _ in range(2):
        opt.step(closure_for(opt, rosen_loss(params)))
        clone.step(closure_for(clone, rosen_loss(cloned)))
    for a, b in zip(params, cloned, strict=True):
        assert torch.equal(a, b) and a is not b
    assert clone.result is not None
