"""Trust-region Newton (Steihaug-CG with exact Hessian-vector products): known answers."""

from __future__ import annotations

import pytest
import scipy.optimize
import torch

import antigrad
from antigrad.second_order import SecondOrderOptimizer, TrustRegionNewton
from antigrad.second_order.trust_region import steihaug_cg, to_boundary
from second_order.so_problems import closure_for, extended_rosenbrock, rosenbrock_start


def test_quadratic_in_one_step():
    """With a radius that holds the minimiser and CG run to convergence, one iteration
    lands on A⁻¹b (SPEC L15's one-step property, kept inside a trust region)."""
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(20, 20, generator=gen, dtype=torch.float64)
    a = m @ m.T + 20 * torch.eye(20, dtype=torch.float64)
    b = torch.randn(20, generator=gen, dtype=torch.float64)
    w = torch.zeros(20, dtype=torch.float64, requires_grad=True)
    opt = SecondOrderOptimizer([w], TrustRegionNewton(trust_radius=1e3, cg_rtol=1e-14),
                               max_iter=1)
    opt.step(closure_for(opt, lambda: 0.5 * w @ a @ w - b @ w))
    assert opt.result.iterations == 1
    torch.testing.assert_close(w.detach(), torch.linalg.solve(a, b), rtol=1e-10, atol=0)


@pytest.mark.parametrize("n", [2, 100])
def test_rosenbrock_from_the_standard_start(n):
    w = rosenbrock_start(n).requires_grad_()
    opt = antigrad.Newton([w], mode="trust_region", max_iter=500, max_eval=1000,
                          tolerance_grad=1e-10)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    assert opt.result.reason == "gradient"
    torch.testing.assert_close(w.detach(), torch.ones(n, dtype=torch.float64))
    # every accepted step lowered the loss
    assert all(b < a for a, b in zip(opt.result.losses, opt.result.losses[1:], strict=False))


def test_as_few_iterations_as_scipy_trust_ncg_on_rosenbrock():
    """Same algorithm (Steihaug-CG, N&W Alg. 4.1 radius rule): within a few iterations of
    scipy's trust-ncg from (-1.2, 1)."""
    w = rosenbrock_start(2).requires_grad_()
    opt = antigrad.Newton([w], mode="trust_region", max_iter=500, tolerance_grad=1e-8)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    ref = scipy.optimize.minimize(scipy.optimize.rosen, [-1.2, 1.0], jac=scipy.optimize.rosen_der,
                                  hessp=scipy.optimize.rosen_hess_prod, method="trust-ncg",
                                  options=dict(gtol=1e-8))
    assert ref.success and opt.result.iterations <= ref.nit + 10


def test_steihaug_follows_negative_curvature_to_the_boundary():
    h = torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64))
    g = torch.tensor([1.0, 0.0], dtype=torch.float64)
    p, hp = steihaug_cg(g, lambda v: h @ v, radius=0.5, max_iter=10)
    assert float(p.norm()) == pytest.approx(0.5) and float(g @ p) < 0
    torch.testing.assert_close(hp, h @ p)
    # from a saddle point (g with no negative-curvature part) the interior step is exact
    p, _ = steihaug_cg(torch.tensor([0.1, 0.0], dtype=torch.float64), lambda v: h @ v,
                       radius=10.0, max_iter=10)
    torch.testing.assert_close(p, torch.tensor([-0.1, 0.0], dtype=torch.float64))


def test_to_boundary_lands_on_the_sphere():
    z = torch.tensor([0.3, 0.1], dtype=torch.float64)
    d = torch.tensor([1.0, 2.0], dtype=torch.float64)
    tau = to_boundary(z, d, 2.0)
    assert tau > 0 and float((z + tau * d).norm()) == pytest.approx(2.0)


def test_radius_is_kept_between_steps_and_in_the_state_dict():
    w = rosenbrock_start(2).requires_grad_()
    opt = antigrad.Newton([w], mode="trust_region", max_iter=1, trust_radius=0.01)
    opt.step(closure_for(opt, lambda: extended_rosenbrock(w)))
    radius = opt.state[w]["trust_radius"]
    assert radius == 0.02 and opt.state_dict()["state"][0]["trust_radius"] == radius


@pytest.mark.parametrize("arg,value", [("trust_radius", 0.0), ("eta", 0.9),
                                       ("max_trust_radius", -1.0), ("cg_rtol", 0.0)])
def test_invalid_options_name_argument_and_value(arg, value):
    with pytest.raises(ValueError, match=rf"Invalid {arg} value: {value}"):
        TrustRegionNewton(**{arg: value})
