"""Never a wrong answer, never a moved parameter on failure, never an internal error."""

from __future__ import annotations

import pytest
import torch

from second_order.so_problems import METHODS, closure_for, make


def double_well(w):
    return (w**4 - 3 * w**2 + w).sum()


def true_grad(w):
    x = w.detach().clone().requires_grad_()
    return torch.autograd.grad(double_well(x), x)[0]


@pytest.mark.parametrize("name", METHODS)
def test_closure_without_backward_gets_fresh_gradients(name):
    """A loss returned without backward(): each point's own gradient, not the last one's.

    Reading the ``.grad`` an earlier evaluation left behind stopped BFGS/L-BFGS at a
    point whose true gradient was 0.5 while reporting convergence."""
    w = torch.tensor([0.5, -0.3], dtype=torch.float64, requires_grad=True)
    opt = make(name, [w], max_iter=100, tolerance_change=0.0, tolerance_grad=1e-8)
    opt.step(lambda: double_well(w))
    assert opt.result.reason == "gradient"
    assert float(true_grad(w).abs().max()) <= 1e-8
    assert opt.result.loss == pytest.approx(-4.584135221, abs=1e-8)


@pytest.mark.parametrize("name", METHODS)
def test_closure_that_accumulates_gradients_is_not_misled(name):
    """A closure calling backward() without zero_grad() still sees only its own gradient."""
    w = torch.tensor([0.5, -0.3], dtype=torch.float64, requires_grad=True)
    opt = make(name, [w], max_iter=100, tolerance_change=0.0, tolerance_grad=1e-8)

    def closure():
        loss = double_well(w)
        loss.backward()
        return loss

    opt.step(closure)
    assert float(true_grad(w).abs().max()) <= 1e-8


class Stop(BaseException):
    pass


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError, Stop])
def test_closure_error_in_line_search_restores_parameters(name, error):
    """The closure raises at the 3rd evaluation: parameters are back at the last accepted
    point (the start of that line search), bit for bit, and the error propagates."""
    w = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    calls, accepted = [0], []
    opt = make(name, [w], max_iter=50, line_search_fn="strong_wolfe")
    inner = closure_for(opt, lambda: 100 * (w[1] - w[0] ** 2) ** 2 + (1 - w[0]) ** 2)

    def closure():
        calls[0] += 1
        if calls[0] == 3:
            raise error("interrupted")
        return inner()

    original = opt.line_search

    def search(*args, **kw):
        accepted.append(w.detach().clone())
        return original(*args, **kw)

    opt.line_search = search
    with pytest.raises(error, match="interrupted"):
        opt.step(closure)
    assert torch.equal(w.detach(), accepted[-1])


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("result,kind,match", [
    (None, TypeError, "returned NoneType"),
    ("1.0", TypeError, "returned str"),
    (torch.ones(3, requires_grad=True), ValueError, r"shape \(3,\).*scalar"),
])
def test_closure_must_return_a_scalar_loss(name, result, kind, match):
    w = torch.ones(2, dtype=torch.float64, requires_grad=True)
    opt = make(name, [w])
    with pytest.raises(kind, match=match):
        opt.step(lambda: result)
    assert torch.equal(w.detach(), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("name", ["Newton", "DiagonalNewton"])
def test_closure_without_any_gradient_is_a_value_error(name):
    w = torch.ones(2, requires_grad=True)
    opt = make(name, [w])
    with pytest.raises(ValueError, match="neither called loss.backward"):
        opt.step(lambda: torch.tensor(1.0))


@pytest.mark.parametrize("name", ["BFGS", "LBFGS"])
def test_closure_without_any_gradient_reads_grad_as_torch(name):
    """No backward() and no graph: the .grad already there is the gradient (None: zero),
    as torch.optim.LBFGS reads it; at a new point that is stale, which is said."""
    w = torch.ones(2, requires_grad=True)
    opt = make(name, [w])
    opt.step(lambda: torch.tensor(1.0))
    assert opt.result.reason == "gradient" and torch.equal(w.detach(), torch.ones(2))
    w.grad = torch.tensor([1.0, -1.0])
    with pytest.warns(UserWarning, match="gradient at this new point is unknown"):
        opt.step(lambda: 1.0)
    assert torch.equal(w.grad, torch.tensor([1.0, -1.0]))


@pytest.mark.parametrize("name", METHODS)
def test_empty_parameters_are_refused_at_construction(name):
    with pytest.raises(ValueError, match="only empty parameters"):
        make(name, [torch.zeros(0, requires_grad=True)])


@pytest.mark.parametrize("name", ["Newton", "DiagonalNewton"])
def test_complex_parameters_are_refused_by_hessian_methods(name):
    w = torch.zeros(2, dtype=torch.complex128, requires_grad=True)
    with pytest.raises(TypeError, match=rf"{name} does not support complex parameters"):
        make(name, [w])


@pytest.mark.parametrize("name", ["BFGS", "LBFGS"])
def test_complex_parameters_are_pairs_of_reals(name):
    """|z - c|^2 over complex z: the minimum is z = c, as for the real pair view."""
    c = torch.tensor([1 + 2j, -0.5 + 0.25j], dtype=torch.complex128)
    z = torch.zeros(2, dtype=torch.complex128, requires_grad=True)
    opt = make(name, [z], max_iter=50, tolerance_grad=1e-12, tolerance_change=0.0)
    opt.step(closure_for(opt, lambda: ((z - c).abs() ** 2).sum()))
    torch.testing.assert_close(z.detach(), c, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["Newton", "DiagonalNewton"])
def test_infinite_damping_is_refused(name):
    with pytest.raises(ValueError, match="Invalid damping value: inf"):
        make(name, [torch.zeros(2, requires_grad=True)], damping=float("inf"))


def foreign_state_dicts(params):
    model = torch.nn.Linear(2, 1)
    adam = torch.optim.Adam(params, lr=0.1)
    for p in params:
        p.grad = torch.ones_like(p)
    adam.step()
    yield "model", model.state_dict(), r"not an optimizer state_dict.*model's"
    yield "adam", adam.state_dict(), "lacks .*another optimizer"
    yield "list", [1, 2], "expects a dict"


@pytest.mark.parametrize("name", METHODS)
def test_foreign_state_dicts_are_refused_and_change_nothing(name):
    w = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = make(name, [w], max_iter=3)
    opt.step(closure_for(opt, lambda: (100 * (w[1] - w[0] ** 2) ** 2 + (1 - w[0]) ** 2)))
    before = opt.state_dict()
    for _, sd, match in foreign_state_dicts([torch.zeros(2, requires_grad=True)]):
        with pytest.raises((TypeError, ValueError), match=match):
            opt.load_state_dict(sd)
    for other in METHODS:  # another second-order optimizer's state_dict
        if other != name:
            o = make(other, [torch.zeros(2, dtype=torch.float64, requires_grad=True)])
            x = o.param_groups[0]["params"][0]
            o.step(closure_for(o, lambda x=x: ((x - 1) ** 4).sum()))
            with pytest.raises(ValueError, match="another optimizer"):
                opt.load_state_dict(o.state_dict())
    assert str(opt.state_dict()) == str(before)


@pytest.mark.parametrize("name", ["BFGS", "LBFGS"])
def test_state_dict_of_other_size_is_refused(name):
    big = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    src = make(name, [big])
    src.step(closure_for(src, lambda: ((big - 1) ** 4).sum()))
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match=r"has shape .*expected .*3 parameters"):
        make(name, [w]).load_state_dict(src.state_dict())
