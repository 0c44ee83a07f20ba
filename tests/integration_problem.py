"""The small regression problem the integration tests train with fit, Lightning and the
Hugging Face Trainer alike: same initial weights, same data in the same order."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

N_TRAIN, N_VAL, BATCH = 64, 32, 16       # 4 steps per epoch


def data() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N_TRAIN + N_VAL, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.3 * torch.randn(
        N_TRAIN + N_VAL, 1, generator=g)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def loaders() -> tuple[DataLoader, DataLoader]:
    x, y, xv, yv = data()
    return (DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=False),
            DataLoader(TensorDataset(xv, yv), batch_size=N_VAL, shuffle=False))


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(4, 1)
