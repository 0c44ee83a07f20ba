"""The training loop: its hook protocol and its divergence by type."""

import math
import time

import pytest
import torch

from antigrad.errors import NonFiniteGradientError, NonFiniteLossError
from antigrad.train.loop import (
    Every,
    GradientStep,
    Hook,
    Loop,
    LossAbove,
    StepRecord,
    StopAfter,
    StopOnDivergence,
    Stopwatch,
)


def quadratic_step(lr=0.1, start=3.0):
    w = torch.nn.Parameter(torch.tensor([start]))
    opt = torch.optim.SGD([w], lr=lr)
    return w, opt, GradientStep(opt, lambda _: (w ** 2).sum(), lambda: None)


class Log(Hook):
    def __init__(self, name, log):
        self.name, self.log = name, log

    def on_start(self, loop):
        self.log.append(("start", self.name))

    def before_step(self, loop):
        self.log.append(("before", self.name, loop.step))

    def after_step(self, loop, record):
        self.log.append(("after", self.name, record.step))

    def on_end(self, loop):
        self.log.append(("end", self.name, loop.stop_reason))


def test_hooks_nest_like_context_managers():
    log = []
    _, _, step = quadratic_step()
    reason = Loop(step, [Log("outer", log), StopAfter(2), Log("inner", log)]).run()
    assert reason == "reached 2 steps"
    assert log == [("start", "outer"), ("start", "inner"),
                   ("before", "outer", 0), ("before", "inner", 0),
                   ("after", "inner", 1), ("after", "outer", 1),
                   ("before", "outer", 1), ("before", "inner", 1),
                   ("after", "inner", 2), ("after", "outer", 2),
                   ("end", "outer", reason), ("end", "inner", reason)]


def test_the_gradient_step_is_sgd_on_the_mean_loss():
    w, _, step = quadratic_step(lr=0.1)
    loop = Loop(step, [StopAfter(3)])
    loop.run()
    assert loop.step == 3 and loop.last.loss == pytest.approx((3.0 * 0.8 ** 2) ** 2)
    assert float(w.detach()) == pytest.approx(3.0 * 0.8 ** 3)


def test_every_runs_on_multiples_and_at_the_stop():
    seen = []
    _, _, step = quadratic_step()
    Loop(step, [Every(3, lambda loop: seen.append(loop.step)), StopAfter(7)]).run()
    assert seen == [3, 6, 7]


def test_stopwatch_times_the_step_alone():
    class Slow(Hook):                       # 10 ms of work after every step
        def after_step(self, loop, record):
            t = time.perf_counter() + 0.01
            while time.perf_counter() < t:
                pass

    outer, inner = Stopwatch(), Stopwatch()
    _, _, step = quadratic_step()
    Loop(step, [outer, Slow(), StopAfter(5), inner]).run()
    assert inner.seconds > 0 and outer.seconds - inner.seconds >= 5 * 0.01


class RefusesAt:
    """An optimizer stand-in whose step ``at`` raises ``error``."""

    def __init__(self, opt, at, error):
        self.opt, self.at, self.error, self.calls = opt, at, error, 0
        self.param_groups = opt.param_groups

    def zero_grad(self, set_to_none=True):
        self.opt.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.calls += 1
        if self.calls == self.at:
            raise self.error("refused")
        self.opt.step()


@pytest.mark.parametrize("error", [NonFiniteGradientError, NonFiniteLossError])
def test_a_refused_step_is_a_diverged_record_by_type(error):
    w, opt, _ = quadratic_step()
    refusing = RefusesAt(opt, 2, error)
    step = GradientStep(refusing, lambda _: (w ** 2).sum(), lambda: None)
    loop = Loop(step, [StopAfter(10), StopOnDivergence()])
    assert loop.run().startswith(f"diverged: {error.__name__}")
    assert loop.step == 2 and math.isfinite(loop.last.loss)


