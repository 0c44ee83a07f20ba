"""Replicas: R runs trained as one batched model give the sequential runs' results."""

import math

import pytest
import torch

from antigrad.engine import native
from antigrad.lab import get_optimizer, train_run
from antigrad.lab.batched_model import BatchedForward
from antigrad.lab.optimizers import OptimizerSpec
from antigrad.lab.replicas import _Batched, train_replicas
from antigrad.problems import TrainingProblem, models
from lab.replica_problems import assert_runs_agree, relative_distance, tiny_mlp


def _problem(dtype: torch.dtype, built: list, make=None) -> TrainingProblem:
    return tiny_mlp(dtype, built, features=12, seed=5, steps=40, make=make)


def _both(dtype, spec, runs, make=None, **kw):
    """The replica runs and the sequential ones, with each run's final weights."""
    built: list = []
    problem = _problem(dtype, built, make)
    together = train_replicas(problem, spec, runs, **kw)
    batch_models = built[:]
    alone = [train_run(problem, spec, lr, seed, **kw) for lr, seed in runs]
    return together, alone, batch_models, built[len(runs):]


RUNS = [(0.05, 0), (0.2, 1), (0.05, 2), (0.01, 0)]


@pytest.mark.parametrize("name, runs", [
    ("momentum", RUNS), ("adam", [(lr / 10, s) for lr, s in RUNS]), ("sgd", RUNS[:2])])
def test_float64_runs_equal_the_sequential_runs(name, runs):
    together, alone, batch_models, seq_models = _both(torch.float64, get_optimizer(name),
                                                      runs, eval_every=10)
    for a, b, ma, mb in zip(together, alone, batch_models, seq_models, strict=True):
        assert (a.lr, a.seed, a.steps, a.diverged) == (b.lr, b.seed, b.steps, b.diverged)
        assert relative_distance(ma, mb) < 1e-10
        assert [s for s, _ in a.losses] == [s for s, _ in b.losses]
        assert all(math.isclose(u, v, rel_tol=1e-10) for (_, u), (_, v) in
                   zip(a.losses, b.losses, strict=True))
        assert [(s, m) for s, _, m in a.evals] == [(s, m) for s, _, m in b.evals]
        assert a.final_metric == b.final_metric and a.steps_to_target == b.steps_to_target
    # the runs differ from each other: each replica had its own seed, order and lr
    assert len({round(r.final_loss, 12) for r in together}) == len(runs)


#: Measured float32 gap between replica and sequential final weights (40 steps of the
#: tiny MLP, this CPU): 2e-8 to 1.5e-7 relative (the batched module computes each layer's
#: transposed output, its products sum in another order); a few float32 ulps per step on
#: other CPUs and BLAS builds too: the bound allows for that.
FLOAT32_BOUND = 1e-5


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_float32_runs_equal_the_sequential_runs_to_rounding(name):
    spec = get_optimizer(name)
    runs = [(lr / (10 if name == "adam" else 1), s) for lr, s in RUNS]
    together, alone, batch_models, seq_models = _both(torch.float32, spec, runs)
    assert_runs_agree(together, alone, batch_models, seq_models, FLOAT32_BOUND)


def test_a_diverging_replica_is_frozen_and_the_others_go_on():
    runs = [(0.05, 0), (500.0, 1), (0.1, 2)]
    together, alone, batch_models, seq_models = _both(torch.float64, get_optimizer("sgd"),
                                                      runs)
    assert [r.diverged for r in together] == [False, True, False]
    assert [r.diverged for r in alone] == [False, True, False]
    assert together[1].steps == alone[1].steps < 40 and together[0].steps == 40
    assert math.isnan(together[1].final_metric)
    for ma, mb in zip(batch_models, seq_models, strict=True):
        assert relative_distance(ma, mb) < 1e-10


def test_a_replica_whose_loss_explodes_stops_where_its_run_alone_does():
    # finite losses above divergence_factor x the first one (not NaN): lrs 5 and 10 stop
    # at steps 3 and 2, lr 3 rises to 1.23x its first loss and goes on
    runs = [(3.0, 0), (5.0, 0), (0.5, 1), (10.0, 0)]
    together, alone, batch_models, seq_models = _both(
        torch.float64, get_optimizer("sgd"), runs, divergence_factor=1.5, eval_every=1)
    assert [r.diverged for r in together] == [r.diverged for r in alone] == \
        [False, True, False, True]
    assert [r.steps for r in together] == [r.steps for r in alone] == [40, 3, 40, 2]
    for a, b in zip(together, alone, strict=True):
        assert [s for s, _ in a.losses] == [s for s, _ in b.losses]
        assert [s for s, _, _ in a.evals] == [s for s, _, _ in b.evals]
    for ma, mb in zip(batch_models, seq_models, strict=True):
        assert relative_distance(ma, mb) < 1e-10


