"""Real data with small models: the problems ``antigrad compare`` is meant for.

================  ===========================  ===============  ======
name              model                        metric           target
================  ===========================  ===============  ======
breast-cancer     logistic regression          test accuracy    0.95
digits-mlp        MLP 64-64-10                 test accuracy    0.95
mnist1d-mlp       MLP 40-100-100-10            test accuracy    0.60
mnist1d-cnn       1-D CNN, 3 conv layers       test accuracy    0.70
================  ===========================  ===============  ======

Accuracy's optimum is 1.0 in principle; no better value is known for these splits.
"""

from __future__ import annotations

from torch import Tensor, nn

from . import datasets
from .base import Task, TrainingProblem, accuracy, cross_entropy_loss
from .models import cnn1d, logistic_regression, mlp

__all__ = ["breast_cancer_logreg", "digits_mlp", "mnist1d_mlp", "mnist1d_cnn"]


def _bce(model: nn.Module, xb: Tensor, yb: Tensor) -> Tensor:
    return nn.functional.binary_cross_entropy_with_logits(model(xb).squeeze(-1), yb.float())


def breast_cancer_logreg() -> TrainingProblem:
    """Logistic regression on scikit-learn's breast cancer data (30 features, 2 classes)."""

    def build(seed: int) -> Task:
        x, y, xt, yt = datasets.breast_cancer()
        return Task(logistic_regression(x.shape[1]), x, y, xt, yt, _bce, accuracy)

    return TrainingProblem(
        name="breast-cancer", title="logistic regression, breast cancer (scikit-learn)",
        metric="test accuracy", higher_is_better=True, target=0.95, optimum=None,
        steps=300, batch_size=32, eval_every=15, build=build,
        notes="convex: one optimum of the loss (L17); target 95% accuracy",
    )


def digits_mlp() -> TrainingProblem:
    """A one-hidden-layer MLP on scikit-learn's 8x8 digits (64 features, 10 classes)."""

    def build(seed: int) -> Task:
        x, y, xt, yt = datasets.digits()
        return Task(mlp(64, [64], 10), x, y, xt, yt, cross_entropy_loss, accuracy)

    return TrainingProblem(
        name="digits-mlp", title="MLP 64-64-10, digits (scikit-learn)",
        metric="test accuracy", higher_is_better=True, target=0.95, optimum=None,
        steps=400, batch_size=64, eval_every=20, build=build,
        notes="target 95% accuracy",
    )


def mnist1d_mlp() -> TrainingProblem:
    """A two-hidden-layer MLP on MNIST-1D (generated offline); the default of ``compare``."""

    def build(seed: int) -> Task:
        x, y, xt, yt = datasets.mnist1d()
        return Task(mlp(40, [100, 100], 10), x, y, xt, yt, cross_entropy_loss, accuracy)

    return TrainingProblem(
        name="mnist1d-mlp", title="MLP 40-100-100-10, MNIST-1D",
        metric="test accuracy", higher_is_better=True, target=0.60, optimum=None,
        steps=1500, batch_size=128, eval_every=50, build=build,
        notes="MLPs reach ~0.6-0.7 (they overfit); target 60%",
    )


def mnist1d_cnn() -> TrainingProblem:
    """A small 1-D CNN on MNIST-1D (generated offline)."""

    def build(seed: int) -> Task:
        x, y, xt, yt = datasets.mnist1d()
        return Task(cnn1d(40, 10), x, y, xt, yt, cross_entropy_loss, accuracy)

    return TrainingProblem(
        name="mnist1d-cnn", title="1-D CNN (3 conv layers), MNIST-1D",
        metric="test accuracy", higher_is_better=True, target=0.70, optimum=None,
        steps=800, batch_size=128, eval_every=50, build=build,
        notes="CNNs exploit translation: ~0.9 with long training; target 70%",
    )
