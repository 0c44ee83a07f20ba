"""Bad input, line searches, curvature helpers and the compact L-BFGS algebra."""

from __future__ import annotations

import math

import pytest
import torch

import antigrad
from antigrad.second_order import HessianMemoryError, NonFiniteLossError, curvature
from antigrad.second_order import line_search as ls
from antigrad.second_order.flat import FlatParams
from antigrad.second_order.lbfgs import compact_inverse_hessian_product
from second_order.so_problems import METHODS, closure_for, extended_rosenbrock, make


@pytest.mark.parametrize("name", METHODS)
def test_nonfinite_loss_in_line_search_backtracks(name):
    """The loss is NaN past w = 2; the minimum of (w - 3)^2 pulls the step there."""
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)

    def loss():
        value = ((w - 3) ** 2).sum()
        return value if float(w.detach()) < 2 else value * math.nan

    opt = make(name, [w], max_iter=1, lr=1.0 if name != "DiagonalNewton" else 1.0,
               **({"damping": 0.0} if name == "DiagonalNewton" else {}))
    opt.step(closure_for(opt, loss))
    assert 0 < w.item() < 2 and math.isfinite(opt.result.loss)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("search", ["strong_wolfe", "backtracking", None])
def test_persistent_nonfinite_loss_raises_and_restores(name, search):
    start = torch.tensor([1.0, -2.0], dtype=torch.float64)
    w = start.clone().requires_grad_()

    def loss():
        value = (w**2).sum()
        return value if torch.equal(w.detach(), start) else value * math.inf

    opt = make(name, [w], line_search_fn=search)
    with pytest.raises(NonFiniteLossError, match=r"step size tried t=\S+.* gave loss"):
        opt.step(closure_for(opt, loss))
    assert torch.equal(w.detach(), start)


@pytest.mark.parametrize("name", METHODS)
def test_nonfinite_loss_at_start_raises_untouched(name):
    w = torch.ones(2, requires_grad=True)
    opt = make(name, [w])
    with pytest.raises(NonFiniteLossError, match="nothing was changed"):
        opt.step(closure_for(opt, lambda: (w * math.nan).sum()))
    assert torch.equal(w.detach(), torch.ones(2))


@pytest.mark.parametrize("name,kw,alt", [
    ("Newton", {}, "Newton\\(mode='cg'\\).*LBFGS"), ("BFGS", {}, "LBFGS")])
def test_dense_matrix_too_large_is_refused_before_allocating(name, kw, alt):
    w = torch.zeros(20000, dtype=torch.float64, requires_grad=True)  # H: 3.2 GB
    with pytest.raises(HessianMemoryError, match=rf"about [\d,]+ bytes.*{alt}"):
        make(name, [w], **kw)
    make(name, [w], max_hessian_bytes=10**13)  # allowed when asked: nothing allocated yet
    antigrad.Newton([w], mode="cg")  # Hessian-vector products need no dense matrix


def test_newton_on_indefinite_hessian_never_goes_uphill():
    """Saddle-rich Rosenbrock start has an indefinite Hessian; every variant descends."""
    for kw in ({}, dict(line_search_fn=None), dict(mode="cg"), dict(damping=1.0)):
        w = torch.tensor([-1.2, 1.0, 0.0, 0.5], dtype=torch.float64, requires_grad=True)
        opt = antigrad.Newton([w], max_iter=100, tolerance_change=0.0, **kw)
        opt.step(closure_for(opt, lambda w=w: extended_rosenbrock(w)))
        losses = opt.result.losses
        assert all(b <= a for a, b in zip(losses, losses[1:], strict=False)), kw
        assert losses[-1] < 1e-6 * losses[0], kw


