"""Schedules named on the command line: antigrad's closed forms and torch's classes."""

import re

import pytest
import torch

from antigrad import schedules
from antigrad.errors import ConfigError
from antigrad.lab.schedules import parse_schedule, schedule_names


def _opt(lr=0.1):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


@pytest.mark.parametrize("text, cls", [
    ("cosine", schedules.Cosine), ("Cosine(min_factor=0.1)", schedules.Cosine),
    ("inverse-time(tau=10)", schedules.InverseTime), ("antigrad:Step(step_size=3)",
                                                      schedules.Step),
    ("CosineAnnealingLR", torch.optim.lr_scheduler.CosineAnnealingLR),
    ("torch:StepLR(step_size=5, gamma=0.5)", torch.optim.lr_scheduler.StepLR),
    ("OneCycleLR", torch.optim.lr_scheduler.OneCycleLR),
])
def test_names_resolve(text, cls):
    assert parse_schedule(text).cls is cls


def test_horizon_and_max_lr_come_from_the_run():
    sched = parse_schedule("cosine").build(_opt(), steps=40, lr=0.1)
    assert sched.total_steps == 40 and sched.lr_at(40)[0] == pytest.approx(0.0)
    torch_cos = parse_schedule("CosineAnnealingLR").build(_opt(), steps=40, lr=0.1)
    assert torch_cos.T_max == 40
    one = parse_schedule("OneCycleLR").build(_opt(), steps=40, lr=0.3)
    assert one.total_steps == 40 and max(g["max_lr"] for g in one.optimizer.param_groups) == 0.3
    given = parse_schedule("cosine(total_steps=7)").build(_opt(), steps=40, lr=0.1)
    assert given.total_steps == 7


@pytest.mark.parametrize("text, why", [
    ("cosin", "did you mean 'cosine'"),
    ("CosineAnealingLR", "did you mean 'CosineAnnealingLR'"),
    ("cosine(min_factr=0.1)", "unknown argument 'min_factr' (did you mean 'min_factor'?)"),
    ("cosine(min_factor=2)", "min_factor"),
    ("StepLR", "step_size"),
    ("ReduceLROnPlateau", "needs a metric"),
    ("LambdaLR(lr_lambda=1)", "needs a function"),
    ("cosine(min_factor=abs(-1))", "not a literal"),
])
def test_bad_schedules(text, why):
    with pytest.raises(ConfigError, match=re.escape(why)) as err:
        parse_schedule(text)
    assert err.value.field == "schedule"


def test_names_listed():
    names = schedule_names()
    assert names[:6] == ["constant", "step", "exponential", "inverse-time", "cosine",
                         "linear-warmup"]
    assert "CosineAnnealingLR" in names and "ReduceLROnPlateau" not in names
