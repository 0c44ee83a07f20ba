"""Synthetic stochastic problems with a known optimum.

- :func:`noisy_quadratic`: the 100-dimensional noisy quadratic of DeepOBS's
  ``quadratic_deep`` — ``l(w; x) = 1/2 (w - x)^T H (w - x)`` with ``x ~ N(0, 0.6^2 I)``;
  ``H = Q diag(lambda) Q^T`` has 90 eigenvalues in ``[0, 1]`` and 10 in ``[30, 60]``
  (a random rotation ``Q``), ``w_0 = 1``. Every minibatch gradient is noisy; the full
  loss is minimized by the data mean.
- :func:`noisy_least_squares`: linear regression ``y = X w* + sigma * noise``; the best
  achievable test mean squared error is about ``sigma^2`` (the noise floor).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .base import Task, TrainingProblem
from .models import LinearModel

__all__ = ["noisy_quadratic", "noisy_least_squares", "PointModel"]


class PointModel(nn.Module):
    """A model that *is* its weights: ``forward()`` returns the parameter vector ``w``."""

    def __init__(self, init: Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(init.clone())

    def forward(self, x: Tensor | None = None) -> Tensor:
        return self.w


def _quadratic_hessian(dim: int, rng: np.random.Generator) -> np.ndarray:
    n_big = dim // 10
    eig = np.concatenate([rng.uniform(0.0, 1.0, dim - n_big), rng.uniform(30.0, 60.0, n_big)])
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))  # uniformly distributed rotation
    return (q * eig) @ q.T


def noisy_quadratic(dim: int = 100, noise: float = 0.6, n: int = 1000) -> TrainingProblem:
    """DeepOBS-style noisy quadratic; metric: test loss, optimum: its minimum over ``w``."""
    rng = np.random.default_rng(42)
    H = torch.as_tensor(_quadratic_hessian(dim, rng), dtype=torch.float32)
    x_tr = torch.as_tensor(rng.normal(0.0, noise, (n, dim)), dtype=torch.float32)
    x_te = torch.as_tensor(rng.normal(0.0, noise, (n, dim)), dtype=torch.float32)
    zeros = torch.zeros(n, dtype=torch.int64)

    def loss(model: nn.Module, xb: Tensor, yb: Tensor) -> Tensor:
        d = model() - xb
        return 0.5 * ((d @ H) * d).sum(-1).mean()

    @torch.no_grad()
    def metric(model: nn.Module, x: Tensor, y: Tensor) -> float:
        return float(loss(model, x, y))

    optimum = metric(PointModel(x_te.mean(0)), x_te, zeros)

    def build(seed: int) -> Task:
        return Task(PointModel(torch.ones(dim)), x_tr, zeros, x_te, zeros, loss, metric)

    return TrainingProblem(
        name="noisy-quadratic", title=f"noisy quadratic, {dim}-D (DeepOBS quadratic_deep)",
        metric="test loss", higher_is_better=False, target=round(optimum * 1.02, 3),
        optimum=optimum, steps=400, batch_size=128, eval_every=20, build=build,
        notes="optimum: the test loss at the test mean; target: optimum + 2%",
    )


def noisy_least_squares(dim: int = 20, sigma: float = 0.5, n: int = 1000) -> TrainingProblem:
    """Least squares on ``y = X w* + sigma * noise``; metric: test MSE, optimum ``~sigma^2``."""
    rng = np.random.default_rng(7)
    w_star = rng.standard_normal(dim)

    def sample() -> tuple[Tensor, Tensor]:
        x = rng.standard_normal((n, dim))
        y = x @ w_star + sigma * rng.standard_normal(n)
        return (torch.as_tensor(x, dtype=torch.float32),
                torch.as_tensor(y, dtype=torch.float32))

    x_tr, y_tr = sample()
    x_te, y_te = sample()

    def loss(model: nn.Module, xb: Tensor, yb: Tensor) -> Tensor:
        return 0.5 * ((model(xb).squeeze(-1) - yb) ** 2).mean()

    @torch.no_grad()
    def metric(model: nn.Module, x: Tensor, y: Tensor) -> float:
        return float(((model(x).squeeze(-1) - y) ** 2).mean())

    def build(seed: int) -> Task:
        return Task(LinearModel(dim, bias=False), x_tr, y_tr, x_te, y_te, loss, metric)

    return TrainingProblem(
        name="noisy-least-squares", title=f"noisy least squares, {dim}-D, sigma={sigma:g}",
        metric="test mse", higher_is_better=False, target=round(1.1 * sigma**2, 4),
        optimum=sigma**2, steps=300, batch_size=32, eval_every=15, build=build,
        notes="optimum: the noise floor sigma^2; target: 1.1 sigma^2",
    )