def test_shifted_cholesky_gives_descent_direction():
    from antigrad.second_order.newton import shifted_cholesky_solve
    h = torch.tensor([[1.0, 0.0], [0.0, -2.0]], dtype=torch.float64)
    g = torch.tensor([1.0, 1.0], dtype=torch.float64)
    d, tau = shifted_cholesky_solve(h, g, 0.0)
    assert tau > 2 and float(g @ d) < 0
    d0, tau0 = shifted_cholesky_solve(h.abs(), g, 0.0)
    assert tau0 == 0 and torch.allclose(d0, -g / h.abs().diagonal())


def graph_point(params, fn):
    flat = FlatParams([{"params": params}], "test")
    return flat, flat.evaluate(fn, graph=True)


def test_hessian_and_diagonals_match_torch_func():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, generator=gen, dtype=torch.float64, requires_grad=True)

    def f(v):
        return (torch.sin(v[:12]) ** 2).sum() * v[12:].exp().sum() + (v[:5] * v[12:]).prod()

    def loss():
        return f(torch.cat([a.reshape(-1), b]))

    flat, p = graph_point([a, b], loss)
    ref = torch.func.hessian(f)(torch.cat([a.reshape(-1), b]).detach())
    torch.testing.assert_close(curvature.hessian(flat, p.grads), ref)
    torch.testing.assert_close(curvature.exact_diagonal(flat, p.grads), ref.diagonal())
    v = torch.randn(17, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(curvature.hvp(flat, p.grads, v), ref @ v)
    est = curvature.hutchinson_diagonal(flat, p.grads, 20000, torch.Generator().manual_seed(1))
    scale = float(ref.abs().max())
    assert float((est - ref.diagonal()).abs().max()) < 0.05 * scale


def test_hessian_of_linear_loss_is_zero():
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    flat, p = graph_point([w], lambda: (2 * w).sum())
    assert torch.equal(curvature.hessian(flat, p.grads), torch.zeros(3, 3, dtype=torch.float64))


def test_hutchinson_is_reproducible_and_seeded():
    runs = []
    for seed in (0, 0, 1):
        w = torch.tensor([-1.2, 1.0] * 5, dtype=torch.float64, requires_grad=True)
        opt = antigrad.DiagonalNewton([w], hessian="hutchinson", samples=1, seed=seed,
                                      max_iter=5)
        opt.step(closure_for(opt, lambda w=w: extended_rosenbrock(w)))
        runs.append(w.detach().clone())
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def two_loop(g, pairs):
    """N&W Algorithm 7.4, the textbook reference."""
    q, alphas = g.clone(), []
    for s, y in reversed(pairs):
        a = (s @ q) / (y @ s)
        alphas.append(a)
        q -= a * y
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), a in zip(pairs, reversed(alphas), strict=True):
        r += s * (a - (y @ r) / (y @ s))
    return r


