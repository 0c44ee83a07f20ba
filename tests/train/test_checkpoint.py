"""Checkpoints: atomic writes, clear errors on damage, bit-identical resume (even after SIGKILL)."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

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
    assert not list(tmp_path.glob(".*.tmp"))      # a write it killed left nothing behind


def loader_train(folder, sampler, **kw):
    """The job on a DataLoader that shuffles with its own generator (or whose sampler
    does), validated on another such loader."""
    x, y = job.data()
    ds = TensorDataset(x, y)
    g, gv = torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)
    if sampler:
        train = DataLoader(ds, batch_size=8, sampler=RandomSampler(ds, generator=g))
    else:
        train = DataLoader(ds, batch_size=8, shuffle=True, generator=g)
    val = DataLoader(ds, batch_size=7, shuffle=True, generator=gv)
    return job.train(folder, train=train, batch_size=None, val=val, **kw)


@pytest.mark.parametrize("sampler", [False, True], ids=["loader-generator", "sampler-generator"])
def test_a_dataloader_with_its_own_generator_resumes_bit_identically(tmp_path, sampler):
    reference = loader_train(tmp_path / "reference", sampler)
    with pytest.raises(RuntimeError, match="simulated crash"):
        loader_train(tmp_path / "run", sampler, callbacks=[CrashAt(37)])
    resumed = loader_train(tmp_path / "run", sampler, resume=True)
    assert resumed.resumed_from == 35                   # mid-epoch (4 batches an epoch)
    same_run(resumed, reference)
    with pytest.raises(RuntimeError, match="simulated crash"):   # at an epoch boundary
        loader_train(tmp_path / "edge", sampler, callbacks=[CrashAt(42)], checkpoint_every=4)
    same_run(loader_train(tmp_path / "edge", sampler, resume=True, checkpoint_every=4),
             reference)


def record_steps():
    steps = []
    return steps, [lambda obs: steps.append(obs.step)]


def test_an_unwritable_checkpoint_folder_is_refused_before_any_training(tmp_path, monkeypatch):
    steps, callbacks = record_steps()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    with pytest.raises(ValueError, match=re.escape(f"Invalid checkpoint: {a_file} is a file, "
                                                   "not a folder")):
        job.train(a_file, callbacks=callbacks)
    with pytest.raises(ValueError, match=re.escape(f"Invalid checkpoint: cannot write "
                                                   f"checkpoints in {a_file / 'run'}")):
        job.train(a_file / "run", callbacks=callbacks)
    real_open = os.open

    def no_write(path, *args, **kw):         # as a read-only folder answers (root ignores
        if ".write-test." in str(path):      # chmod, so the refusal is simulated)
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kw)
    monkeypatch.setattr(os, "open", no_write)
    with pytest.raises(ValueError, match=r"cannot write checkpoints in .*read-only.*"
                                         r"PermissionError: Permission denied"):
        job.train(tmp_path / "read-only", callbacks=callbacks)
    monkeypatch.undo()
    assert steps == [] and a_file.read_text() == "mine"


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_files_of_killed_writes_are_removed_at_start_and_nothing_else(tmp_path):
    dead, alive = dead_pid(), os.getppid()
    stale = [f".step-000000035.ckpt.{dead}.tmp", f".write-test.{dead}.tmp"]
    kept = [f".step-000000040.ckpt.{alive}.tmp",      # a live writer's: not ours to judge
            ".step-000000035.ckpt.tmp", "step-000000035.ckpt.1.tmp", ".notes.123.tmp",
            "notes.txt"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    steps, callbacks = record_steps()
    job.train(tmp_path, callbacks=callbacks, steps=3)
    names = {p.name for p in tmp_path.iterdir()}
    assert not names & set(stale) and set(kept) <= names
    assert names - set(kept) == {"step-000000003.ckpt"} and steps == [1, 2, 3]


def test_a_checkpoint_replaced_by_a_folder(tmp_path):
    with pytest.raises(RuntimeError):
        job.train(tmp_path, callbacks=[CrashAt(42)])
    ck = Checkpointer(tmp_path)
    in_the_way = tmp_path / "step-000000040.ckpt"
    in_the_way.unlink()
    in_the_way.mkdir()
    (in_the_way / "mine.txt").write_text("keep me")
    steps, callbacks = record_steps()
    with pytest.raises(ValueError, match=re.escape(f"Invalid checkpoint: {in_the_way} is not "
                                                   "a file (the checkpoint of step 40")):
        job.train(tmp_path, resume=True, callbacks=callbacks)
    assert steps == [] and (in_the_way / "mine.txt").read_text() == "keep me"
    with pytest.raises(CheckpointError, match="Cannot write checkpoint .*not a file"):
        ck.save(40, {"w": torch.ones(1)})             # appearing mid-run: a clear error
    assert [s for s, _ in ck.files()] == [35]         # a folder is not a checkpoint ...
    Checkpointer(tmp_path, keep=1).save(45, {"w": torch.ones(1)})   # ... nor rotated out
    assert (in_the_way / "mine.txt").read_text() == "keep me"