def test_other_errors_are_not_divergence():
    w, opt, _ = quadratic_step()
    step = GradientStep(RefusesAt(opt, 2, RuntimeError), lambda _: (w ** 2).sum(),
                        lambda: None)
    with pytest.raises(RuntimeError, match="refused"):
        Loop(step, [StopAfter(10), StopOnDivergence()]).run()


def test_a_nonfinite_loss_is_not_applied():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    opt = torch.optim.SGD([w], lr=0.1)
    losses = iter([torch.tensor(2.0), torch.tensor(math.inf)])
    step = GradientStep(opt, lambda _: next(losses) * w.sum(), lambda: None)
    loop = Loop(step, [StopAfter(10), StopOnDivergence()])
    assert loop.run() == "diverged: non-finite loss" and loop.step == 2
    assert float(w.detach()) == pytest.approx(1.0 - 0.1 * 2.0)      # only the first step applied


def test_loss_above_marks_early_divergence():
    _, _, step = quadratic_step(lr=1.5)     # w -> -2w every step: the loss x4
    loop = Loop(step, [StopAfter(10), StopOnDivergence(), LossAbove(100.0)])
    assert "x the first loss" in loop.run() and loop.step == 5   # 4^4 > 100 > 4^3


def test_bad_hooks_are_refused():
    _, _, step = quadratic_step()
    with pytest.raises(ValueError, match="hooks"):
        Loop(step, [])
    with pytest.raises(TypeError, match="Hook"):
        Loop(step, [lambda loop: None])
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="steps"):
            StopAfter(bad)
        with pytest.raises(ValueError, match="n"):
            Every(bad, print)
    with pytest.raises(ValueError, match="factor"):
        LossAbove(-1)


def test_a_step_record_says_why_it_diverged():
    assert StepRecord(3, 0.5).diverged is None


def test_fit_the_range_test_the_lab_and_paths_all_run_through_the_loop(monkeypatch):
    from antigrad import find_lr, fit
    from antigrad.lab import run_path, train_run
    from antigrad.problems import get_training_problem
    from antigrad.problems.surfaces import quadratic

    runs = []
    original = Loop.run

    def counted(self):
        runs.append(type(self.take_step).__name__)
        return original(self)

    monkeypatch.setattr(Loop, "run", counted)
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    y = x.sum(1, keepdim=True)
    fit(torch.nn.Linear(2, 1), torch.nn.functional.mse_loss, (x, y), lr=0.1, steps=3,
        progress=False)
    find_lr(torch.nn.Linear(2, 1), torch.nn.functional.mse_loss, (x, y), steps=5)
    train_run(get_training_problem("breast-cancer"), _sgd(), 0.1, steps=3)
    run_path(quadratic(10), "sgd", lr=0.01, steps=3)
    assert runs == ["_FitStep", "GradientStep", "GradientStep", "GradientStep"]


def _sgd():
    from antigrad.lab import get_optimizer
    return get_optimizer("sgd")


def test_a_closure_step_reports_the_loss_where_it_started():
    from antigrad.train.loop import ClosureStep
    w = torch.nn.Parameter(torch.tensor([3.0]))
    opt = torch.optim.LBFGS([w], lr=1.0, max_iter=1)
    step = ClosureStep(opt, lambda _: (w ** 2).sum(), lambda: None)
    loop = Loop(step, [StopAfter(2)])
    loop.run()
    assert step.values and loop.last.loss == step.values[0] and loop.last.diverged is None


@pytest.mark.parametrize("error", [NonFiniteLossError, NonFiniteGradientError])
def test_a_closure_step_refused_by_type_is_diverged(error):
    from antigrad.train.loop import ClosureStep

    class Refuses(torch.optim.SGD):
        def step(self, closure=None):
            closure()
            raise error("no finite point along the search")

    w = torch.nn.Parameter(torch.tensor([3.0]))
    step = ClosureStep(Refuses([w], lr=0.1), lambda _: (w ** 2).sum(), lambda: None)
    loop = Loop(step, [StopAfter(5), StopOnDivergence()])
    assert loop.run().startswith(f"diverged: {error.__name__}") and loop.step == 1
    assert loop.last.loss == 9.0
