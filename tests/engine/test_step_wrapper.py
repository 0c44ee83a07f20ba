"""step(): torch's wrapper (profiler label, step hooks) whenever something observes it,
none of its cost otherwise."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.optim import optimizer as torch_optimizer

import antigrad


class _Labels:
    """Counts the profiler labels torch's wrapper enters (torch.autograd.profiler's
    record_function, looked up by the wrapper at every call)."""

    def __init__(self, real: type) -> None:
        self.real, self.names = real, []

    def __call__(self, name: str, *args: Any) -> Any:
        self.names.append(name)
        return self.real(name, *args)


@pytest.fixture
def labels(monkeypatch: pytest.MonkeyPatch) -> _Labels:
    counter = _Labels(torch.autograd.profiler.record_function)
    monkeypatch.setattr(torch.autograd.profiler, "record_function", counter)
    return counter


def _adam() -> tuple[antigrad.Adam, torch.nn.Parameter]:
    w = torch.nn.Parameter(torch.ones(3))
    w.grad = torch.full((3,), 0.5)
    return antigrad.Adam([w], lr=0.1), w


def test_a_plain_step_skips_the_wrapper_and_updates(labels: _Labels) -> None:
    opt, w = _adam()
    reference = torch.nn.Parameter(torch.ones(3))
    reference.grad = torch.full((3,), 0.5)
    torch.optim.Adam([reference], lr=0.1).step()  # torch's own step: labelled
    assert labels.names == ["Optimizer.step#Adam.step"]
    opt.step()
    assert labels.names == ["Optimizer.step#Adam.step"]
    assert torch.equal(w.detach(), reference.detach())


def test_hooks_go_through_torchs_wrapper(labels: _Labels) -> None:
    opt, _ = _adam()
    seen: list[str] = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: seen.append("pre"))
    post = opt.register_step_post_hook(lambda o, args, kwargs: seen.append("post"))
    opt.step()
    assert seen == ["pre", "post"] and labels.names == ["Optimizer.step#Adam.step"]
    pre.remove(), post.remove()
    opt.step()
    assert seen == ["pre", "post"] and len(labels.names) == 1


def test_global_hooks_and_a_pre_hook_that_changes_the_arguments(labels: _Labels) -> None:
    opt, _ = _adam()
    calls: list[Any] = []

    def closure() -> torch.Tensor:
        calls.append("closure")
        return torch.tensor(2.0)

    handle = torch_optimizer.register_optimizer_step_pre_hook(
        lambda o, args, kwargs: ((o, closure), {}))
    try:
        loss = opt.step()
    finally:
        handle.remove()
    assert calls == ["closure"] and float(loss) == 2.0 and len(labels.names) == 1
    handle = torch_optimizer.register_optimizer_step_post_hook(
        lambda o, args, kwargs: calls.append("global post"))
    try:
        opt.step()
    finally:
        handle.remove()
    assert calls == ["closure", "global post"]


def test_a_profiler_sees_the_steps_label() -> None:
    opt, _ = _adam()
    with torch.profiler.profile() as prof:
        opt.step()
    assert "Optimizer.step#Adam.step" in [event.name for event in prof.events()]


def test_a_scheduler_still_sees_the_step() -> None:
    opt, _ = _adam()
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        opt.step()
        scheduler.step()
    assert not [w for w in record if "lr_scheduler.step()" in str(w.message)]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
