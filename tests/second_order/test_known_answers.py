"""Every method against problems with known answers (SPEC L15-L16)."""

from __future__ import annotations

import pytest
import torch

import antigrad
from second_order.so_problems import (
    METHODS,
    closure_for,
    extended_rosenbrock,
    logreg,
    make,
    rosenbrock_start,
)

SOLVE = dict(max_iter=100000, max_eval=100000, tolerance_change=0.0)


def test_quadratic_one_newton_step_to_1e10():
    """L15: on a quadratic, one Newton step lands on the optimum."""
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(20, 20, generator=gen, dtype=torch.float64)
    a = m @ m.T + 0.1 * torch.eye(20, dtype=torch.float64)
    b = torch.randn(20, generator=gen, dtype=torch.float64)
    w1 = torch.zeros(12, dtype=torch.float64, requires_grad=True)
    w2 = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
    opt = antigrad.Newton([w1, w2], max_iter=1)

    def loss():
        w = torch.cat([w1, w2.reshape(-1)])
        return 0.5 * w @ a @ w - b @ w + 3.0

    opt.step(closure_for(opt, loss))
    exact = torch.linalg.solve(a, b)
    got = torch.cat([w1.detach(), w2.detach().reshape(-1)])
    assert torch.linalg.norm(got - exact) <= 1e-10 * torch.linalg.norm(exact)
    assert opt.result.iterations == 1 and opt.result.func_evals == 2
    assert opt.result.hvp_evals == 20


@pytest.mark.parametrize("kw", [dict(mode="cg"), dict(line_search_fn=None),
                                dict(line_search_fn="strong_wolfe")])
def test_quadratic_newton_variants_reach_optimum(kw):
    gen = torch.Generator().manual_seed(1)
    m = torch.randn(10, 10, generator=gen, dtype=torch.float64)
    a, b = m @ m.T + torch.eye(10, dtype=torch.float64), torch.randn(10, generator=gen,
                                                                     dtype=torch.float64)
    w = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    opt = antigrad.Newton([w], tolerance_grad=1e-12, tolerance_change=0.0, **kw)
    opt.step(closure_for(opt, lambda: 0.5 * w @ a @ w - b @ w))
    assert torch.allclose(w.detach(), torch.linalg.solve(a, b), rtol=0, atol=1e-10)
    assert opt.result.reason == "gradient"


@pytest.mark.parametrize("name", ["Newton", "BFGS", "LBFGS"])
def test_rosenbrock_2d_from_standard_start(name):
    w = rosenbrock_start(2).requires_grad_()
    opt = make(name, [w], tolerance_grad=1e-8, **SOLVE)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    assert opt.result.reason == "gradient", opt.result
    assert torch.allclose(w.detach(), torch.ones(2, dtype=torch.float64), atol=1e-6)
    assert opt.result.iterations < 60


@pytest.mark.slow
def test_rosenbrock_2d_diagonal_newton_converges():
    """A diagonal scaling cannot follow the curved valley: ~10^4 iterations (4 s)."""
    w = rosenbrock_start(2).requires_grad_()
    opt = antigrad.DiagonalNewton([w], line_search_fn="strong_wolfe", tolerance_grad=1e-6,
                                  **SOLVE)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    assert opt.result.reason == "gradient", opt.result
    assert torch.allclose(w.detach(), torch.ones(2, dtype=torch.float64), atol=1e-5)


def test_rosenbrock_2d_diagonal_newton_heads_for_the_minimum():
    """The fast stand-in for the test above: steady descent along the valley to (1, 1)."""
    w = rosenbrock_start(2).requires_grad_()
    opt = antigrad.DiagonalNewton([w], line_search_fn="strong_wolfe", max_iter=800,
                                  max_eval=100000, tolerance_change=0.0)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    losses = opt.result.losses
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < 5e-2 * losses[0] and float((w.detach() - 1).abs().max()) < 0.5


