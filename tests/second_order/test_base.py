"""SecondOrderOptimizer: parts chosen at construction, the non-finite policy, the lr bound."""

from __future__ import annotations

import math

import pytest
import torch

import antigrad
from antigrad.second_order import (
    Backtracking,
    BFGSDirection,
    FixedStep,
    LBFGSDirection,
    NewtonDirection,
    SecondOrderOptimizer,
    SteepestDescent,
    StrongWolfe,
    TrustRegionNewton,
)
from second_order.so_problems import closure_for, extended_rosenbrock, rosenbrock_start


def rosen(direction, search="strong_wolfe", **kw):
    w = rosenbrock_start(2).requires_grad_()
    opt = SecondOrderOptimizer([w], direction, search, **kw)
    return w, opt, closure_for(opt, lambda: extended_rosenbrock(w))


def test_public_and_exported():
    assert antigrad.SecondOrderOptimizer is SecondOrderOptimizer
    for name in ("Newton", "DiagonalNewton", "BFGS", "LBFGS"):
        assert issubclass(getattr(antigrad, name), SecondOrderOptimizer)


@pytest.mark.parametrize("direction,search", [
    (BFGSDirection(), StrongWolfe()), (LBFGSDirection(history_size=5), StrongWolfe()),
    (NewtonDirection(), Backtracking()), (TrustRegionNewton(), None)])
def test_any_direction_with_any_search_solves_rosenbrock(direction, search):
    w, opt, closure = rosen(direction, search, max_iter=500, max_eval=2000,
                            tolerance_grad=1e-9)
    opt.step(closure)
    assert opt.result.reason == "gradient"
    torch.testing.assert_close(w.detach(), torch.ones(2, dtype=torch.float64))


def test_the_parts_are_the_objects_given_and_named_classes_choose_theirs():
    search = StrongWolfe(c2=0.1)
    _, opt, _ = rosen(BFGSDirection(), search)
    assert opt.line_search is search
    assert isinstance(antigrad.LBFGS([torch.zeros(2, requires_grad=True)]).line_search,
                      FixedStep)
    newton = antigrad.Newton([torch.zeros(2, requires_grad=True)], mode="trust_region")
    assert isinstance(newton.descent, TrustRegionNewton)


def test_steepest_descent_direction_is_minus_the_gradient():
    w, opt, closure = rosen(SteepestDescent(), max_iter=1)
    g = torch.autograd.functional.jacobian(extended_rosenbrock, w.detach())
    d, _ = opt.direction(opt_point(w, g), {}, opt.param_groups[0])
    assert torch.equal(d, -g)


def opt_point(w, g):
    from antigrad.second_order.flat import Point
    return Point(w.detach(), 0.0, g)


@pytest.mark.parametrize("bad,arg,error", [
    ("bfgs", "direction", TypeError), ("armijo", "line_search", ValueError)])
def test_bad_parts_are_refused_by_name(bad, arg, error):
    w = torch.zeros(2, requires_grad=True)
    args = (bad, None) if arg == "direction" else (BFGSDirection(), bad)
    with pytest.raises(error, match="Invalid (direction|line_search_fn)"):
        SecondOrderOptimizer([w], *args)


def test_line_search_is_called_with_what_it_needs():
    seen = []

    class Recording(StrongWolfe):
        def __call__(self, phi, p0, d, t, gtd0, **kw):
            seen.append(kw)
            return super().__call__(phi, p0, d, t, gtd0, **kw)

    _, opt, closure = rosen(BFGSDirection(), Recording(), max_iter=3, tolerance_change=1e-7)
    opt.step(closure)
    assert seen and seen[0]["tolerance_change"] == 1e-7


def nan_after_first(w, start):
    def loss():
        value = (w ** 2).sum()
        return value if torch.equal(w.detach(), start) else value * math.nan
    return loss


def test_skip_a_nonfinite_start_changes_nothing_and_counts_it():
    w = torch.ones(2, requires_grad=True)
    opt = antigrad.BFGS([w], nonfinite="skip")
    loss = opt.step(closure_for(opt, lambda: (w * math.nan).sum()))
    assert math.isnan(float(loss)) and opt.result.reason == "nonfinite"
    assert opt.skipped_steps == 1 and torch.equal(w.detach(), torch.ones(2))


@pytest.mark.parametrize("search", ["strong_wolfe", "backtracking", None])
def test_skip_a_nonfinite_search_ends_the_step_at_its_start(search):
    start = torch.tensor([1.0, -2.0], dtype=torch.float64)
    w = start.clone().requires_grad_()
    opt = antigrad.BFGS([w], line_search_fn=search, nonfinite="skip")
    opt.step(closure_for(opt, nan_after_first(w, start)))
    assert opt.result.reason == "nonfinite" and torch.equal(w.detach(), start)


def test_lbfgs_ignores_nonfinite_values_as_torch():
    """torch.optim.LBFGS checks nothing: a NaN loss is stepped through, as here."""
    ours = torch.ones(2, dtype=torch.float64, requires_grad=True)
    theirs = ours.detach().clone().requires_grad_()
    a, b = antigrad.LBFGS([ours], max_iter=3), torch.optim.LBFGS([theirs], max_iter=3)
    assert a.nonfinite == "ignore"
    a.step(closure_for(a, lambda: (ours * math.nan).sum() + (ours ** 2).sum()))
    b.step(closure_for(b, lambda: (theirs * math.nan).sum() + (theirs ** 2).sum()))
    assert torch.equal(ours.detach().isnan(), theirs.detach().isnan())
    assert a.state[ours]["n_iter"] == b.state[theirs]["n_iter"]
    a.nonfinite = "raise"
    with pytest.raises(antigrad.NonFiniteLossError):
        a.step(closure_for(a, lambda: (ours * math.nan).sum()))
    with pytest.raises(ValueError, match="Invalid nonfinite value: 'warn'"):
        a.nonfinite = "warn"
