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

The MNIST-1D paper's four models (Greydanus & Kobak, "Scaling down deep learning with
MNIST-1D", ICML 2024), as its repository defines them (``notebooks/models.py``) with its
training setup (``notebooks/train.py``): the data as generated (not standardized), batches
of 100 walked in the stored order (no reshuffling), 8000 steps, the metric every 250 steps.
The paper trains them with Adam at lr 0.01 (``-o torch:Adam --lr 0.01``); each target is
the test accuracy the paper reports.

=======================  ================================================  =======  ======
name                     model                                             weights  target
=======================  ================================================  =======  ======
mnist1d-paper-logistic   linear 40 -> 10                                   410      0.32
mnist1d-paper-mlp        40 -> 100 -> 100 (residual) -> 10, ReLU           15,210   0.68
mnist1d-paper-cnn        conv 25 ch, kernels 5/3/3, stride 2 -> linear     5,210    0.94
mnist1d-paper-gru        bidirectional GRU, hidden 6 -> linear             5,134    0.91
=======================  ================================================  =======  ======
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from . import datasets
from .base import LossFn, Task, TrainingProblem, accuracy, cross_entropy_loss
from .models import (
    GRUClassifier,
    ResidualMLP,
    cnn1d,
    conv_classifier,
    linear_classifier,
    logistic_regression,
    mlp,
)

__all__ = ["breast_cancer_logreg", "digits_mlp", "mnist1d_mlp", "mnist1d_cnn",
           "MNIST1D_PAPER", "mnist1d_paper"]


def _bce(model: nn.Module, xb: Tensor, yb: Tensor) -> Tensor:
    return nn.functional.binary_cross_entropy_with_logits(model(xb).squeeze(-1), yb.float())


def _accuracy_problem(name: str, title: str, data: Callable[[], tuple[Tensor, ...]],
                      model: Callable[[int], nn.Module], *, target: float, steps: int,
                      batch_size: int, eval_every: int, notes: str,
                      loss: LossFn = cross_entropy_loss, shuffle: bool = True
                      ) -> TrainingProblem:
    """A classification problem scored by test accuracy; ``model(n_features)`` builds the
    network on the data ``data() -> (x, y, x_test, y_test)``."""

    def build(seed: int) -> Task:
        x, y, xt, yt = data()
        return Task(model(x.shape[1]), x, y, xt, yt, loss, accuracy)

    return TrainingProblem(
        name=name, title=title, metric="test accuracy", higher_is_better=True, target=target,
        optimum=None, steps=steps, batch_size=batch_size, eval_every=eval_every, build=build,
        notes=notes, shuffle=shuffle,
    )


def breast_cancer_logreg() -> TrainingProblem:
    """Logistic regression on scikit-learn's breast cancer data (30 features, 2 classes)."""
    return _accuracy_problem(
        "breast-cancer", "logistic regression, breast cancer (scikit-learn)",
        datasets.breast_cancer, logistic_regression, loss=_bce, target=0.95, steps=300,
        batch_size=32, eval_every=15,
        notes="convex: one optimum of the loss (L17); target 95% accuracy")


def digits_mlp() -> TrainingProblem:
    """A one-hidden-layer MLP on scikit-learn's 8x8 digits (64 features, 10 classes)."""
    return _accuracy_problem(
        "digits-mlp", "MLP 64-64-10, digits (scikit-learn)", datasets.digits,
        lambda d: mlp(d, [64], 10), target=0.95, steps=400, batch_size=64, eval_every=20,
        notes="target 95% accuracy")


def mnist1d_mlp() -> TrainingProblem:
    """A two-hidden-layer MLP on MNIST-1D (generated offline); the default of ``compare``."""
    return _accuracy_problem(
        "mnist1d-mlp", "MLP 40-100-100-10, MNIST-1D", datasets.mnist1d,
        lambda d: mlp(d, [100, 100], 10), target=0.60, steps=1500, batch_size=128,
        eval_every=50, notes="MLPs reach ~0.6-0.7 (they overfit); target 60%")


def mnist1d_cnn() -> TrainingProblem:
    """A small 1-D CNN on MNIST-1D (generated offline)."""
    return _accuracy_problem(
        "mnist1d-cnn", "1-D CNN (3 conv layers), MNIST-1D", datasets.mnist1d,
        lambda d: cnn1d(d, 10), target=0.70, steps=800, batch_size=128, eval_every=50,
        notes="CNNs exploit translation: ~0.9 with long training; target 70% (the "
              "paper's CNN: mnist1d-paper-cnn)")


def _raw_mnist1d() -> tuple[Tensor, ...]:
    return datasets.mnist1d(standardize=False)


#: The paper's models by kind: ``(title, model(n_features), reported test accuracy)``.
MNIST1D_PAPER: dict[str, tuple[str, Callable[[int], nn.Module], float]] = {
    "logistic": ("logistic regression 40-10", lambda d: linear_classifier(d, 10), 0.32),
    "mlp": ("MLP 40-100-100-10, residual", lambda d: ResidualMLP(d, 10), 0.68),
    "cnn": ("CNN, 25 channels, kernels 5/3/3", lambda d: conv_classifier(d, 10), 0.94),
    "gru": ("bidirectional GRU, hidden 6", lambda d: GRUClassifier(d, 10), 0.91),
}


def mnist1d_paper(kind: str) -> TrainingProblem:
    """One of the MNIST-1D paper's four models with its data and batches (module doc)."""
    title, model, reported = MNIST1D_PAPER[kind]
    return _accuracy_problem(
        f"mnist1d-paper-{kind}", f"{title}, MNIST-1D (the paper's setup)", _raw_mnist1d,
        model, target=reported, steps=8000, batch_size=100, eval_every=250, shuffle=False,
        notes=f"Greydanus & Kobak's model and setup; target: the paper's {reported:.0%} "
              "(trained with Adam, lr 0.01)")
