"""The small models of the benchmark problems: logistic regression, MLP, 1-D CNN, and the
four models of the MNIST-1D paper (linear, residual MLP, CNN, bidirectional GRU)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["logistic_regression", "mlp", "cnn1d", "LinearModel", "linear_classifier",
           "ResidualMLP", "conv_classifier", "GRUClassifier", "AddChannel"]


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


class AddChannel(nn.Module):
    """``(batch, length) -> (batch, 1, length)``: a signal as one input channel."""

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
        AddChannel(),
        nn.Conv1d(1, channels, kernel, stride=2, padding=pad), nn.ReLU(),
        nn.Conv1d(channels, channels, kernel, stride=2, padding=pad), nn.ReLU(),
        nn.Conv1d(channels, channels, kernel, stride=2, padding=pad), nn.ReLU(),
        nn.Flatten(), nn.Linear(channels * out_len, n_out),
    )


# --- The four models of the MNIST-1D paper (Greydanus & Kobak), as its repository's
# notebooks/models.py defines them: sizes, layers and torch's default initialization.


def linear_classifier(n_in: int, n_out: int) -> nn.Module:
    """Multinomial logistic regression: one linear layer to ``n_out`` logits."""
    return nn.Linear(n_in, n_out)


class ResidualMLP(nn.Module):
    """``h1 = relu(W1 x)``, ``h2 = h1 + relu(W2 h1)``, logits ``W3 h2``: two hidden layers of
    ``hidden`` units with a residual connection around the second (MNIST-1D's MLP)."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 100) -> None:
        super().__init__()
        self.inp, self.mid, self.out = (nn.Linear(n_in, hidden), nn.Linear(hidden, hidden),
                                        nn.Linear(hidden, n_out))

    def forward(self, x: Tensor) -> Tensor:
        h = self.inp(x).relu()
        return self.out(h + self.mid(h).relu())


def conv_classifier(length: int, n_out: int, channels: int = 25) -> nn.Module:
    """Three stride-2 convolutions (kernels 5, 3, 3; padding 1; ReLU) on a one-channel
    signal, flattened into a linear classifier (MNIST-1D's CNN: 5,210 weights at length 40).
    """
    out_len = length
    for kernel in (5, 3, 3):
        out_len = (out_len + 2 - kernel) // 2 + 1
    if out_len < 1:
        raise ValueError(f"Invalid length: {length} (too short for three stride-2 layers)")
    return nn.Sequential(
        AddChannel(),
        nn.Conv1d(1, channels, 5, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(channels * out_len, n_out),
    )


class GRUClassifier(nn.Module):
    """A bidirectional GRU over the signal, one value per time step, from a zero state; the
    outputs of every step (``2 * hidden`` each) flattened into a linear classifier
    (MNIST-1D's GRU: hidden size 6, 5,134 weights at length 40)."""

    def __init__(self, length: int, n_out: int, hidden: int = 6) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size=1, hidden_size=hidden, batch_first=True,
                          bidirectional=True)
        self.out = nn.Linear(2 * hidden * length, n_out)

    def forward(self, x: Tensor) -> Tensor:
        steps, _ = self.gru(x.unsqueeze(-1))  # (batch, length, 2 * hidden)
        return self.out(steps.flatten(1))
