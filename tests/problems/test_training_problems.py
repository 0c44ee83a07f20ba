"""Training problems: build, deterministic per seed, metrics and known optima, data cache."""

import numpy as np
import pytest
import torch

from antigrad.problems import (
    DEFAULT_PROBLEM,
    UnknownNameError,
    datasets,
    get_problem,
    get_training_problem,
    problem_names,
    training_problem_names,
)
from antigrad.problems.stochastic import PointModel


@pytest.mark.parametrize("name", training_problem_names())
def test_builds_with_finite_loss_and_metric(name):
    p = get_training_problem(name)
    task = p.make(0)
    assert len(task.x_train) == len(task.y_train) > len(task.x_test) / 2
    loss = task.loss(task.model, task.x_train[:16], task.y_train[:16])
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(q.grad is not None for q in task.model.parameters())
    value = task.metric(task.model, task.x_test, task.y_test)
    assert np.isfinite(value)
    if p.metric.endswith("accuracy"):
        assert 0 <= value <= 1 and p.higher_is_better
        assert not p.reached(0.0) and p.reached(1.0)
    assert p.steps >= 1 and p.batch_size >= 1 and p.eval_every >= 1


def test_seed_sets_initial_weights():
    p = get_training_problem("digits-mlp")
    a, b, c = (torch.cat([q.flatten() for q in p.make(s).model.parameters()]) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="seed"):
        p.make(-1)


def test_noisy_quadratic_optimum_is_the_test_mean():
    p = get_training_problem("noisy-quadratic")
    task = p.make(0)
    best = task.metric(PointModel(task.x_test.mean(0)), task.x_test, task.y_test)
    assert best == pytest.approx(p.optimum, rel=1e-5)
    moved = task.metric(PointModel(task.x_test.mean(0) + 0.05), task.x_test, task.y_test)
    assert moved > best and task.metric(task.model, task.x_test, task.y_test) > p.target > best
    assert task.x_train.shape == (1000, 100)


def test_noisy_least_squares_optimum_is_noise_floor():
    p = get_training_problem("noisy-least-squares")
    task = p.make(0)
    sol = torch.linalg.lstsq(task.x_train.double(), task.y_train.double()[:, None]).solution
    with torch.no_grad():
        task.model.linear.weight.copy_(sol.T.float())
    mse = task.metric(task.model, task.x_test, task.y_test)
    assert mse == pytest.approx(p.optimum, rel=0.2) and p.reached(mse)


def test_mnist1d_generated_offline_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIGRAD_CACHE", str(tmp_path))
    datasets.mnist1d.cache_clear()
    try:
        state = np.random.get_state()
        x, y, xt, yt = datasets.mnist1d()
        assert (tmp_path / "mnist1d.npz").exists()
        assert np.array_equal(np.random.get_state()[1], state[1])  # global RNG untouched
        assert x.shape == (4000, 40) and xt.shape == (1000, 40)
        assert set(y.unique().tolist()) == set(range(10))
        assert abs(float(x.mean())) < 1e-3 and float(x.std()) == pytest.approx(1, abs=0.02)
        datasets.mnist1d.cache_clear()
        x2, *_ = datasets.mnist1d()  # from the cache file
        assert torch.equal(x, x2)
    finally:
        datasets.mnist1d.cache_clear()


def test_cache_dir_respects_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ANTIGRAD_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert datasets.cache_dir() == tmp_path / "antigrad"


def test_registry_names_and_errors():
    assert DEFAULT_PROBLEM in training_problem_names()
    assert set(training_problem_names()) < set(problem_names())
    assert get_problem("rosenbrock").name == "rosenbrock"
    with pytest.raises(UnknownNameError, match="choose from: .*mnist1d-mlp") as err:
        get_problem("mnist2d")
    assert err.value.name == "mnist2d" and "rosenbrock" in err.value.choices
    with pytest.raises(UnknownNameError, match="noisy-quadratic"):
        get_training_problem("rosenbrock")
