"""Properties every method must have, checked on many random problems (hypothesis)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import antigrad
from antigrad import textbook as tb

METHODS = {
    "SGD": lambda p, lr: antigrad.SGD(p, lr=lr),
    "SGD+momentum": lambda p, lr: antigrad.SGD(p, lr=lr, momentum=0.9),
    "SGD+nesterov": lambda p, lr: antigrad.SGD(p, lr=lr, momentum=0.9, nesterov=True),
    "Adagrad": lambda p, lr: antigrad.Adagrad(p, lr=lr),
    "RMSprop": lambda p, lr: antigrad.RMSprop(p, lr=lr),
    "RMSprop+centered": lambda p, lr: antigrad.RMSprop(p, lr=lr, centered=True, momentum=0.5),
    "Adam": lambda p, lr: antigrad.Adam(p, lr=lr),
    "Adam+amsgrad": lambda p, lr: antigrad.Adam(p, lr=lr, amsgrad=True),
    "AdamW": lambda p, lr: antigrad.AdamW(p, lr=lr, weight_decay=0.0),
    "NAdam": lambda p, lr: antigrad.NAdam(p, lr=lr),
    "textbook.SGD": lambda p, lr: tb.SGD(p, lr=lr),
    "textbook.Momentum": lambda p, lr: tb.Momentum(p, lr=lr),
    "textbook.Nesterov": lambda p, lr: tb.Nesterov(p, lr=lr),
    "textbook.AdaGrad": lambda p, lr: tb.AdaGrad(p, lr=lr),
    "textbook.RMSprop": lambda p, lr: tb.RMSprop(p, lr=lr),
    "textbook.AdamSimple": lambda p, lr: tb.AdamSimple(p, lr=lr),
    "textbook.Adam": lambda p, lr: tb.Adam(p, lr=lr),
    "textbook.Nadam": lambda p, lr: tb.Nadam(p, lr=lr),
    "textbook.AdamW": lambda p, lr: tb.AdamW(p, lr=lr, weight_decay=0.0),
}


def quadratic(seed: int, dim: int):
    """f(w) = (w - w*)' A (w - w*) / 2 with eigenvalues in [0.5, 4], and a start 1-3 away."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    eig = 0.5 + 3.5 * torch.rand(dim, generator=g, dtype=torch.float64)
    A = q @ torch.diag(eig) @ q.T
    w_star = torch.randn(dim, generator=g, dtype=torch.float64)
    d = torch.randn(dim, generator=g, dtype=torch.float64)
    w0 = w_star + d / d.norm() * (1 + 2 * torch.rand((), generator=g, dtype=torch.float64))
    return (lambda w: 0.5 * (w - w_star) @ A @ (w - w_star)), w0


@pytest.mark.parametrize("method", list(METHODS))
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dim=st.integers(1, 16),
       lr=st.floats(1e-5, 1e-3))
def test_one_small_step_decreases_a_convex_quadratic(method, seed, dim, lr):
    f, w0 = quadratic(seed, dim)
    w = torch.nn.Parameter(w0.clone())
    opt = METHODS[method]([w], lr)
    opt.zero_grad()
    loss = f(w)
    loss.backward()
    if method == "textbook.Nesterov":  # gradient at the look-ahead point, via a closure

        def closure():
            opt.zero_grad()
            value = f(w)
            value.backward()
            return value

        opt.step(closure)
    else:
        opt.step()
    assert f(w.detach()) < loss.detach()


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "NAdam"])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dim=st.integers(1, 8))
def test_maximize_climbs(name, seed, dim):
    f, w0 = quadratic(seed, dim)
    w = torch.nn.Parameter(w0.clone())
    opt = getattr(antigrad, name)([w], lr=1e-4, maximize=True)
    loss = f(w)
    loss.backward()
    opt.step()
    assert f(w.detach()) > loss.detach()
