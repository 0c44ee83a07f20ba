"""The small models of the benchmark problems: logistic regression, MLP, 1-D CNN."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["logistic_regression", "mlp", "cnn1d", "LinearModel"]


class LinearModel(nn.Module):
    """``x -> x @ w (+ b)``, one output; the model of logistic and least-squares regression."""

    def __init__(self, n_features: int, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


def logistic_regression(n_features: int) -> nn.Module:
    """A linear model whose single logit feeds a sigmoid / BCE loss."""
    return LinearModel(n_features)


def mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Module:
    """A ReLU multilayer perceptron ``n_in -> hidden... -> n_out``."""
    if n_in < 1 or n_out < 1 or any(h < 1 for h in hidden):
        raise ValueError(f"Invalid layer sizes: {n_in}, {list(hidden)}, {n_out} (must be >= 1)")
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class _Channel(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(1)


def cnn1d(length: int, n_out: int, channels: int = 16, kernel: int = 5) -> nn.Module:
    """A small 1-D CNN: three stride-2 convolutions, then a linear classifier.

    Input ``(batch, length)``; output ``(batch, n_out)`` logits.
    """
    if length < 8:
        raise ValueError(f"Invalid length: {length} (must be >= 8)")
    pad = kernel // 2
    out_len = length
    for _ in range(3):
        out_len = (out_len + 2 * pad - kernel) // 2 + 1
    return nn.Sequential(
        _Channel(),
        nn.Conv1d(1, channels, kernel, stride=2, padding=pad), nn.ReLU(),
        nn.Conv1d(channels, channels, kernel, stride=2, padding=pad), nn.ReLU(),
        nn.Conv1d(channels, channels, kernel, stride=2, padding=pad), nn.ReLU(),
        nn.Flatten(), nn.Linear(channels * out_len, n_out),
    )
