"""FitConfig: fit's options as one frozen value, checked once."""

import dataclasses
import inspect

import pytest
import torch

import antigrad
from antigrad.train import FitConfig, fit_with


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]])


def test_every_fit_keyword_is_a_config_field_with_the_same_default():
    params = inspect.signature(antigrad.fit).parameters
    keywords = {n: p.default for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    fields = {f.name: f.default for f in dataclasses.fields(FitConfig) if f.init}
    assert keywords == fields


def test_the_config_is_frozen_and_derives_its_runs():
    c = FitConfig(lr=0.1, steps=5, restarts=[{"lr": 0.1}, {"lr": 0.01, "seed": 7}], seed=3)
    assert c.runs == ({"lr": 0.1, "seed": 3}, {"lr": 0.01, "seed": 7})
    assert c.track == frozenset() and c.metrics == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0


@pytest.mark.parametrize("options, error, match", [
    ({"lr": 0.1}, ValueError, "budget"),
    ({"steps": 0}, ValueError, "steps"),
    ({"steps": 2.5}, TypeError, "steps value: 2.5 \\(must be an integer\\)"),
    ({"steps": 5, "mode": "up"}, ValueError, "mode"),
    ({"steps": 5, "track": ["gradnorm"]}, ValueError, "track"),
    ({"steps": 5, "seed": 1.5}, TypeError, "seed"),
    ({"steps": 5, "stop": "never"}, TypeError, "stop"),
    ({"steps": 5, "monitor": "val_acc"}, ValueError, "monitor"),
    ({"steps": 5, "resume": True}, ValueError, "resume"),
    ({"steps": 5, "accumulate": 0}, ValueError, "accumulate"),
])
def test_a_bad_option_is_refused_when_the_config_is_built(options, error, match):
    with pytest.raises(error, match=f"Invalid {match}"):
        FitConfig(**options)


def test_fit_with_a_config_is_fit_with_its_keywords():
    x, y = data()
    options = {"lr": 0.1, "batch_size": 16, "epochs": 3, "progress": False, "seed": 5}
    torch.manual_seed(0)
    a = antigrad.fit(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, (x, y), **options)
    torch.manual_seed(0)
    b = fit_with(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, (x, y),
                 FitConfig(**options))
    assert a.history["loss"] == b.history["loss"] and a.steps == b.steps == 12
