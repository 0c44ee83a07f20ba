"""The budget (epochs=, steps=) may change on resume: a finished run continues to a larger
one, exactly as if it had been given that budget from the start."""

import sys
from pathlib import Path

import pytest
import torch
from torch.nn.functional import mse_loss

import antigrad
from antigrad import stop
from antigrad.stop import MaxSteps, Patience
from antigrad.train.budget import RunRule, end_of_resumed_run

sys.path.insert(0, str(Path(__file__).parent))
import ckpt_workload as job  # noqa: E402
from test_checkpoint import CrashAt, same_run  # noqa: E402


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return job.train(tmp_path_factory.mktemp("reference"))


def test_a_finished_run_given_more_steps_continues_exactly(tmp_path, reference):
    first = job.train(tmp_path, steps=30)
    assert first.steps == 30 and first.stopped_by == "MaxSteps(n=30)"
    longer = job.train(tmp_path, steps=job.STEPS, resume=True)
    assert longer.resumed_from == 30 and longer.steps == job.STEPS
    same_run(longer, reference)


def epochs_fit(folder, epochs, **kw):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 2, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([[2.0], [-1.0]], dtype=torch.float64)
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1).double()
    return antigrad.fit(model, mse_loss, (x, y), optimizer=torch.optim.SGD, lr=0.05,
                        batch_size=16, epochs=epochs, checkpoint=folder, progress=False, **kw)


def test_a_finished_run_given_more_epochs_continues_exactly(tmp_path):
    uninterrupted = epochs_fit(tmp_path / "a", 6)
    assert epochs_fit(tmp_path / "b", 3).epochs == 3
    longer = epochs_fit(tmp_path / "b", 6, resume=True)
    assert longer.resumed_from == 9 and longer.epochs == 6     # 3 batches an epoch
    assert longer.history == uninterrupted.history
    assert torch.equal(longer.model.weight, uninterrupted.model.weight)
    again = epochs_fit(tmp_path / "b", 6, resume=True)         # finished: nothing to train
    assert again.resumed_from == 18 and again.history == uninterrupted.history


def test_a_checkpoint_past_a_smaller_budget_trains_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        job.train(tmp_path, callbacks=[CrashAt(37)])
    steps = []
    r = job.train(tmp_path, steps=30, resume=True, callbacks=[lambda o: steps.append(o.step)])
    assert steps == [] and r.steps == 35 and r.resumed_from == 35
    assert (r.stopped_by, r.stop_reason) == ("MaxSteps(n=30)", "step 35 >= 30")


def test_a_run_that_ended_on_its_own_terms_stays_ended(tmp_path):
    first = epochs_fit(tmp_path, 50, stop=stop.LossChange(1e-3, on="epoch"))
    assert first.stopped_by == "LossChange(tol=0.001, on='epoch')" and first.epochs < 50
    again = epochs_fit(tmp_path, 100, stop=stop.LossChange(1e-3, on="epoch"), resume=True)
    assert again.steps == first.steps and again.stopped_by == first.stopped_by


def test_end_of_resumed_run():
    rule = RunRule([Patience(3)], [MaxSteps(50)])
    at = lambda step, finished=None: {"position": {"step": step, "epoch": 1},  # noqa: E731
                                      "finished": finished}
    assert end_of_resumed_run(at(40), rule) is None
    assert end_of_resumed_run(at(40, {"stopped_by": "MaxSteps(n=40)", "stop_reason": "x"}),
                              rule) is None
    assert end_of_resumed_run(at(60), rule) == {"stopped_by": "MaxSteps(n=50)",
                                                "stop_reason": "step 60 >= 50"}
    own = {"stopped_by": "Patience(patience=3)", "stop_reason": "no better"}
    assert end_of_resumed_run(at(20, own), rule) == own
    assert rule.state_dict() == {"rules": [Patience(3).state_dict()]}   # the budget: no state
    assert repr(rule) == "Any(Patience(patience=3, monitor='val_loss', mode='min'), " \
                         "MaxSteps(n=50))"
