"""Several `antigrad work` processes on one comparison through a shared store (SQLite, and
PostgreSQL with `make test-postgres`): every run trained and saved exactly once, the
results of a single process, and a worker killed mid-run replaced."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from sqlalchemy import select  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import antigrad  # noqa: E402
from antigrad.cli import app  # noqa: E402
from antigrad.lab import CompareConfig, Store, run_compare  # noqa: E402
from antigrad.lab.database import work  # noqa: E402

pytestmark = pytest.mark.workers

SRC = Path(antigrad.__file__).resolve().parents[1]
TIMEOUT = 600


def spawn(cwd: Path, *args: str) -> subprocess.Popen:
    """``antigrad ARGS...`` as a process of its own (one thread, this checkout)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join([str(SRC), str(cwd), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "antigrad.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def create(location: str, *options: str) -> int:
    r = CliRunner().invoke(app, ["compare", *options, "--create-only", "--store", location])
    assert r.exit_code == 0, r.output
    return int(r.stdout.strip())


def work_rows(location: str, cid: int) -> list[tuple]:
    with Store(location).db.connect(write=False) as con:
        return [tuple(r) for r in con.execute(select(
            work.c.optimizer, work.c.kind, work.c.number, work.c.state, work.c.worker).where(
            work.c.comparison_id == cid))]


def measured(cmp) -> list[tuple]:
    """Every run by what it is, with what it measured (not its timings)."""
    return sorted((r.optimizer, r.phase, r.lr, r.seed, r.final_loss, r.final_metric,
                   str(r.losses), r.diverged) for r in cmp.runs)


OPTIONS = ("-p", "breast-cancer", "-o", "sgd,adam", "--grid-points", "3", "--seeds", "3",
           "--steps", "30", "--eval-every", "10")
CONFIG = CompareConfig("breast-cancer", ["sgd", "adam"], grid_points=3, seeds=3, steps=30,
                       eval_every=10)


def three_workers(location: str, cwd: Path) -> None:
    cid = create(location, *OPTIONS)
    workers = [spawn(cwd, "work", str(cid), "--store", location, "--worker", f"w{i}",
                     "--no-replicas") for i in range(3)]
    outputs = [w.communicate(timeout=TIMEOUT) for w in workers]
    for w, (_, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err[-3000:]
    saved = [re.findall(r"^(.*): saved \(\d+/10\)$", err, re.M) for _, err in outputs]
    assert not any("not saved" in err for _, err in outputs)
    labels = [label for ran in saved for label in ran]
    assert len(labels) == len(set(labels)) == 10  # every run trained by exactly one worker
    rows = work_rows(location, cid)
    assert len(rows) == 10 and {state for *_, state, _ in rows} == {"done"}
    for i, ran in enumerate(saved):
        assert sum(who == f"w{i}" for *_, who in rows) == len(ran)
    cmp = Store(location).load(cid)
    alone = run_compare(CompareConfig(**vars(CONFIG)), replicas=False)
    assert cmp.complete and len(cmp.runs) == 10
    assert cmp.chosen_lr == alone.chosen_lr and measured(cmp) == measured(alone)
    r = CliRunner().invoke(app, ["report", str(cid), "--store", location, "--no-gallery",
                                 "--out", str(cwd / "report")])
    assert r.exit_code == 0, r.output


def test_three_workers_share_a_sqlite_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    three_workers(str(tmp_path / "runs" / "shared.sqlite"), tmp_path)


@pytest.mark.postgres
def test_three_workers_share_a_postgresql_store(pg_schema, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    three_workers(pg_schema.url, tmp_path)


def test_two_workers_on_a_tuned_comparison_draw_the_single_process_trials(
        tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    monkeypatch.chdir(tmp_path)
    location = str(tmp_path / "runs" / "shared.sqlite")
    cid = create(location, "-p", "breast-cancer", "-o", "sgd,adam", "--budget", "3",
                 "--seeds", "2", "--steps", "10")
    workers = [spawn(tmp_path, "work", str(cid), "--store", location, "--no-replicas")
               for _ in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=TIMEOUT)
        assert w.returncode == 0, err[-3000:]
    cmp = Store(location).load(cid)
    alone = run_compare(CompareConfig("breast-cancer", ["sgd", "adam"], budget=3, seeds=2,
                                      steps=10), replicas=False)
    assert cmp.complete and cmp.chosen_lr == alone.chosen_lr
    for name in ("sgd", "adam"):  # each optimizer's trials in order, as one process drew them
        assert [(r.lr, r.final_metric) for r in cmp.runs
                if r.optimizer == name and r.phase == "tune"] == [
            (r.lr, r.final_metric) for r in alone.runs
            if r.optimizer == name and r.phase == "tune"]
    assert measured(cmp) == measured(alone)


SLOW_TASKS = """
import time
import torch
from antigrad.problems import Task, TrainingProblem, accuracy, cross_entropy_loss

g = torch.Generator().manual_seed(0)
X = torch.randn(200, 4, generator=g)
Y = (X[:, 0] + X[:, 1] > 0).long()

def build(seed):
    time.sleep(2.0)  # a run long enough to be killed in the middle of
    return Task(torch.nn.Linear(4, 2), X[:160], Y[:160], X[160:], Y[160:],
                cross_entropy_loss, accuracy)

def make():
    return TrainingProblem(name="slow", metric="test accuracy", higher_is_better=True,
                           target=0.9, steps=10, batch_size=20, eval_every=5, build=build)
"""


def test_a_worker_killed_mid_run_is_replaced_without_waiting_for_its_lease(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "slow_tasks.py").write_text(SLOW_TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    location = str(tmp_path / "runs" / "shared.sqlite")
    cid = create(location, "-p", "slow_tasks:make", "-o", "sgd", "--grid-points", "2",
                 "--seeds", "2")
    victim = spawn(tmp_path, "work", str(cid), "--store", location, "--lease", "600")
    deadline = time.monotonic() + TIMEOUT
    while not any(state == "claimed" for *_, state, _ in work_rows(location, cid)):
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    victim.kill()  # SIGKILL: no chance to give its claim back
    victim.communicate()
    (held,) = [r for r in work_rows(location, cid) if r[3] == "claimed"]
    assert held[4].endswith(f":{victim.pid}")
    start = time.monotonic()
    heir = spawn(tmp_path, "work", str(cid), "--store", location, "--lease", "600")
    _, err = heir.communicate(timeout=TIMEOUT)
    assert heir.returncode == 0, err[-3000:]
    assert time.monotonic() - start < 600  # the lease of 600 s was not waited out
    rows = work_rows(location, cid)
    assert len(rows) == 3 and {state for *_, state, _ in rows} == {"done"}
    cmp = Store(location).load(cid)
    assert cmp.complete and len(cmp.runs) == 3
    assert sorted((r.phase, r.seed) for r in cmp.runs) == [("final", 0), ("final", 1),
                                                           ("tune", 0)]
