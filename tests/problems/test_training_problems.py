"""Training problems: build, deterministic per seed, metrics and known optima, data cache."""

import re

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


# --- the MNIST-1D paper's four models and setup


@pytest.mark.parametrize("kind, weights", [("logistic", 410), ("mlp", 15_210),
                                           ("cnn", 5_210), ("gru", 5_134)])
def test_mnist1d_paper_models_have_the_papers_sizes(kind, weights):
    p = get_training_problem(f"mnist1d-paper-{kind}")
    model = p.make(0).model
    assert sum(q.numel() for q in model.parameters()) == weights  # as the repository prints
    assert (p.steps, p.batch_size, p.eval_every, p.shuffle) == (8000, 100, 250, False)
    assert model(torch.zeros(7, 40)).shape == (7, 10)


def test_mnist1d_paper_cnn_layers_and_residual_mlp():
    from antigrad.problems.models import ResidualMLP

    convs = [m for m in get_training_problem("mnist1d-paper-cnn").make(0).model.modules()
             if isinstance(m, torch.nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == \
        [(25, 5, 2, 1), (25, 3, 2, 1), (25, 3, 2, 1)]
    torch.manual_seed(0)
    m = ResidualMLP(4, 3, hidden=5)
    x = torch.randn(2, 4)
    h = m.inp(x).relu()
    assert torch.allclose(m(x), m.out(h + m.mid(h).relu()))
    assert not torch.allclose(m(x), m.out(m.mid(h).relu()))  # the skip connection counts


def test_mnist1d_paper_data_are_not_standardized():
    raw = get_training_problem("mnist1d-paper-mlp").make(0)
    std = get_training_problem("mnist1d-mlp").make(0)
    assert raw.x_train.shape == std.x_train.shape == (4000, 40)
    assert torch.equal(raw.y_train, std.y_train)
    mean, sd = raw.x_train.mean(0), raw.x_train.std(0)
    assert torch.allclose(std.x_train, (raw.x_train - mean) / sd, atol=1e-3)
    assert not torch.allclose(std.x_train, raw.x_train, atol=1e-2)


# --- a user's own problem from a module:function entry point

USER_TASKS = '''
import torch
from antigrad.problems import Task, TrainingProblem, accuracy, cross_entropy_loss

def make():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 6, generator=g)
    y = (x[:, 0] > 0).long()
    return TrainingProblem(
        name="two-blobs", metric="test accuracy", higher_is_better=True, target=0.9,
        steps=30, batch_size=16, eval_every=10,
        build=lambda seed: Task(torch.nn.Linear(6, 2), x[:90], y[:90], x[90:], y[90:],
                                cross_entropy_loss, accuracy))

PROBLEM = make()
not_a_problem = 42

def returns_a_dict():
    return {"model": None}

def raises():
    raise RuntimeError("no data here")
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "usertasks_tp.py").write_text(USER_TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "usertasks_tp"
    get_training_problem.cache_clear()


def test_user_problem_from_entry_point(user_module):
    p = get_training_problem(f"{user_module}:make")
    assert (p.name, p.title, p.steps, p.shuffle) == ("two-blobs", "two-blobs", 30, True)
    assert get_training_problem(f"{user_module}:PROBLEM").name == "two-blobs"
    task = p.make(0)
    assert task.metric(task.model, task.x_test, task.y_test) >= 0


@pytest.mark.parametrize("target, why", [
    ("no_such_module_xyz:make", "module 'no_such_module_xyz' not found"),
    ("{m}:mkae", "has no attribute 'mkae' (did you mean 'make'?)"),
    ("{m}:not_a_problem", "int is neither a function"),
    ("{m}:returns_a_dict", "it returned dict, not an antigrad.problems.TrainingProblem"),
    ("{m}:raises", "calling it failed: RuntimeError: no data here"),
    ("{m}:", "write it as module:attribute"),
])
def test_bad_entry_points_say_what_is_wrong(user_module, target, why):
    from antigrad.errors import EntryPointError

    with pytest.raises(EntryPointError, match=re.escape(why)) as err:
        get_training_problem(target.format(m=user_module))
    assert err.value.kind == "problem" and isinstance(err.value, ValueError)


@pytest.mark.parametrize("change, match", [
    ({"steps": 0}, "steps"), ({"target": float("nan")}, "target"),
    ({"build": 3}, "build"), ({"higher_is_better": 1}, "higher_is_better"),
    ({"name": ""}, "name"),
])
def test_training_problem_checks_its_fields(change, match):
    from antigrad.problems import TrainingProblem

    base = dict(name="p", metric="m", higher_is_better=True, target=1.0, build=lambda s: None)
    with pytest.raises((TypeError, ValueError), match=match):
        TrainingProblem(**{**base, **change})