@pytest.mark.parametrize("name", ["Newton", "BFGS", "LBFGS"])
def test_rosenbrock_100d_from_standard_start(name):
    w = rosenbrock_start(100).requires_grad_()
    opt = make(name, [w], tolerance_grad=1e-8, **SOLVE)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    assert opt.result.reason == "gradient", opt.result
    assert torch.allclose(w.detach(), torch.ones(100, dtype=torch.float64), atol=1e-6)


def test_rosenbrock_100d_newton_cg():
    w = rosenbrock_start(100).requires_grad_()
    opt = antigrad.Newton([w], mode="cg", tolerance_grad=1e-8, **SOLVE)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    assert torch.allclose(w.detach(), torch.ones(100, dtype=torch.float64), atol=1e-6)


@pytest.mark.slow
def test_rosenbrock_100d_diagonal_newton():
    w = rosenbrock_start(100).requires_grad_()
    opt = antigrad.DiagonalNewton([w], hessian="exact", line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-6, **SOLVE)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    assert opt.result.reason == "gradient", opt.result
    assert torch.allclose(w.detach(), torch.ones(100, dtype=torch.float64), atol=1e-5)


@pytest.mark.slow
def test_rosenbrock_100d_hutchinson_descends_steadily():
    """Hutchinson's estimate is noisy where off-diagonal terms dominate (-400 x here), so
    within 10^5 evaluations it gets the loss down by 10^6, not to |g| < 1e-6."""
    w = rosenbrock_start(100).requires_grad_()
    opt = antigrad.DiagonalNewton([w], hessian="hutchinson", line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-6, **SOLVE)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    assert opt.result.loss < 1e-6 * opt.result.initial_loss, opt.result
    assert all(b <= a for a, b in zip(opt.result.losses, opt.result.losses[1:], strict=False))


def test_rosenbrock_100d_diagonal_newton_makes_progress():
    """The fast stand-in for the slow test above: the diagonal of the extended Rosenbrock
    Hessian is the same in 2 and 100 dimensions, so 100-D must track the 2-D run."""
    w = rosenbrock_start(100).requires_grad_()
    opt = antigrad.DiagonalNewton([w], line_search_fn="strong_wolfe", max_iter=300,
                                  max_eval=100000, tolerance_change=0.0)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    assert opt.result.loss < 1e-2 * opt.result.initial_loss
    assert torch.allclose(w.detach()[0::2], w.detach()[0], atol=1e-12)  # pairs move alike


@pytest.mark.parametrize("name,kw", [(m, {}) for m in METHODS] + [
    ("Newton", dict(mode="cg")), ("Newton", dict(line_search_fn=None)),
    ("LBFGS", dict(history_size=10)),
    pytest.param("DiagonalNewton", dict(line_search_fn="strong_wolfe"), marks=pytest.mark.slow),
    pytest.param("DiagonalNewton", dict(hessian="hutchinson"), marks=pytest.mark.slow)])
def test_logistic_regression_matches_scipy(name, kw, cancer, scipy_logreg):
    params, loss = logreg(cancer)
    opt = make(name, params, tolerance_grad=1e-6, **SOLVE, **kw)
    opt.step(closure_for(opt, loss))
    assert opt.result.reason == "gradient", opt.result
    g = torch.cat([p.grad.reshape(-1) for p in params])
    assert float(g.abs().max()) < 1e-6
    assert abs(opt.result.loss - scipy_logreg[0]) < 1e-8
    assert opt.result.loss == pytest.approx(loss().item(), abs=1e-15)


def test_lbfgs_needs_no_more_evaluations_than_torch(cancer):
    """The compact L-BFGS with our strong-Wolfe search takes the same path as torch's."""
    counts = []
    for cls in (antigrad.LBFGS, torch.optim.LBFGS):
        params, loss = logreg(cancer)
        opt = cls(params, line_search_fn="strong_wolfe", max_iter=1000, max_eval=1000,
                  tolerance_grad=1e-6, tolerance_change=0.0)
        calls = [0]

        def closure(opt=opt, loss=loss, calls=calls):
            calls[0] += 1
            opt.zero_grad()
            value = loss()
            value.backward()
            return value

        opt.step(closure)
        counts.append(calls[0])
    assert counts[0] <= counts[1]
