"""What the tests of runs trained as replicas share: a small MLP problem whose built models
stay inspectable, the comparison of two models' weights and of two lists of runs, and a
count of the batches."""

import torch

from antigrad.lab import batching
from antigrad.problems import Task, TrainingProblem, accuracy, cross_entropy_loss, models


def tiny_mlp(dtype: torch.dtype, built: list, features: int, seed: int,
             steps: int, make=None) -> TrainingProblem:
    """A small MLP problem (``features`` inputs, data drawn from ``seed``) in ``dtype``
    whose built models are kept in ``built`` (they hold each run's final weights
    afterwards); ``make()``, if given, builds another model of ``features`` inputs and 3
    classes instead of the MLP."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(300, features, generator=gen, dtype=dtype)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 1).long()

    def build(seed: int) -> Task:
        model = (models.mlp(features, [16, 16], 3) if make is None else make()).to(dtype)
        built.append(model)
        return Task(model, x[:200], y[:200], x[200:], y[200:], cross_entropy_loss, accuracy)

    return TrainingProblem(name="tiny-mlp", build=build, metric="test accuracy",
                           higher_is_better=True, target=0.9, steps=steps, batch_size=32,
                           eval_every=10)


def relative_distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """``||w_a - w_b|| / ||w_b||`` over all the weights of two models."""
    wa, wb = (torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in (a, b))
    return float((wa - wb).norm() / wb.norm())


def assert_runs_agree(together, alone, batch_models, seq_models, bound: float) -> None:
    """Each batched run took as many steps as its sequential twin and diverged alike, and
    its model's weights are within ``bound`` (relative) of the twin's."""
    for a, b, ma, mb in zip(together, alone, batch_models, seq_models, strict=True):
        assert (a.steps, a.diverged) == (b.steps, b.diverged)
        assert relative_distance(ma, mb) < bound


def count_batches(monkeypatch) -> list[int]:
    """The sizes of the batches of replicas trained from now on, in order."""
    sizes: list[int] = []
    real = batching.train_batch

    def counting(problem, requests, **kw):
        sizes.append(len(requests))
        return real(problem, requests, **kw)

    monkeypatch.setattr(batching, "train_batch", counting)
    return sizes
