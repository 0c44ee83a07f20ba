"""Going on with an interrupted comparison: only the missing runs, the same results."""

import sqlite3

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from antigrad.cli import app  # noqa: E402
from antigrad.lab import CompareConfig, Store, new_comparison, run_compare  # noqa: E402
from antigrad.lab import compare as compare_mod  # noqa: E402
from antigrad.lab.worker import run_remaining  # noqa: E402
from lab.interrupting import Interrupt  # noqa: E402
from lab.replica_problems import count_batches  # noqa: E402


def key(cmp):
    """Every stored result by what it is, with what it measured (all but timings)."""
    runs = {(r.optimizer, r.phase, r.lr, r.seed): (
        r.final_loss, r.final_metric, [tuple(x) for x in r.losses],
        [(step, metric) for step, _, metric in r.evals], r.diverged, r.steps_to_target)
        for r in cmp.runs}
    assert len(runs) == len(cmp.runs)  # nothing stored twice
    tests = {t.optimizer: (t.suggestion, t.lrs, t.losses) for t in cmp.range_tests}
    return runs, tests, cmp.chosen_lr


def counting(monkeypatch):
    calls = []
    real = compare_mod.train_run

    def counted(problem, spec, lr, seed, **kw):
        calls.append((spec.name, lr, seed))
        return real(problem, spec, lr, seed, **kw)

    monkeypatch.setattr(compare_mod, "train_run", counted)
    return calls


GRID = CompareConfig("breast-cancer", ["sgd", "adam"], grid_points=3, seeds=3, steps=12,
                     eval_every=4)


@pytest.mark.parametrize("after", [1, 3, 4, 6, 9])
def test_an_interrupted_grid_comparison_resumes_to_the_uninterrupted_result(
        tmp_path, monkeypatch, after):
    whole = run_compare(CompareConfig(**vars(GRID)))
    store = Store(tmp_path / "s.sqlite")
    cmp = new_comparison(CompareConfig(**vars(GRID)))
    with store.begin(cmp) as rec, pytest.raises(KeyboardInterrupt):
        run_compare(cmp, Interrupt(after), rec)
    again, rec = store.resume(cmp.id)
    assert len(again.runs) == after and not again.complete
    calls = counting(monkeypatch)
    with rec:
        run_remaining(again, recorder=rec)
    assert len(calls) == 10 - after  # 2 x (3 grid points + 2 more seeds), none twice
    saved = store.load(cmp.id)
    assert saved.complete and key(saved) == key(whole)
    assert [(s.optimizer, s.lr, s.metric_mean, s.metric_std, s.loss_mean) for s in
            saved.summaries()] == [(s.optimizer, s.lr, s.metric_mean, s.metric_std,
                                    s.loss_mean) for s in whole.summaries()]


def test_an_interrupted_range_test_comparison_resumes(tmp_path):
    config = CompareConfig("breast-cancer", ["sgd", "adam"], lr_method="range", seeds=2,
                           steps=10)
    whole = run_compare(CompareConfig(**vars(config)))
    store = Store(tmp_path / "s.sqlite")
    cmp = new_comparison(config)
    with store.begin(cmp) as rec, pytest.raises(KeyboardInterrupt):
        run_compare(cmp, Interrupt(4), rec)  # sgd's test and seeds, adam's test
    again, rec = store.resume(cmp.id)
    with rec:
        run_remaining(again, recorder=rec)
    assert key(store.load(cmp.id)) == key(whole)


def test_a_fresh_comparison_run_by_run_remaining_equals_run_compare():
    a = run_compare(CompareConfig(**vars(GRID)))
    b = run_remaining(new_comparison(CompareConfig(**vars(GRID))))
    assert key(a) == key(b) and b.complete


def test_a_complete_comparison_is_not_run_again():
    cmp = run_compare(CompareConfig("breast-cancer", ["sgd"], grid_points=1, seeds=1, steps=3))
    with pytest.raises(ValueError, match="complete"):
        run_remaining(cmp)


