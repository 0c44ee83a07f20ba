"""Problems with known answers for the second-order tests (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch

import antigrad

METHODS = ["Newton", "DiagonalNewton", "BFGS", "LBFGS"]
LAM = 1e-3


def make(name: str, params, **kw):
    """The optimizer ``name``; LBFGS with the strong-Wolfe search unless told otherwise
    (its default is torch's fixed step) and checking non-finite values as the others do
    (its default is torch's: no check)."""
    if name != "LBFGS":
        return getattr(antigrad, name)(params, **kw)
    kw.setdefault("line_search_fn", "strong_wolfe")
    nonfinite = kw.pop("nonfinite", "raise")
    opt = antigrad.LBFGS(params, **kw)
    opt.nonfinite = nonfinite
    return opt


def closure_for(opt, loss_fn):
    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss
    return closure


def extended_rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """Moré, Garbow & Hillstrom problem 21: sum over pairs 100 (x2 - x1^2)^2 + (1 - x1)^2."""
    odd, even = x[0::2], x[1::2]
    return (100 * (even - odd**2) ** 2 + (1 - odd) ** 2).sum()


def rosenbrock_start(n: int) -> torch.Tensor:
    """The standard start (-1.2, 1, -1.2, 1, ...)."""
    x = torch.ones(n, dtype=torch.float64)
    x[0::2] = -1.2
    return x


@pytest.fixture(scope="session")
def cancer():
    from sklearn.datasets import load_breast_cancer
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return x, np.where(y == 1, 1.0, -1.0)


@pytest.fixture(scope="session")
def scipy_logreg(cancer):
    """The minimum of the logistic loss found by scipy's L-BFGS-B to |g|inf < 1e-10."""
    x, y = cancer
    xb = np.hstack([x, np.ones((len(y), 1))])
    reg = np.r_[np.full(x.shape[1], LAM), 0.0]

    def fun(v):
        z = y * (xb @ v)
        sig = 0.5 * (1 - np.tanh(0.5 * z))
        return (np.logaddexp(0, -z).mean() + 0.5 * (reg * v * v).sum(),
                xb.T @ (-y * sig) / len(y) + reg * v)

    r = scipy.optimize.minimize(fun, np.zeros(xb.shape[1]), jac=True, method="L-BFGS-B",
                                options=dict(gtol=1e-10, ftol=0, maxiter=10000))
    return r.fun, r.x


def logreg(cancer):
    """Parameters (w, b) at zero and the L2-regularised mean logistic loss (torch)."""
    x, y = (torch.tensor(a) for a in cancer)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)

    def loss():
        return torch.nn.functional.softplus(-y * (x @ w + b)).mean() + 0.5 * LAM * (w @ w)

    return [w, b], loss