def test_per_replica_hyperparameters_equal_runs_built_with_them():
    adam = get_optimizer("adam")
    built: list = []
    problem = _problem(torch.float64, built)
    together = train_replicas(problem, adam, [(0.01, 0), (0.01, 0)],
                              overrides=[{}, {"beta1": 0.5, "beta2": 0.9}])
    other = OptimizerSpec("adam-b", "Adam", "L12", adam.target, "adaptive",
                          kwargs={"beta1": 0.5, "beta2": 0.9})
    alone = [train_run(problem, adam, 0.01, 0), train_run(problem, other, 0.01, 0)]
    for ma, mb in zip(built[:2], built[2:], strict=True):
        assert relative_distance(ma, mb) < 1e-10
    assert together[0].final_loss != together[1].final_loss
    assert [r.final_metric for r in together] == [r.final_metric for r in alone]


def test_one_kernel_call_per_step_for_all_replicas(monkeypatch):
    calls = []
    real = native.Bound.__call__
    monkeypatch.setattr(native.Bound, "__call__",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    train_replicas(_problem(torch.float32, []), get_optimizer("adam"),
                   [(0.001 * (r + 1), r) for r in range(8)], steps=12)
    assert len(calls) == 12


@pytest.mark.parametrize("runs, kw, message", [
    ([], {}, "Invalid runs"),
    ([(0.0, 0)], {}, "Invalid lr"),
    ([(float("nan"), 0)], {}, "Invalid lr"),
    ([(0.1, -1)], {}, "Invalid seed"),
    ([(0.1, 0)], {"overrides": [{}, {}]}, "Invalid overrides"),
])
def test_bad_runs_are_refused_before_training(runs, kw, message):
    built: list = []
    with pytest.raises(ValueError, match=message):
        train_replicas(_problem(torch.float64, built), get_optimizer("sgd"), runs, **kw)
    assert built == []


@pytest.mark.parametrize("text", ["momentum@StepLR(step_size=10, gamma=0.5)",
                                  "momentum@OneCycleLR", "adam@cosine"])
def test_schedules_act_on_every_replica_s_own_lr(text):
    spec = get_optimizer(text)
    runs = [(0.01, 0), (0.03, 1)]
    together, alone, batch_models, seq_models = _both(torch.float64, spec, runs, steps=25)
    for a, b, ma, mb in zip(together, alone, batch_models, seq_models, strict=True):
        assert a.final_loss == pytest.approx(b.final_loss, rel=1e-10)
        assert relative_distance(ma, mb) < 1e-10


def test_methods_that_evaluate_the_loss_themselves_are_refused():
    with pytest.raises(ValueError, match="cannot train as replicas"):
        train_replicas(_problem(torch.float64, []), get_optimizer("antigrad:LBFGS"),
                       [(0.1, 0), (0.1, 1)], steps=3)


def _cnn():
    return models.cnn1d(12, 3, channels=4, kernel=3)


#: The model kinds of the equivalence tests below: an MLP and a 1-D CNN take the batched
#: module path (one baddbmm per linear layer, a convolution's columns times its weights),
#: the residual MLP (a forward of its own) takes vmap's.
KINDS = {"mlp": (lambda: models.mlp(12, [16, 16], 3), True), "cnn": (_cnn, True),
         "residual": (lambda: models.ResidualMLP(12, 3, hidden=8), False)}


def _count_batched_calls(monkeypatch) -> list:
    calls: list = []
    real = BatchedForward.activation  # what every batched forward pass runs
    monkeypatch.setattr(BatchedForward, "activation",
                        lambda self, *a: calls.append(1) or real(self, *a))
    return calls


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_forward_path_gives_the_sequential_runs_in_float64(kind, monkeypatch):
    make, batched = KINDS[kind]
    calls = _count_batched_calls(monkeypatch)
    runs = [(0.01, 0), (0.05, 1), (0.01, 2)]
    together, alone, batch_models, seq_models = _both(torch.float64, get_optimizer("adam"),
                                                      runs, make, steps=30, eval_every=10)
    assert (len(calls) > 30) == batched  # every step, and the evaluations, if batched
    for a, b, ma, mb in zip(together, alone, batch_models, seq_models, strict=True):
        assert (a.steps, a.diverged) == (b.steps, b.diverged) == (30, False)
        assert relative_distance(ma, mb) < 1e-10
        assert all(math.isclose(u, v, rel_tol=1e-10) for (_, u), (_, v) in
                   zip(a.losses, b.losses, strict=True))
        assert [(s, m) for s, _, m in a.evals] == [(s, m) for s, _, m in b.evals]


#: Measured float32 gap between the batched module's replicas and sequential runs (30
#: Adam steps, this CPU): MLP 1.0e-7 to 1.7e-7, CNN 1.0e-7 to 3.1e-7 relative (the
#: batched products sum in another order than one model's layers, and the loss of all
#: replicas at once sums each minibatch in another order); the bound allows a few
#: float32 ulps per step.
FLOAT32_PATH_BOUND = 1e-5


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_the_batched_module_gives_the_sequential_runs_in_float32(kind, monkeypatch):
    calls = _count_batched_calls(monkeypatch)
    runs = [(0.01, 0), (0.05, 1), (0.01, 2)]
    together, alone, batch_models, seq_models = _both(torch.float32, get_optimizer("adam"),
                                                      runs, KINDS[kind][0], steps=30)
    assert len(calls) > 30
    assert_runs_agree(together, alone, batch_models, seq_models, FLOAT32_PATH_BOUND)


def test_a_diverging_cnn_replica_is_frozen_and_the_others_go_on():
    runs = [(0.05, 0), (1e4, 1), (0.1, 2)]
    together, alone, batch_models, seq_models = _both(torch.float64, get_optimizer("sgd"),
                                                      runs, _cnn)
    assert [r.diverged for r in together] == [r.diverged for r in alone] == [False, True, False]
    assert together[1].steps == alone[1].steps < 40
    for ma, mb in zip(batch_models, seq_models, strict=True):
        assert relative_distance(ma, mb) < 1e-10


def test_replicas_gradients_are_written_into_the_same_buffers_every_step():
    problem = _problem(torch.float64, [])
    tasks = [problem.make(seed) for seed in range(3)]
    batched, task = _Batched(tasks), tasks[0]
    xb, yb = task.x_train[:8].expand(3, 8, -1), task.y_train[:8].expand(3, 8)
    first = batched.backward(batched.losses(task.loss, xb, yb).sum())
    rows = [[view.grad for view in views] for views in batched.views]
    with torch.no_grad():  # other weights: other gradients, into the same tensors
        for w in batched.weights.values():
            w.mul_(1.5)
    second = batched.backward(batched.losses(task.loss, xb, yb).sum())
    assert [g.data_ptr() for g in second] == [g.data_ptr() for g in first]
    for r, views in enumerate(batched.views):
        for k, view in enumerate(views):
            assert view.grad is rows[r][k] and torch.equal(view.grad, second[k][r])
    # the buffers hold this step's gradients, autograd's own
    expected = torch.autograd.grad(batched.losses(task.loss, xb, yb).sum(),
                                   list(batched.weights.values()))
    assert all(torch.equal(g, e) for g, e in zip(second, expected, strict=True))


def _losses_and_vmap_calls(loss, yb_edit=None, monkeypatch=None):
    from antigrad.lab import replicas

    problem = _problem(torch.float64, [])
    tasks = [problem.make(seed) for seed in range(3)]
    batched, task = _Batched(tasks), tasks[0]
    idx = torch.stack([torch.randperm(len(task.x_train))[:8] for _ in range(3)])
    xb, yb = replicas._gather(task.x_train, idx), replicas._gather(task.y_train, idx)
    if yb_edit is not None:
        yb = yb_edit(yb.clone())
    calls: list = []
    real = replicas.vmap
    monkeypatch.setattr(replicas, "vmap", lambda *a, **k: calls.append(1) or real(*a, **k))
    fast = batched.losses(loss, xb, yb)
    want = batched._vmap_losses(loss, xb, yb)
    return fast, want, len(calls) - 1  # less the reference's own


def _ignore_some(yb):
    yb[1, :3] = -100  # torch's default ignore_index: the mean is over the other targets
    return yb


@pytest.mark.parametrize("edit", [None, _ignore_some])
def test_the_standard_cross_entropy_is_computed_for_every_replica_without_vmap(edit,
                                                                               monkeypatch):
    from antigrad.problems import cross_entropy_loss

    fast, want, calls = _losses_and_vmap_calls(cross_entropy_loss, edit, monkeypatch)
    assert calls == 0
    assert torch.allclose(fast, want, rtol=1e-13, atol=0)
    # the same loss wrapped in a function of the user's own: vmap, the same numbers
    fast, want, calls = _losses_and_vmap_calls(
        lambda model, x, y: cross_entropy_loss(model, x, y), edit, monkeypatch)
    assert calls == 1 and torch.allclose(fast, want, rtol=1e-13, atol=0)


def test_the_minibatch_gather_equals_indexing():
    from antigrad.lab.replicas import _gather

    x, y = torch.randn(50, 3, 4), torch.randint(0, 5, (50,))
    idx = torch.randint(0, 50, (6, 9))[:, 2:7]  # a slice, as the draws hand it over
    assert torch.equal(_gather(x, idx), x[idx]) and torch.equal(_gather(y, idx), y[idx])
