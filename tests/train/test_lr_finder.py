"""find_lr (L4): the range test stops at divergence, suggests a stable lr, restores state."""

import math
import re

import pytest
import torch

import antigrad
from antigrad.train.lr_finder import _suggest

A = 4.0   # L(w) = A/2 · ||w||²: GD diverges for lr > 2/A = 0.5


class Bowl(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((3,), 2.0, dtype=torch.float64))

    def forward(self, x):
        return self.w.expand(len(x), 3)


def bowl_loss(out):
    return 0.5 * A * (out ** 2).sum(1).mean()


DATA = torch.zeros(8, 1)


def test_stops_past_the_divergence_threshold_and_suggests_a_stable_lr():
    r = antigrad.find_lr(Bowl(), bowl_loss, DATA, lr_min=1e-4, lr_max=100.0, steps=100)
    assert r.diverged and 2 / A < r.diverged_at < 10 * 2 / A
    assert len(r.lrs) < 100 and r.lrs[-1] == r.diverged_at
    assert 1e-3 < r.suggestion < 2 / A
    ratios = [b / a for a, b in zip(r.lrs, r.lrs[1:], strict=False)]
    assert ratios == pytest.approx([(100.0 / 1e-4) ** (1 / 99)] * len(ratios))  # exponential
    conservative = antigrad.find_lr(Bowl(), bowl_loss, DATA, lr_min=1e-4, lr_max=100.0,
                                    steps=100, method="min/10")
    assert conservative.suggestion == pytest.approx(conservative.lr_at_min / 10)


def test_model_and_optimizer_are_restored():
    model = Bowl()
    opt = antigrad.Adam(model.parameters(), lr=0.123)
    bowl_loss(model(DATA)).backward()
    opt.step()                                   # some Adam state to keep
    w, state = model.w.detach().clone(), {k: v.clone() for k, v in opt.state[model.w].items()
                                          if torch.is_tensor(v)}
    r = antigrad.find_lr(model, bowl_loss, DATA, optimizer=opt, lr_min=1e-5, lr_max=10.0,
                         steps=50)
    assert len(r.lrs) > 10
    assert torch.equal(model.w, w) and opt.param_groups[0]["lr"] == 0.123
    for k, v in state.items():
        assert torch.equal(opt.state[model.w][k], v)


def test_minibatches_and_a_factory_optimizer():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=g)
    y = x.sum(1, keepdim=True) + 0.1 * torch.randn(128, 1, generator=g)
    torch.manual_seed(0)    # the model's initial weights, whatever ran before this test
    r = antigrad.find_lr(torch.nn.Linear(4, 1), torch.nn.functional.mse_loss, (x, y),
                         optimizer=torch.optim.SGD, batch_size=16, lr_min=1e-4, lr_max=10.0,
                         steps=80)
    assert r.diverged and 1e-3 < r.suggestion < 1.0     # the Hessian's top eigenvalue is ~2


@pytest.mark.parametrize("kwargs,text", [
    (dict(lr_min=0), "Invalid lr_min: 0"),
    (dict(lr_min=1.0, lr_max=0.5), "Invalid lr_max: 0.5 (must be > lr_min = 1.0)"),
    (dict(steps=1), "Invalid steps: 1"),
    (dict(beta=1.0), "Invalid beta: 1.0"),
    (dict(diverge=1.0), "Invalid diverge: 1.0"),
    (dict(method="valley"), "Invalid method: 'valley'"),
])
def test_bad_arguments(kwargs, text):
    with pytest.raises(ValueError, match=re.escape(text)):
        antigrad.find_lr(Bowl(), bowl_loss, DATA, **kwargs)


def test_steepest_suggestion_on_a_known_curve():
    lrs = [10 ** (k / 10) for k in range(-50, 11)]
    # flat, then falls fastest around 1e-2, bottoms at 1e-1, then explodes
    loss = [2.0 - 1.5 / (1 + math.exp(-6 * (math.log10(x) + 2))) + max(0, math.log10(x) + 1) ** 2
            for x in lrs]
    s = _suggest(lrs, loss, "steepest")
    assert 10**-2.6 <= s <= 10**-1.9


def test_safe_suggestion_caps_at_a_tenth_of_the_lr_of_the_lowest_loss():
    from antigrad.train.lr_finder import LRFinderResult
    fields = dict(lrs=[], losses=[], smoothed=[], method="steepest", diverged_at=None)
    assert LRFinderResult(suggestion=0.5, lr_at_min=1.0, **fields).safe_suggestion == 0.1
    assert LRFinderResult(suggestion=0.05, lr_at_min=1.0, **fields).safe_suggestion == 0.05
    assert LRFinderResult(suggestion=None, lr_at_min=1.0, **fields).safe_suggestion == 0.1
