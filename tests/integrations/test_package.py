"""The integrations package without the extras: lazy imports and the rule driver."""

import subprocess
import sys

import pytest
import torch

from antigrad import stop
from antigrad.integrations._common import StepAsModel, batch_len, loss_value, verdict_of
from antigrad.integrations._watch import RuleWatch


def test_import_antigrad_imports_no_trainer_library():
    code = ("import sys, antigrad, antigrad.integrations; "
            "print(sorted(m for m in ('lightning', 'transformers', 'pytorch_lightning', "
            "'antigrad.integrations.lightning', 'antigrad.integrations.hf') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_attribute_of_the_package():
    import antigrad.integrations as integrations
    with pytest.raises(AttributeError, match="no attribute 'keras'"):
        integrations.keras  # noqa: B018


def test_watch_builds_fits_observations():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    watch = RuleWatch(stop.GradNorm(0.5) | stop.WeightChange(1e-9))
    seen = []
    for step, (loss, last) in enumerate([(4.0, False), (2.0, True), (1.0, False)], 1):
        w.grad = torch.tensor([0.3, 0.4])
        watch.before_step([w], lr=0.1)
        with torch.no_grad():
            w -= 0.1 * w.grad
        obs = watch.after_step(loss, 2 * step, [w], epoch_end=last)
        seen.append(obs)
        assert watch.judge(obs) is None
    assert [o.prev_loss for o in seen] == [None, 4.0, 2.0]
    assert seen[1].epoch_loss == pytest.approx((4.0 * 2 + 2.0 * 4) / 6)
    assert [o.epoch for o in seen] == [0, 1, 1] and seen[0].lr == 0.1
    assert seen[0].grad_norm == pytest.approx(0.5) and seen[0].weight_change == pytest.approx(0.05)
    fired = watch.judge(seen[2].__class__(step=4, epoch=1, loss=1.0, grad_norm=0.1))
    assert fired is not None and watch.fired is fired


def test_watch_measures_only_what_the_rule_needs():
    w = torch.nn.Parameter(torch.ones(2))
    w.grad = torch.ones(2)
    watch = RuleWatch(stop.MaxSteps(3))
    watch.before_step([w], lr=1.0)
    obs = watch.after_step(1.0, 1, [w])
    assert obs.grad_norm is None and obs.weight_change is None
    with pytest.raises(TypeError, match="Invalid rule"):
        RuleWatch("MaxSteps(3)")


def test_helpers():
    assert loss_value(torch.tensor(2.0, requires_grad=True)) == 2.0
    assert loss_value({"loss": torch.tensor(1.5)}) == 1.5 and loss_value({"logits": 1}) is None
    assert batch_len([torch.zeros(5, 2), torch.zeros(5)]) == 5
    assert batch_len({"num": torch.tensor(3), "x": torch.zeros(7, 1)}) == 7
    sched = torch.optim.lr_scheduler.OneCycleLR(
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), max_lr=0.1,
        total_steps=10)
    assert verdict_of(sched, 1000).satisfied is None
    model = StepAsModel(torch.nn.Linear(1, 1), lambda batch: {"loss": batch[0].sum()})
    assert model.loss(model(torch.ones(3, 1)), torch.zeros(3)).item() == 3.0
