"""The result store on a real PostgreSQL server (``make test-postgres``): the same
round trips and the same safety as the SQLite store."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from antigrad.cli import app  # noqa: E402
from antigrad.lab import CompareConfig, Store, StoreError, new_comparison, run_compare  # noqa: E402
from antigrad.lab.worker import run_remaining  # noqa: E402
from lab.interrupting import Interrupt  # noqa: E402

pytestmark = pytest.mark.postgres

CONFIG = CompareConfig("breast-cancer", ["sgd", "adam"], grid_points=2, seeds=2, steps=10,
                       eval_every=5)


def test_round_trip_and_resume(pg_schema):
    store = Store(pg_schema.url)
    assert store.list() == [] and pg_schema.tables() == set()  # reading created nothing
    whole = run_compare(CompareConfig(**vars(CONFIG)))
    cid = store.save(whole)
    back = store.load(cid)
    assert back.config == whole.config and back.chosen_lr == whole.chosen_lr
    assert [r.losses for r in back.runs] == [[tuple(x) for x in r.losses] for r in whole.runs]
    assert pg_schema.tables() == {"comparisons", "runs", "range_tests", "work"}

    cmp = new_comparison(CompareConfig(**vars(CONFIG)))
    with store.begin(cmp) as rec, pytest.raises(KeyboardInterrupt):
        run_compare(cmp, Interrupt(3), rec)
    assert [row["complete"] for row in store.list()] == [True, False]
    again, rec = store.resume(cmp.id)
    with rec:
        run_remaining(again, recorder=rec)
    done = store.load(cmp.id)
    assert done.complete and done.chosen_lr == whole.chosen_lr
    assert sorted((r.optimizer, r.phase, r.lr, r.seed, r.final_loss) for r in done.runs) == \
        sorted((r.optimizer, r.phase, r.lr, r.seed, r.final_loss) for r in whole.runs)


def test_another_applications_database_is_neither_read_nor_written(pg_schema):
    pg_schema.sql(f'CREATE TABLE "{pg_schema.name}".users (name TEXT)')
    store = Store(pg_schema.url)
    for attempt in (store.check_writable, store.list, store.load,
                    lambda: store.begin(new_comparison(CompareConfig(**vars(CONFIG))))):
        with pytest.raises(StoreError, match="another application's database"):
            attempt()
    assert pg_schema.tables() == {"users"}


def test_cli_compare_report_and_export_on_postgres(pg_schema, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    r = runner.invoke(app, ["compare", "-p", "breast-cancer", "-o", "sgd", "--seeds", "2",
                            "--grid-points", "2", "--steps", "5", "--no-gallery",
                            "--store", pg_schema.url])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "runs" / "0001-breast-cancer" / "report.html").is_file()
    assert "password" not in r.output.lower() or "***" in r.output
    r = runner.invoke(app, ["export", "1", "--format", "csv", "--store", pg_schema.url])
    assert r.exit_code == 0 and len(r.stdout.strip().splitlines()) == 1 + 3
    r = runner.invoke(app, ["report", "--list", "--store", pg_schema.url])
    assert r.exit_code == 0 and "breast-cancer" in r.stdout