@pytest.mark.parametrize("k", [1, 2, 5])
def test_compact_form_equals_two_loop_recursion(k):
    gen = torch.Generator().manual_seed(k)
    n = 9
    a = torch.randn(n, n, generator=gen, dtype=torch.float64)
    a = a @ a.T + torch.eye(n, dtype=torch.float64)
    pairs = [(s, a @ s) for s in torch.randn(k, n, generator=gen, dtype=torch.float64)]
    z = torch.stack([v for pair in pairs for v in pair])
    s, y = pairs[-1]
    g = torch.randn(n, generator=gen, dtype=torch.float64)
    got = compact_inverse_hessian_product(g, z, z @ z.T, float((s @ y) / (y @ y)))
    torch.testing.assert_close(got, two_loop(g, pairs), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("m", [1, 2, 3])
def test_lbfgs_history_window_matches_two_loop_over_many_iterations(m):
    """The sliding window (drop oldest, move to the buffer front) keeps the last m pairs."""
    gen = torch.Generator().manual_seed(m)
    n = 6
    a = torch.randn(n, n, generator=gen, dtype=torch.float64)
    a = a @ a.T + torch.eye(n, dtype=torch.float64)
    w = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    opt = antigrad.LBFGS([w], history_size=m, line_search_fn="strong_wolfe")
    state, pairs = {}, []
    for _ in range(4 * m + 3):
        s = torch.randn(n, generator=gen, dtype=torch.float64)
        opt.remember(state, s, a @ s, opt.defaults)
        pairs = (pairs + [(s, a @ s)])[-m:]
        g = torch.randn(n, generator=gen, dtype=torch.float64)
        from antigrad.second_order.flat import Point
        d, _ = opt.direction(Point(w.detach(), 0.0, g), state, opt.defaults, None)
        torch.testing.assert_close(-d, two_loop(g, pairs), rtol=1e-9, atol=1e-12)


def quad_phi(c):
    """phi(t) for f(x) = sum(c x^2) from x = 1 along d = -1 (minimum at t = 1)."""
    calls = []

    def phi(t, dd=None):
        x = torch.ones(2, dtype=torch.float64) * (1 - t)
        calls.append(t)
        from antigrad.second_order.flat import Point
        return Point(x, float((c * x * x).sum()), 2 * c * x)

    from antigrad.second_order.flat import Point
    p0 = Point(torch.ones(2, dtype=torch.float64), float(c.sum()),
               2 * c * torch.ones(2, dtype=torch.float64))
    return phi, p0, calls


def test_strong_wolfe_conditions_hold():
    c = torch.tensor([1.0, 3.0], dtype=torch.float64)
    d = -torch.ones(2, dtype=torch.float64)
    for t0 in (1e-3, 0.3, 1.0, 1.9, 50.0):
        phi, p0, calls = quad_phi(c)
        gtd0 = float(p0.g @ d)
        t, pt = ls.strong_wolfe(phi, p0, d, t0, gtd0)
        assert pt.f <= p0.f + 1e-4 * t * gtd0
        assert abs(float(pt.g @ d)) <= 0.9 * abs(gtd0)
        assert len(calls) <= 25


def test_backtracking_gives_sufficient_decrease():
    c = torch.tensor([1.0, 3.0], dtype=torch.float64)
    d = -torch.ones(2, dtype=torch.float64)
    phi, p0, calls = quad_phi(c)
    gtd0 = float(p0.g @ d)
    t, pt = ls.backtracking(phi, p0, d, 100.0, gtd0)
    assert 0 < t < 2 and pt.f <= p0.f + 1e-4 * t * gtd0


def test_cubic_min_is_exact_on_a_cubic():
    f = lambda t: t**3 - 3 * t  # noqa: E731  minimum at t = 1
    g = lambda t: 3 * t**2 - 3  # noqa: E731
    assert ls.cubic_min(0.0, f(0), g(0), 2.0, f(2), g(2), 0, 2) == pytest.approx(1.0)


@pytest.mark.parametrize("f,start", [
    # Moré, Garbow & Hillstrom problems 3 and 4: minimum 0
    (lambda x: (1e4 * x[0] * x[1] - 1) ** 2 + (torch.exp(-x[0]) + torch.exp(-x[1]) - 1.0001) ** 2,
     [0.0, 1.0]),
    (lambda x: (x[0] - 1e6) ** 2 + (x[1] - 2e-6) ** 2 + (x[0] * x[1] - 2) ** 2, [1.0, 1.0]),
], ids=["powell_badly_scaled", "brown_badly_scaled"])
def test_levenberg_marquardt_damping_falls_below_the_diagonal_floor(f, start):
    """The damping update starts from the damping that produced the step; restarting
    each iteration from max(shift, 1e-3 max|diag H|) stalled both (|g|inf 0.27 and 1e6
    after 300 iterations)."""
    w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = antigrad.Newton([w], line_search_fn=None, max_iter=300, max_eval=600,
                          tolerance_grad=1e-6, tolerance_change=0)
    opt.step(closure_for(opt, lambda: f(w)))
    assert opt.result.reason == "gradient" and opt.result.loss < 1e-12
