"""A step the optimizer refuses (finite loss, NaN/inf gradient) marks that run diverged:
the runner, the range test, the surface paths and the figures go on with the rest."""

import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from antigrad import textbook  # noqa: E402
from antigrad.engine import NonFiniteGradientError  # noqa: E402
from antigrad.lab import (  # noqa: E402
    LECTURE_OPTIMIZERS,
    CompareConfig,
    OptimizerSpec,
    lr_range_test,
    register_optimizer,
    run_compare,
    run_path,
    train_run,
)
from antigrad.lab.figures import plot_sgd_vs_gd, plot_trajectories  # noqa: E402
from antigrad.problems import get_training_problem  # noqa: E402
from antigrad.problems.surfaces import Surface  # noqa: E402


class NaNGradSGD(textbook.SGD):
    """textbook SGD whose gradients turn NaN from its third step on (the loss stays finite)."""

    def step(self, closure=None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls >= 3:
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.fill_(math.nan)
        return super().step(closure)


def registered(name, label, cls):
    """A lab optimizer ``name`` built as ``cls``, registered for one test."""
    spec = OptimizerSpec(name, label, "L5", "antigrad.textbook:SGD")
    spec.resolve = lambda: cls
    register_optimizer(spec)
    yield spec
    del LECTURE_OPTIMIZERS[name]


@pytest.fixture
def nan_spec():
    yield from registered("nan-grad", "NaN gradients", NaNGradSGD)


def test_the_optimizer_really_raises_the_typed_error(nan_spec):
    w = torch.nn.Parameter(torch.ones(2))
    opt = nan_spec.build([w], 0.1)
    for _ in range(2):
        (w ** 2).sum().backward()
        opt.step()
    (w ** 2).sum().backward()
    with pytest.raises(NonFiniteGradientError):
        opt.step()


def test_runner_marks_the_run_diverged(nan_spec):
    r = train_run(get_training_problem("breast-cancer"), nan_spec, 0.1, steps=20)
    assert r.diverged and r.steps == 3 and math.isfinite(r.losses[-1][1])
    assert math.isnan(r.final_metric)


def test_comparison_goes_on(nan_spec):
    cmp = run_compare(CompareConfig("breast-cancer", ["sgd", "nan-grad"], grid_points=1,
                                    seeds=2, steps=10))
    by_name = {s.optimizer: s for s in cmp.summaries()}
    assert by_name["nan-grad"].diverged == 2 and by_name["sgd"].diverged == 0


def test_range_test_stops_there(nan_spec):
    r = lr_range_test(get_training_problem("breast-cancer"), nan_spec, steps=20)
    assert r.diverged and len(r.lrs) == 3 and r.diverged_at == r.lrs[-1]


# sqrt(|x|) at x = 0: the loss is 0, its gradient NaN (inf · 0)
KINK = Surface("kink", "sqrt|x| + y^2", lambda x, y: x.abs().sqrt() + y ** 2,
               ((-1.0, 1.0), (-1.0, 1.0)), ((0.0, 0.0),), 0.0, (0.0, 0.5))


def test_path_and_trajectory_figure_mark_diverged():
    p = run_path(KINK, "sgd", lr=0.1, steps=10)
    assert p.diverged and len(p.points) == 1
    fig = plot_trajectories(KINK, {"sgd": 0.1, "adam": 0.1}, steps=5)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("sgd" in t and "diverged" in t for t in labels)


def test_sgd_vs_gd_figure_marks_diverged():
    fig = plot_sgd_vs_gd(problem="noisy-least-squares", lr=1e30, epochs=1)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels and all("(diverged)" in t for t in labels)


class RefusedAtSync(textbook.SGD):
    """As on a device backend that checks gradients asynchronously: its third step's
    verdict (a NaN gradient) stays pending until ``synchronize()`` or the next ``step()``
    settles it."""

    calls, pending = 0, False

    def step(self, closure=None):
        self.calls += 1
        self._settle()
        out = super().step(closure)
        self.pending = self.calls == 3
        return out

    def synchronize(self):
        super().synchronize()
        self._settle()

    def _settle(self):
        if self.pending:
            self.pending = False
            raise NonFiniteGradientError("a gradient of step 3 is NaN (settled late)")


@pytest.fixture
def late_spec():
    yield from registered("late-verdict", "late verdict", RefusedAtSync)


def test_lab_run_settles_each_step_so_a_late_refusal_marks_its_own_step(late_spec):
    r = train_run(get_training_problem("breast-cancer"), late_spec, 0.1, steps=20)
    assert r.diverged and r.steps == 3 and math.isnan(r.final_metric)
