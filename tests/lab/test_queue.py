"""The shared work list: phases, claims, leases, a worker killed mid-run, one process."""

import time

import pytest

from antigrad.lab import CompareConfig, Store, new_comparison, run_compare
from antigrad.lab.plan import Work
from antigrad.lab.queue import WorkQueue
from antigrad.lab.worker import execute, work_on

CONFIG = CompareConfig("breast-cancer", ["sgd", "adam"], grid_points=2, seeds=3, steps=8,
                       eval_every=4)


def begun(tmp_path, config=CONFIG):
    store = Store(tmp_path / "s.sqlite")
    cmp = new_comparison(CompareConfig(**vars(config)))
    store.begin(cmp).close()
    return store, cmp


def rows(store, cid):
    from sqlalchemy import select

    from antigrad.lab.database import work

    with store.db.connect(write=False) as con:
        return [tuple(r) for r in con.execute(select(
            work.c.optimizer, work.c.kind, work.c.number, work.c.state, work.c.worker)
            .where(work.c.comparison_id == cid).order_by(work.c.id))]


def finish(queue, claims, cmp):
    for claim, result in zip(claims, execute(cmp, [c.work for c in claims], False),
                             strict=True):
        queue.complete(claim, result, 0.0)


def test_the_seeds_are_listed_only_once_the_lr_is_chosen(tmp_path):
    store, cmp = begun(tmp_path)
    with WorkQueue(store, cmp.id, "a") as queue:
        assert queue.plan() is False
        assert [(o, k, n) for o, k, n, *_ in rows(store, cmp.id)] == [
            ("sgd", "grid", 0), ("sgd", "grid", 1), ("adam", "grid", 0), ("adam", "grid", 1)]
        first = queue.claim()
        assert [c.work for c in first] == [Work("sgd", "grid", 0, 0.562, 0)]
        finish(queue, first, cmp)
        assert not any(k == "seed" for _, k, *_ in rows(store, cmp.id))
        second = queue.claim()
        finish(queue, second, cmp)  # sgd's grid is complete: its lr is chosen, seeds listed
        assert [(o, k, n, s) for o, k, n, s, _ in rows(store, cmp.id) if k == "seed"] == [
            ("sgd", "seed", 1, "pending"), ("sgd", "seed", 2, "pending")]
        assert "sgd" in store.load(cmp.id).chosen_lr


def test_a_claim_is_held_until_its_lease_ends_and_a_late_result_is_not_saved(tmp_path):
    store, cmp = begun(tmp_path)
    with WorkQueue(store, cmp.id, "a:machine-a", lease=600) as a, \
            WorkQueue(store, cmp.id, "b:machine-b", lease=0.3) as b:
        a.plan()
        (mine,) = a.claim()
        assert mine.work not in [c.work for c in b.claim()]  # held: b gets the next one
        b.release(b.claim())
        time.sleep(0.5)
        retaken = b.claim()
        assert mine.work in [c.work for c in retaken]  # a stalled past b's lease
        (result,) = execute(cmp, [mine.work], False)
        assert a.complete(mine, result, 0.0) is None  # a's late result is dropped
        claim = next(c for c in retaken if c.work == mine.work)
        assert b.complete(claim, result, 0.0) == 1
    assert len(store.load(cmp.id).runs) == 1