def test_cli_resumes_a_grid_comparison(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    store = Store("runs/antigrad.sqlite")
    cmp = new_comparison(CompareConfig("breast-cancer", ["sgd"], grid_points=2, seeds=3,
                                       steps=10))
    with store.begin(cmp) as rec, pytest.raises(KeyboardInterrupt):
        run_compare(cmp, Interrupt(2), rec)  # the grid is run, the lr not yet chosen
    r = CliRunner().invoke(app, ["compare", "--resume", str(cmp.id), "--no-gallery"])
    assert r.exit_code == 0, r.output
    assert "(at most 40 steps, 2 left)" in " ".join(r.stderr.split())
    with sqlite3.connect("runs/antigrad.sqlite") as con:
        rows = con.execute("SELECT phase, seed FROM runs ORDER BY id").fetchall()
        assert sorted(rows) == [("final", 0), ("final", 1), ("final", 2), ("tune", 0)]
        assert con.execute("SELECT complete FROM comparisons").fetchall() == [(1,)]
    r = CliRunner().invoke(app, ["compare", "--resume", str(cmp.id)])
    assert r.exit_code == 2 and "complete: nothing to resume" in r.output


@pytest.mark.parametrize("args, option", [
    (["work", "1", "--lease", "0"], "--lease"),
    (["work", "1", "--lease", "nan"], "--lease"),
    (["work", "1", "--worker", " "], "--worker"),
    (["work", "7"], "COMPARISON"),
    (["work", "1", "--store", "mysql://u@h/db"], "--store"),
    (["compare", "--store", "mysql://u@h/db"], "--store"),
    (["compare", "--store", "postgresql://u@h"], "--store"),
    (["export", "--store", "oracle://u@h/db"], "--store"),
    (["compare", "--resume", "1", "--create-only"], "--resume"),
])
def test_bad_worker_options_and_store_urls_exit_2_before_any_work(tmp_path, monkeypatch,
                                                                  args, option):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    assert runner.invoke(app, ["compare", "-p", "breast-cancer", "-o", "sgd", "--seeds", "1",
                               "--grid-points", "1", "--steps", "3", "--create-only"]
                         ).exit_code == 0
    before = (tmp_path / "runs" / "antigrad.sqlite").read_bytes()
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and option in r.output and "Traceback" not in r.output
    assert (tmp_path / "runs" / "antigrad.sqlite").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_create_only_then_work_then_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    r = runner.invoke(app, ["compare", "-p", "breast-cancer", "-o", "sgd,adam", "--seeds", "2",
                            "--grid-points", "2", "--steps", "5", "--create-only"])
    assert r.exit_code == 0 and r.stdout.strip() == "1"
    assert "antigrad work 1 --store runs/antigrad.sqlite" in " ".join(r.stderr.split())
    assert Store("runs/antigrad.sqlite").list()[0]["complete"] is False
    assert not Store("runs/antigrad.sqlite").load(1).runs  # nothing trained yet
    r = runner.invoke(app, ["work", "1", "--worker", "only"])
    assert r.exit_code == 0, r.output
    assert "worker only saved 6 result(s)" in " ".join(r.stderr.split())
    assert Store("runs/antigrad.sqlite").load(1).complete
    r = runner.invoke(app, ["work", "1"])
    assert r.exit_code == 0 and "is complete: nothing to do" in r.stderr
    assert runner.invoke(app, ["report", "1", "--no-gallery"]).exit_code == 0


def test_run_remaining_batches_the_runs_of_several_optimizers_as_run_compare_does(
        monkeypatch):
    sizes = count_batches(monkeypatch)

    def config():  # the nine lecture optimizers, one grid point each: a batch of nine
        return CompareConfig("breast-cancer", grid_points=1, seeds=2, steps=6)

    whole = run_compare(config())
    assert sizes == [9, 9]  # the grid points, then the second seeds
    resumed = run_remaining(new_comparison(config()))
    assert sizes == [9, 9, 9, 9]
    assert key(resumed) == key(whole) and resumed.complete
