"""Stopping rules S1–S3 and friends fire exactly at the first step their condition holds.

The workload is gradient descent on the quadratic L(w) = a/2 · w², where everything is
known in closed form: w_t = q^t w_0 with q = 1 − εa, the loss recorded at step t is
L(w_{t−1}) = a/2 · w_0² q^{2(t−1)}, the step's gradient is a·w_{t−1}, and
|w_t − w_{t−1}| = εa|w_{t−1}|.
"""

import itertools
import math
import re

import pytest
import torch

import antigrad
from antigrad import stop

A, W0 = 2.0, 3.0


class Scalar(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([W0], dtype=torch.float64))

    def forward(self, x):
        return self.w.expand(len(x))


def quad_loss(out):
    return 0.5 * A * (out ** 2).mean()


DATA = torch.zeros(4, 1, dtype=torch.float64)


def run(rule, lr=0.1, optimizer=torch.optim.SGD, **kw):
    return antigrad.fit(Scalar(), quad_loss, DATA, optimizer=optimizer, lr=lr, stop=rule,
                        steps=kw.pop("steps", 10_000), progress=False, **kw)


def first(condition):
    return next(t for t in itertools.count(1) if condition(t))


def w(t, lr=0.1):
    return W0 * (1 - lr * A) ** t


def loss(t, lr=0.1):  # the loss recorded at step t
    return 0.5 * A * w(t - 1, lr) ** 2


@pytest.mark.parametrize("tol", [1e-2, 1e-5, 1e-9])
def test_loss_change_s1(tol):
    r = run(stop.LossChange(tol), optimizer=antigrad.SGD)
    expected = first(lambda t: t >= 2 and abs(loss(t) - loss(t - 1)) < tol)
    assert (r.stopped_at, r.stopped_by) == (expected, f"LossChange(tol={tol})")
    assert r.history["loss"] == pytest.approx([loss(t) for t in range(1, expected + 1)],
                                              rel=1e-12)


@pytest.mark.parametrize("tol", [1e-1, 1e-6])
def test_weight_change_s2(tol):
    r = run(stop.WeightChange(tol))
    expected = first(lambda t: 0.1 * A * abs(w(t - 1)) < tol)
    assert r.stopped_at == expected and r.stopped_by == f"WeightChange(tol={tol})"
    assert r.history["weight_change"][-1] == pytest.approx(0.1 * A * abs(w(expected - 1)))


def test_grad_norm():
    r = run(stop.GradNorm(1e-4))
    assert r.stopped_at == first(lambda t: A * abs(w(t - 1)) < 1e-4)
    assert r.history["grad_norm"][0] == pytest.approx(A * W0)


def test_max_steps_s3_and_max_epochs():
    r = run(None, steps=17)
    assert (r.stopped_at, r.stopped_by, len(r.history)) == (17, "MaxSteps(n=17)", 17)
    data = torch.zeros(10, 1, dtype=torch.float64)
    r = antigrad.fit(Scalar(), quad_loss, data, lr=0.1, batch_size=3, epochs=2, progress=False)
    assert (r.stopped_at, r.epochs, r.stopped_by) == (8, 2, "MaxEpochs(n=2)")  # 4 batches/epoch


def test_divergence_on_too_large_a_step():
    lr = 1.2  # |q| = 1.4 > 1: the loss grows by 1.96 per step
    r = run(None, lr=lr, steps=1000, divergence=50.0)
    assert r.stopped_at == first(lambda t: loss(t, lr) > 50.0 * loss(1, lr))
    assert r.diverged and r.stopped_by == "Divergence(factor=50.0)"


def test_divergence_on_nan_loss_even_without_factor():
    def nan_after_5(out, calls=[0]):  # noqa: B006 - a call counter
        calls[0] += 1
        return quad_loss(out) * (math.nan if calls[0] == 5 else 1.0)
    r = antigrad.fit(Scalar(), nan_after_5, DATA, lr=0.1, steps=100, progress=False,
                     stop=stop.Divergence(None), divergence=None)
    assert r.stopped_at == 5 and "loss is nan" in r.stop_reason
    assert r.model.w.item() == pytest.approx(w(4))  # the NaN step was not applied


def obs(step, value=None, model=None):
    return stop.Observation(step=step, epoch=step, loss=1.0,
                            val=None if value is None else {"val_loss": value}, model=model)


