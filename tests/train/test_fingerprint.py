"""A checkpoint belongs to one run configuration: resuming anything else is refused."""

import re
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.functional import l1_loss, mse_loss

import antigrad
from antigrad.train import Checkpointer, CheckpointError, load_checkpoint, save_checkpoint
from antigrad.train.fingerprint import describe, differences

sys.path.insert(0, str(Path(__file__).parent))
import ckpt_workload as job  # noqa: E402
from test_checkpoint import CrashAt, same_run  # noqa: E402


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return job.train(tmp_path_factory.mktemp("reference"))


@pytest.fixture
def crashed(tmp_path):
    """A folder whose run crashed at step 37 (checkpoints at 30 and 35)."""
    with pytest.raises(RuntimeError, match="simulated crash"):
        job.train(tmp_path, callbacks=[CrashAt(37)])
    return tmp_path


def snapshot(folder):
    return {p.name: p.read_bytes() for p in Path(folder).iterdir()}


def test_a_changed_lr_is_refused_not_overridden(crashed):
    before = snapshot(crashed)
    steps = []
    with pytest.raises(CheckpointError, match=re.escape(
            "optimizer.group0.lr: 0.01 in the checkpoint, 0.02 now")) as err:
        job.train(crashed, resume=True, lr=0.02, callbacks=[lambda o: steps.append(o.step)])
    assert str(Checkpointer(crashed).path(35)) in str(err.value)
    assert "another run configuration" in str(err.value)
    assert steps == [] and snapshot(crashed) == before       # nothing trained, nothing lost


@pytest.mark.parametrize("change, named", [
    (dict(optimizer=antigrad.AdamW), "optimizer: antigrad.optim.Adam in the checkpoint, "
                                     "antigrad.optim.AdamW now"),
    (dict(schedule=None), "schedule: antigrad.schedules"),
    (dict(batch_size=10), "data.batching: batch_size=8, drop_last=False in the checkpoint, "
                          "batch_size=10, drop_last=False now"),
    (dict(train=(job.data()[0] + 1, job.data()[1])), "data.tensor0: float32 (30, 3) sha256:"),
    (dict(divergence=None), "stop: [Divergence(factor=1000.0), Patience("),
    (dict(val=None), "val.batching: batch_size=None, drop_last=False in the checkpoint, "
                     "(absent) now"),
])
def test_another_runs_checkpoint_is_refused_naming_what_differs(crashed, change, named):
    with pytest.raises(CheckpointError, match=re.escape(named)):
        job.train(crashed, resume=True, **change)


def test_another_architecture_or_loss_is_refused(crashed):
    x, y = job.data()
    args = dict(optimizer=antigrad.Adam, lr=0.01, batch_size=8, steps=job.STEPS,
                schedule=lambda o: antigrad.schedules.InverseTime(o, tau=10, p=0.75),
                stop=antigrad.stop.Patience(100), val=(x, y), checkpoint=crashed,
                checkpoint_every=job.EVERY, resume=True, progress=False)
    wider = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.Dropout(0.2),
                                torch.nn.Tanh(), torch.nn.Linear(32, 1))
    with pytest.raises(CheckpointError, match=re.escape(
            "model.0.weight: float32 (16, 3) in the checkpoint, float32 (32, 3) now")):
        antigrad.fit(wider, mse_loss, (x, y), **args)
    with pytest.raises(CheckpointError, match=re.escape(
            "loss: torch.nn.functional.mse_loss in the checkpoint, "
            "torch.nn.functional.l1_loss now")):
        antigrad.fit(job.model(), l1_loss, (x, y), **args)
    antigrad.fit(job.model(), mse_loss, (x, y), **args)      # the same run resumes


def test_the_fit_seed_is_part_of_the_run(tmp_path):
    x, y = job.data()
    args = dict(lr=0.1, batch_size=8, epochs=2, checkpoint=tmp_path, progress=False)
    antigrad.fit(job.model(), mse_loss, (x, y), **args)
    with pytest.raises(CheckpointError, match=re.escape("seed: 0 in the checkpoint, 1 now")):
        antigrad.fit(job.model(), mse_loss, (x, y), seed=1, resume=True, **args)


def test_the_budget_is_not_part_of_the_run_and_callbacks_neither(crashed, reference):
    resumed = job.train(crashed, resume=True, steps=job.STEPS, callbacks=[lambda o: None],
                        progress=False, keep_checkpoints=3)
    assert resumed.resumed_from == 35
    same_run(resumed, reference)


def strip_fingerprint(path):
    payload = load_checkpoint(path)
    del payload["fingerprint"]
    save_checkpoint(path, payload)


def test_an_old_checkpoint_without_fingerprint(crashed, reference):
    """Found in the folder it is refused (it cannot be checked); named explicitly it is
    resumed, with a warning, exactly."""
    ck = Checkpointer(crashed)
    for _, path in ck.files():
        strip_fingerprint(path)
    with pytest.raises(CheckpointError, match="records no run configuration .written by an "
                                              "older antigrad.*pass resume="):
        job.train(crashed, resume=True)
    with pytest.warns(RuntimeWarning, match="resuming from it unchecked"):
        resumed = job.train(crashed, resume=ck.path(35))
    assert resumed.resumed_from == 35
    same_run(resumed, reference)
    assert "fingerprint" in ck.latest()[1]            # what it writes now is checkable


def test_a_fingerprint_is_the_same_in_another_process(tmp_path):
    """The fingerprint has no memory addresses: the SIGKILL test resumes a child's
    checkpoint in this process; here the texts themselves are checked."""
    job.train(tmp_path, steps=5)
    saved = Checkpointer(tmp_path).latest()[1]["fingerprint"]
    assert not any(re.search(r"0x[0-9a-f]{6,}", v) for v in saved.values())
    assert saved["loss"] == "torch.nn.functional.mse_loss"
    assert saved["optimizer.group0.betas"] == "(0.9, 0.999)"


def test_describe_and_differences():
    import numpy as np
    assert describe(np.float32(0.5)) == "0.5" and describe(torch.tensor(0.25)) == "tensor(0.25)"
    assert describe([1, (2.0, None)]) == "[1, (2.0, None)]"
    assert differences({"a": "1", "b": "x" * 500}, {"a": "1", "c": "2"}) == [
        "b: " + "x" * 117 + "... in the checkpoint, (absent) now",
        "c: (absent) in the checkpoint, 2 now"]


def test_data_digests_any_dtype_and_samples_large_tensors():
    from antigrad.train.fingerprint import _tensor_digest
    big = torch.zeros(5_000_000)                   # > 4M elements: a strided sample
    before = _tensor_digest(big)
    big[2] = 1.0                                    # in the sample (stride 2)
    assert _tensor_digest(big) != before
    small = torch.arange(6, dtype=torch.bfloat16).reshape(2, 3).T   # not contiguous
    assert _tensor_digest(small) == _tensor_digest(small.contiguous())
    assert _tensor_digest(small) != _tensor_digest(small.to(torch.float16))
