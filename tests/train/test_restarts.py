"""Restarts (L17): K runs from different initial weights; keep the best or ensemble them."""

import re

import pytest
import torch
from torch.nn.functional import mse_loss

import antigrad
from antigrad.train import Callback, Ensemble


def problem():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, generator=g) * 6 - 3
    y = torch.sin(2 * x) + 0.1 * torch.randn(200, 1, generator=g)
    return (x[:150], y[:150]), (x[150:], y[150:])


def mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def restart_fit(model=None, **kw):
    train, val = problem()
    args = dict(optimizer=antigrad.Adam, lr=0.02, batch_size=16, epochs=30, val=val,
                restarts=4, progress=False)
    return antigrad.fit(model or mlp(), mse_loss, train, **{**args, **kw})


def test_the_ensemble_is_no_worse_than_the_average_run_on_a_non_convex_problem():
    r = restart_fit(combine="ensemble")
    scores = [run.score for run in r.runs]
    # measured on this problem (tanh MLP, sin(2x) + noise, seeds 0..3):
    assert scores == pytest.approx([0.0749, 0.0712, 0.0651, 0.0548], rel=0.05)
    assert r.mean_run_score == pytest.approx(sum(scores) / 4)
    assert r.ensemble_score == pytest.approx(0.0646, rel=0.05)
    assert r.ensemble_score <= r.mean_run_score                 # Jensen, for the MSE
    assert len(set(scores)) == 4                                # four different optima
    assert isinstance(r.model, Ensemble) and len(r.model.members) == 4
    _, (xv, yv) = problem()
    assert mse_loss(r.model(xv), yv).item() == pytest.approx(r.ensemble_score, rel=1e-6)


def test_best_keeps_the_best_run_and_loads_its_weights():
    model = mlp()
    r = restart_fit(model, combine="best")
    scores = [run.score for run in r.runs]
    assert r.best_run == scores.index(min(scores)) and r.score == min(scores)
    assert r.model is model and r.ensemble_score is None
    _, (xv, yv) = problem()
    assert mse_loss(model(xv), yv).item() == pytest.approx(min(scores), rel=1e-6)
    again = restart_fit(combine="best")
    assert [run.score for run in again.runs] == scores            # reproducible


def test_run_zero_starts_from_the_given_weights_and_others_from_fresh_ones():
    single = restart_fit(restarts=1)
    r = restart_fit(restarts=2)
    assert r.runs[0].history == single.history
    assert r.runs[1].history["loss"][0] != single.history["loss"][0]
    assert [run.seed for run in r.runs] == [0, 1]


def test_per_run_overrides():
    r = restart_fit(restarts=[{"lr": 0.0}, {"lr": 0.02, "optimizer": torch.optim.SGD}])
    frozen = r.runs[0].history.val["val_loss"]
    assert frozen == [frozen[0]] * len(frozen)                  # lr 0: nothing moves
    assert r.best_run == 1
    assert isinstance(r.runs[1].optimizer, torch.optim.SGD)


def test_without_validation_runs_are_ranked_on_the_training_loss():
    train, _ = problem()
    r = antigrad.fit(mlp(), mse_loss, train, lr=0.05, batch_size=16, epochs=3, restarts=2,
                     progress=False)
    model = r.model
    assert mse_loss(model(train[0]), train[1]).item() == pytest.approx(r.score, rel=1e-6)


def test_restarts_resume_after_a_crash_in_a_later_run(tmp_path):
    class CrashInRun1(Callback):
        def on_step_end(self, run, obs):
            if run.index == 1 and obs.step == 17:
                raise RuntimeError("crash")
    kw = dict(epochs=3, restarts=3, checkpoint=tmp_path)
    with pytest.raises(RuntimeError, match="crash"):
        restart_fit(callbacks=[CrashInRun1()], **kw)
    resumed = restart_fit(resume=True, **kw)
    fresh = restart_fit(epochs=3, restarts=3)
    assert [r.resumed_from for r in resumed.runs] == [30, 10, None]  # 10 batches an epoch
    assert [r.score for r in resumed.runs] == [r.score for r in fresh.runs]


def test_restart_arguments():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=re.escape("Invalid restarts[0]: lr/optimizer")):
        restart_fit(model, optimizer=opt, lr=None, restarts=[{"lr": 0.1}])

    class Bare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1, 1))

        def forward(self, x):
            return x @ self.w
    with pytest.raises(ValueError, match=re.escape("no reset_parameters() covers ['w']")):
        restart_fit(Bare(), restarts=2, epochs=1)
    r = restart_fit(Bare(), restarts=2, epochs=1,
                    init=lambda m: torch.nn.init.normal_(m.w))
    assert r.runs[0].history["loss"][0] != r.runs[1].history["loss"][0]
    with pytest.raises(ValueError, match="at least one model"):
        Ensemble([])