def test_patience_counts_like_reduce_on_plateau_and_restores_best_weights():
    model = torch.nn.Linear(1, 1)
    rule = stop.Patience(patience=2)
    values = [3.0, 2.0, 2.5, 2.4, 1.0, 1.5, 1.6, 1.7, 0.5]
    fired = None
    for step, v in enumerate(values, start=1):
        with torch.no_grad():
            model.weight.fill_(v)
        fired = rule(obs(step, v, model))
        if fired:
            break
    assert step == 8 and rule.best == 1.0 and rule.best_step == 5
    assert "val_loss has not improved on 1 (step 5) for 3 validations" in fired.reason
    assert model.weight.item() == 1.0   # the weights of step 5 are back


def test_patience_ignores_steps_without_validation_and_respects_min_delta_and_max():
    rule = stop.Patience(patience=0, monitor="val_acc", mode="max", min_delta=0.1)
    seen = [rule(stop.Observation(step=s, epoch=0, loss=1.0, val=v)) for s, v in
            enumerate([{"val_acc": 0.5}, None, {"val_acc": 0.55}], start=1)]
    assert seen[:2] == [None, None] and seen[2] is not None  # +0.05 < min_delta
    with pytest.raises(ValueError, match=re.escape("Invalid monitor: 'val_acc' (validation "
                                                   "gives ['val_loss'])")):
        rule(obs(4, 1.0))


def test_or_reports_the_rule_that_fired_and_and_needs_both():
    either = stop.MaxSteps(30) | stop.LossChange(1e-9)
    assert run(either).stopped_by == "MaxSteps(n=30)"
    t_loss = first(lambda t: t >= 2 and abs(loss(t) - loss(t - 1)) < 1e-3)
    t_weight = first(lambda t: 0.1 * A * abs(w(t - 1)) < 1e-1)
    assert t_loss != t_weight
    both = run(stop.LossChange(1e-3) & stop.WeightChange(1e-1))
    assert both.stopped_at == max(t_loss, t_weight)
    assert both.stopped_by == "All(LossChange(tol=0.001), WeightChange(tol=0.1))"
    nested = stop.MaxSteps(1) | (stop.MaxSteps(2) | stop.GradNorm(1.0))
    assert repr(nested) == "Any(MaxSteps(n=1), MaxSteps(n=2), GradNorm(tol=1.0))"
    assert nested.needs == {"grad_norm"}


def test_every_rule_of_a_combination_sees_every_step():
    epoch_rule = stop.LossChange(1e-12, on="epoch")
    rule = stop.MaxSteps(1) | epoch_rule
    rule(stop.Observation(step=1, epoch=1, loss=1.0, epoch_end=True, epoch_loss=2.0))
    assert epoch_rule.state_dict() == {"_prev": 2.0}


def test_state_dict_round_trip():
    a = stop.Patience(1) | stop.Divergence()
    a(obs(1, 2.0))
    b = stop.Patience(1) | stop.Divergence()
    b.load_state_dict(a.state_dict())
    assert b.rules[0].best == 2.0 and b.rules[1]._initial == 1.0


@pytest.mark.parametrize("make,error,text", [
    (lambda: stop.LossChange(-1), ValueError, "Invalid tol value: -1 (must be > 0)"),
    (lambda: stop.LossChange(1e-3, on="batch"), ValueError,
     "Invalid on value: 'batch' (must be one of 'step', 'epoch')"),
    (lambda: stop.WeightChange(0), ValueError, "Invalid tol value: 0 (must be > 0)"),
    (lambda: stop.GradNorm("small"), TypeError, "Invalid tol value: 'small' (must be a number)"),
    (lambda: stop.MaxSteps(0), ValueError, "Invalid n value: 0 (must be an integer >= 1)"),
    (lambda: stop.MaxEpochs(1.5), TypeError, "Invalid n value: 1.5 (must be an integer)"),
    (lambda: stop.Divergence(0.5), ValueError, "Invalid factor value: 0.5 (must be > 1)"),
    (lambda: stop.Patience(-1), ValueError, "Invalid patience value: -1 (must be an integer >= 0)"),
    (lambda: stop.Patience(mode="up"), ValueError,
     "Invalid mode value: 'up' (must be one of 'min', 'max')"),
    (lambda: stop.MaxSteps(3) | 5, TypeError, "Invalid rule: 5"),
])
def test_bad_arguments(make, error, text):
    with pytest.raises(error, match=re.escape(text)):
        make()
