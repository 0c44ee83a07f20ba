"""run_many: runs of several optimizers, lrs, seeds and hyperparameters trained as one batch
of replicas give the sequential runs' results; what cannot batch runs alone, in place."""

import math

import pytest
import torch

from antigrad.engine import native
from antigrad.lab import RunRequest, get_optimizer, run_many, train_run
from antigrad.lab.batching import plan_batches
from antigrad.problems import TrainingProblem
from lab.replica_problems import (
    assert_runs_agree,
    count_batches,
    relative_distance,
    tiny_mlp,
)

USER_CHAIN = '''
from antigrad import transforms as T

momentum_chain = T.chain(T.trace(), T.descend())
'''


@pytest.fixture
def user_chain(tmp_path, monkeypatch):
    (tmp_path / "userchain_batching.py").write_text(USER_CHAIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "userchain_batching:momentum_chain"


def _problem(dtype: torch.dtype, built: list) -> TrainingProblem:
    return tiny_mlp(dtype, built, features=10, seed=7, steps=30)


def _mixed(chain: str) -> list[RunRequest]:
    """Textbook classes, antigrad's and torch's classes, a user's chain, a schedule; lrs,
    seeds and per-run hyperparameters all differ; one run diverges."""
    spec = get_optimizer
    return [
        RunRequest(spec("momentum"), 0.05, 0),
        RunRequest(spec("adam"), 0.01, 1, "tune"),
        RunRequest(spec("adam"), 0.01, 1, overrides={"beta1": 0.7, "beta2": 0.99}),
        RunRequest(spec("antigrad:AdamW(weight_decay=0.1)"), 0.003, 2),
        RunRequest(spec("antigrad:AdamW(weight_decay=0.1)"), 0.01, 0,
                   overrides={"weight_decay": 0.0, "betas": (0.8, 0.95)}),
        RunRequest(spec("torch:SGD(momentum=0.9, nesterov=True)"), 0.02, 3),
        RunRequest(spec("torch:SGD(momentum=0.9, nesterov=True)"), 0.02, 3,
                   overrides={"momentum": 0.5, "weight_decay": 0.01}),
        RunRequest(spec("torch:Adam"), 0.005, 4, overrides={"betas": (0.8, 0.99)}),
        RunRequest(spec(chain), 0.05, 5),
        RunRequest(spec("adam@cosine"), 0.02, 6),
        RunRequest(spec("sgd"), 500.0, 1),  # diverges
    ]


def _both(dtype, requests, monkeypatch):
    """The requests as one batch (checked to be one) and one by one, with the models."""
    sizes = count_batches(monkeypatch)
    built: list = []
    problem = _problem(dtype, built)
    together = run_many(problem, requests)
    assert sizes == [len(requests)]
    batch_models = built[-len(requests):]  # (the model checked for batching came first)
    alone = [train_run(problem, q.spec, q.lr, q.seed, phase=q.phase, overrides=q.overrides)
             for q in requests]
    return together, alone, batch_models, built[-len(requests):]


def test_float64_mixed_optimizers_in_one_batch_equal_the_sequential_runs(monkeypatch,
                                                                         user_chain):
    requests = _mixed(user_chain)
    together, alone, batch_models, seq_models = _both(torch.float64, requests, monkeypatch)
    for q, a, b, ma, mb in zip(requests, together, alone, batch_models, seq_models,
                               strict=True):
        assert (a.optimizer, a.lr, a.seed, a.phase) == (q.spec.name, q.lr, q.seed, q.phase)
        assert (a.steps, a.diverged) == (b.steps, b.diverged)
        assert relative_distance(ma, mb) < 1e-10
        assert all(math.isclose(u, v, rel_tol=1e-10) for (_, u), (_, v) in
                   zip(a.losses, b.losses, strict=True))
        assert [(s, m) for s, _, m in a.evals] == [(s, m) for s, _, m in b.evals]
    assert [r.diverged for r in together] == [False] * 10 + [True]
    # overrides changed the runs: same spec, lr and seed, other hyperparameters
    for i, j in ((1, 2), (5, 6)):
        assert together[i].final_loss != together[j].final_loss


#: Measured float32 gap between batched and sequential final weights of the mixed batch
#: (30 steps, this CPU): 8e-8 relative; other CPUs and BLAS builds may round batched
#: matrix products otherwise, by a few ulps per step: the bound allows for that.
FLOAT32_BOUND = 1e-5


def test_float32_mixed_optimizers_in_one_batch_equal_the_sequential_runs_to_rounding(
        monkeypatch, user_chain):
    requests = _mixed(user_chain)[:-1]
    together, alone, batch_models, seq_models = _both(torch.float32, requests, monkeypatch)
    assert_runs_agree(together, alone, batch_models, seq_models, FLOAT32_BOUND)


def test_one_kernel_call_per_optimizer_per_step(monkeypatch):
    calls = []
    real = native.Bound.__call__
    monkeypatch.setattr(native.Bound, "__call__",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    requests = [RunRequest(get_optimizer(name), 0.001 * (r + 1), r)
                for name in ("adam", "momentum") for r in range(4)]
    run_many(_problem(torch.float32, []), requests, steps=12)
    assert len(calls) == 2 * 12


def test_unbatchable_runs_train_alone_in_request_order():
    built: list = []
    problem = _problem(torch.float64, built)
    lbfgs, sgd = get_optimizer("antigrad:LBFGS(max_iter=2)"), get_optimizer("sgd")
    requests = [RunRequest(sgd, 0.1, s) for s in range(4)]
    requests.insert(2, RunRequest(lbfgs, 0.5, 9))
    assert plan_batches(problem, requests, min_replicas=4) == [[0, 1, 3, 4], [2]]
    seen = []
    runs = run_many(problem, requests, steps=5, min_replicas=4,
                    on_result=lambda i, run: seen.append((i, run.seed)))
    assert [r.seed for r in runs] == [0, 1, 9, 2, 3]
    assert seen == [(0, 0), (1, 1), (3, 2), (4, 3), (2, 9)]
    assert runs[2].optimizer == lbfgs.name and runs[2].steps == 5


def test_plan_batches_minimum_and_chunks():
    problem = _problem(torch.float64, [])
    sgd = get_optimizer("sgd")
    ten = [RunRequest(sgd, 0.1, s) for s in range(10)]
    assert plan_batches(problem, ten, max_replicas=4) == [[0, 1, 2], [3, 4, 5],
                                                          [6, 7, 8, 9]]
    assert plan_batches(problem, ten) == [list(range(10))]
    assert plan_batches(problem, ten, min_replicas=11) == [[i] for i in range(10)]
    assert plan_batches(problem, ten, replicas=False) == [[i] for i in range(10)]
    with pytest.raises(ValueError, match="max_replicas"):
        plan_batches(problem, ten, max_replicas=1)


@pytest.mark.parametrize("requests, error, message", [
    ([], ValueError, "Invalid runs"),
    (["adam"], TypeError, "RunRequest"),
    ([RunRequest(get_optimizer("sgd"), 0.0)], ValueError, "Invalid lr"),
    ([RunRequest(get_optimizer("sgd"), 0.1, -1)], ValueError, "Invalid seed"),
    ([RunRequest(get_optimizer("torch:Adam"), 0.1, overrides={"betas": (1.5, 0.9)})],
     ValueError, "beta"),
    ([RunRequest(get_optimizer("torch:Adam"), 0.1, overrides={"wieght_decay": 0.1})],
     TypeError, "wieght_decay"),
    ([RunRequest(get_optimizer("adam"), 0.1, overrides=[("beta1", 0.5)])], TypeError,
     "overrides"),
])
def test_bad_requests_are_refused_before_training(requests, error, message):
    built: list = []
    with pytest.raises(error, match=message):
        run_many(_problem(torch.float64, built), requests * 9)
    assert built == []