def test_a_claim_of_a_process_that_is_gone_is_retaken_at_once(tmp_path):
    import subprocess
    import sys

    store, cmp = begun(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    import socket

    with WorkQueue(store, cmp.id, f"{socket.gethostname()}:{dead}", lease=600) as gone:
        gone.plan()
        (lost,) = gone.claim()
    with WorkQueue(store, cmp.id, lease=600) as queue:
        assert queue.claim()[0].work == lost.work


def test_release_gives_claims_back(tmp_path):
    store, cmp = begun(tmp_path)
    with WorkQueue(store, cmp.id, "a") as queue:
        queue.plan()
        queue.release(queue.claim())
        assert {s for *_, s, _ in rows(store, cmp.id)} == {"pending"}


def test_one_worker_alone_makes_the_uninterrupted_comparison(tmp_path):
    store, cmp = begun(tmp_path)
    seen = []
    report = work_on(store, cmp.id, worker="solo", poll=0.05, replicas=False,
                     progress=lambda w, stored, total: seen.append((stored, total)))
    whole = run_compare(CompareConfig(**vars(CONFIG)), replicas=False)
    saved = store.load(cmp.id)
    assert saved.complete and len(report.stored) == 8 and not report.lost
    assert seen == [(k, 8) for k in range(1, 9)]
    assert saved.chosen_lr == whole.chosen_lr
    assert sorted((r.optimizer, r.phase, r.lr, r.seed, r.final_loss, r.final_metric)
                  for r in saved.runs) == sorted(
        (r.optimizer, r.phase, r.lr, r.seed, r.final_loss, r.final_metric) for r in whole.runs)
    assert {s for *_, s, _ in rows(store, cmp.id)} == {"done"}


def test_saving_a_result_reads_no_loss_curves_but_those_an_lr_choice_needs(tmp_path):
    """Each saved result once read its optimizer's runs whole again (curves and all), so
    a comparison's saving grew with the square of its runs; now the curves are read only
    where a grid's best run is chosen: once per optimizer, its grid runs."""
    from sqlalchemy import event

    store, cmp = begun(tmp_path)
    curves_read = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "runs.losses" in statement:
            curves_read.append(parameters)

    with WorkQueue(store, cmp.id, "a") as queue:
        event.listen(queue.con.engine, "before_cursor_execute", count)
        queue.plan()
        saved = 0
        while claims := queue.claim():
            finish(queue, claims, cmp)
            saved += len(claims)
    assert saved == 8 and store.load(cmp.id).complete
    assert len(curves_read) == 2  # sgd's choice and adam's, not one per saved result
    assert set(store.load(cmp.id).chosen_lr) == {"sgd", "adam"}


def test_a_worker_reads_the_loss_curves_only_for_the_lr_choices(tmp_path):
    """A worker claiming one run at a time read the whole comparison, curves and all, for
    every seed it claimed; the seeds train at the chosen lr, so only the choices (once per
    optimizer) read curves now."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    store, cmp = begun(tmp_path)
    curves_read = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "runs.losses" in statement:
            curves_read.append(parameters)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        report = work_on(store, cmp.id, worker="solo", poll=0.05, replicas=False)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert len(report.stored) == 8 and store.load(cmp.id).complete
    assert len(curves_read) == 2  # sgd's choice and adam's


@pytest.mark.parametrize("config", [
    CompareConfig("breast-cancer", ["sgd"], lr_method="range", seeds=2, steps=6),
    CompareConfig("breast-cancer", ["sgd", "adam"], seeds=2, steps=6, budget=3),
], ids=["range", "tuned"])
def test_range_test_and_tuned_comparisons_through_the_work_list(tmp_path, config):
    pytest.importorskip("optuna")
    store, cmp = begun(tmp_path, config)
    work_on(store, cmp.id, poll=0.05, replicas=False)
    whole = run_compare(CompareConfig(**vars(config)), replicas=False)
    saved = store.load(cmp.id)
    assert saved.complete and saved.chosen_lr == whole.chosen_lr
    for name in config.optimizers:  # each optimizer's trials, in order (they interleave)
        assert [(r.lr, r.final_metric) for r in saved.runs
                if r.optimizer == name and r.phase == "tune"] == [
            (r.lr, r.final_metric) for r in whole.runs
            if r.optimizer == name and r.phase == "tune"]
    assert sorted((r.optimizer, r.seed, r.final_loss) for r in saved.final_runs("sgd")) == \
        sorted((r.optimizer, r.seed, r.final_loss) for r in whole.final_runs("sgd"))
