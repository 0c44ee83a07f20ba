"""Checkpoints: atomic writes, clear errors on damage, bit-identical resume (even after SIGKILL)."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from antigrad.train import Callback, Checkpointer, CheckpointError, load_checkpoint
from antigrad.train.checkpoint import save_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
import ckpt_workload as job  # noqa: E402


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    return job.train(tmp_path_factory.mktemp("reference"))


def same_run(a, b):
    assert a.history == b.history
    assert a.history.steps["loss"] == b.history.steps["loss"]   # the numbers, bit for bit
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert (a.steps, a.stopped_by, a.best_step) == (b.steps, b.stopped_by, b.best_step)


class CrashAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, run, obs):
        if obs.step == self.step:
            raise RuntimeError("simulated crash")


def test_resume_after_a_crash_is_bit_identical(tmp_path, reference):
    with pytest.raises(RuntimeError, match="simulated crash"):
        job.train(tmp_path, callbacks=[CrashAt(37)])
    assert [s for s, _ in Checkpointer(tmp_path).files()] == [30, 35]
    resumed = job.train(tmp_path, resume=True, seed=123)   # other initial weights: overwritten
    assert resumed.resumed_from == 35                       # mid-epoch (4 batches per epoch)
    same_run(resumed, reference)


def test_resuming_a_finished_run_trains_nothing(tmp_path, reference):
    first = job.train(tmp_path)
    steps = []
    again = job.train(tmp_path, resume=True, callbacks=[lambda obs: steps.append(obs.step)])
    assert steps == [] and again.resumed_from == job.STEPS
    same_run(again, first)
    same_run(again, reference)


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, reference):
    with pytest.raises(RuntimeError):
        job.train(tmp_path, callbacks=[CrashAt(42)])
    (s1, p1), (s2, p2) = Checkpointer(tmp_path).files()
    assert (s1, s2) == (35, 40)
    p2.write_bytes(p2.read_bytes()[:-100])                    # truncated
    with pytest.raises(CheckpointError, match=re.escape(f"Invalid checkpoint {p2}: truncated")):
        load_checkpoint(p2)
    with pytest.warns(RuntimeWarning, match="truncated"):
        resumed = job.train(tmp_path, resume=True)
    assert resumed.resumed_from == 35
    same_run(resumed, reference)


def test_corruption_and_foreign_files_give_clear_errors(tmp_path):
    ck = Checkpointer(tmp_path, keep=3)
    for step in (1, 2, 3):
        ck.save(step, {"w": torch.full((100,), float(step))})
    files = [p for _, p in ck.files()]
    raw = bytearray(files[2].read_bytes())
    raw[-50] ^= 0xFF
    files[2].write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted .checksum mismatch"):
        load_checkpoint(files[2])
    files[1].write_bytes(b"PK\x03\x04 definitely not ours")
    with pytest.raises(CheckpointError, match="not an antigrad checkpoint"):
        load_checkpoint(files[1])
    with pytest.warns(RuntimeWarning):
        step, payload = ck.latest()
    assert step == 1 and payload["w"][0].item() == 1.0
    files[0].write_bytes(files[0].read_bytes()[:10])
    with pytest.warns(RuntimeWarning), pytest.raises(CheckpointError, match="No usable"):
        ck.latest()
    with pytest.raises(CheckpointError, match="Cannot read checkpoint"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    ck = Checkpointer(tmp_path, keep=1)
    ck.save(1, {"w": torch.ones(3)})

    def broken_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        ck.save(2, {"w": torch.zeros(3)})
    monkeypatch.undo()
    assert [s for s, _ in ck.files()] == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000000001.ckpt"]  # no temp
    assert ck.latest()[1]["w"].tolist() == [1.0, 1.0, 1.0]


def test_keep_and_resume_from_an_explicit_file(tmp_path, reference):
    with pytest.raises(RuntimeError):
        job.train(tmp_path, callbacks=[CrashAt(23)], keep_checkpoints=3)
    files = Checkpointer(tmp_path).files()
    assert [s for s, _ in files] == [10, 15, 20]
    resumed = job.train(tmp_path / "elsewhere", resume=files[0][1])
    assert resumed.resumed_from == 10
    same_run(resumed, reference)
    with pytest.raises(ValueError, match="Invalid keep_checkpoints: 0"):
        Checkpointer(tmp_path, keep=0)


def test_save_checkpoint_round_trips_plain_containers(tmp_path):
    payload = {"a": [1.0, None, "x"], "b": {"c": torch.arange(3)}, "d": (1, 2)}
    out = load_checkpoint(save_checkpoint(tmp_path / "x.ckpt", payload))
    assert out["a"] == [1.0, None, "x"] and out["b"]["c"].tolist() == [0, 1, 2]


def test_sigkill_mid_run_then_resume_loses_at_most_one_interval(tmp_path, reference):
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), os.environ.get(
        "PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, str(here / "ckpt_workload.py"), str(tmp_path)],
                             stdout=subprocess.PIPE, text=True, env=env)
    last = 0
    try:
        for line in child.stdout:
            last = int(line.split()[1])
            if last >= 33:
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL and last >= 33
    resumed = job.train(tmp_path, resume=True)
    assert last - job.EVERY <= resumed.resumed_from <= last
    same_run(resumed, reference)
