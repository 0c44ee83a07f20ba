"""The store is checked before any work, saves each run as it finishes, and reading it
never writes into the file."""

import sqlite3

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from antigrad.lab import (  # noqa: E402
    CompareConfig,
    Store,
    StoreError,
    new_comparison,
    run_compare,
    write_report,
)
from antigrad.lab import compare as compare_mod  # noqa: E402


def other_app_db(path):
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE users (name TEXT)")
        con.execute("INSERT INTO users VALUES ('ada')")
    return path


def header():
    return new_comparison(CompareConfig("breast-cancer", ["sgd"], grid_points=2, seeds=3,
                                        steps=5))


@pytest.fixture
def bad_paths(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("not a database")
    (tmp_path / "empty").write_bytes(b"")
    other_app_db(tmp_path / "app.sqlite")
    return tmp_path


@pytest.mark.parametrize("name, why", [
    ("folder", "is a folder"), ("notes.txt", "not an SQLite database"),
    ("empty", "not an SQLite database"), ("app.sqlite", "another application"),
    ("notes.txt/s.sqlite", "not a folder"),
])
def test_bad_store_refused_before_anything_is_written(bad_paths, name, why):
    before = {p.name: p.read_bytes() for p in bad_paths.iterdir() if p.is_file()}
    store = Store(bad_paths / name)
    for attempt in (store.check_writable, lambda: store.begin(header())):
        with pytest.raises(StoreError, match=why):
            attempt()
    assert {p.name: p.read_bytes() for p in bad_paths.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in bad_paths.iterdir()) == sorted(
        ["folder", "notes.txt", "empty", "app.sqlite"])


def test_unwritable_place():
    with pytest.raises(StoreError, match="cannot write"):
        Store("/proc/antigrad.sqlite").check_writable()


def test_locked_store(tmp_path):
    store = Store(tmp_path / "s.sqlite", timeout=0.05)
    store.check_writable()
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for attempt in (store.check_writable, lambda: store.begin(header()), store.list):
            with pytest.raises(StoreError, match="locked"):
                attempt()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_reading_never_writes(tmp_path):
    app = other_app_db(tmp_path / "app.sqlite")
    before = app.read_bytes()
    for attempt in (Store(app).list, Store(app).load):
        with pytest.raises(StoreError, match="another application"):
            attempt()
    assert app.read_bytes() == before
    blank = tmp_path / "blank.sqlite"
    sqlite3.connect(blank).execute("PRAGMA user_version = 0").connection.close()
    before = blank.read_bytes()
    assert Store(blank).list() == [] and blank.read_bytes() == before
    with pytest.raises(StoreError, match="no comparisons"):
        Store(blank).load()
    assert blank.read_bytes() == before
    assert Store(tmp_path / "none.sqlite").list() == []
    assert not (tmp_path / "none.sqlite").exists()


def test_each_run_is_saved_as_it_finishes(tmp_path, monkeypatch):
    store = Store(tmp_path / "s.sqlite")
    cmp = header()
    real, calls = compare_mod.train_run, []

    def train_then_interrupt(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(compare_mod, "train_run", train_then_interrupt)
    with store.begin(cmp) as rec, pytest.raises(KeyboardInterrupt):
        run_compare(cmp, recorder=rec)
    (row,) = store.list()
    assert row["id"] == cmp.id and row["complete"] is False
    back = store.load(cmp.id)
    assert len(back.runs) == 3 and not back.complete  # 2 grid runs + seed 1; seed 2 never ran
    assert back.chosen_lr == cmp.chosen_lr and len(back.final_runs("sgd")) == 2
    html = write_report(back, tmp_path / "rep").read_text()
    assert 'id="incomplete"' in html and "3 run(s)" in html


def test_recorded_comparison_loads_as_run(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    cmp = header()
    with store.begin(cmp) as rec:
        run_compare(cmp, recorder=rec)
    back = store.load()
    assert back.complete and back.summaries() == cmp.summaries()
    assert [r.phase for r in back.runs] == [r.phase for r in cmp.runs]
    assert [r.losses for r in back.runs] == [r.losses for r in cmp.runs]


def test_store_from_before_complete_column(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as con:
        con.executescript("""
        CREATE TABLE comparisons (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL,
            problem TEXT NOT NULL, title TEXT NOT NULL, metric TEXT NOT NULL,
            higher_is_better INTEGER NOT NULL, target REAL NOT NULL, config TEXT NOT NULL,
            chosen_lr TEXT NOT NULL, seconds REAL NOT NULL);
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, comparison_id INTEGER NOT NULL,
            optimizer TEXT NOT NULL, lr REAL NOT NULL, seed INTEGER NOT NULL,
            phase TEXT NOT NULL, steps INTEGER NOT NULL, diverged INTEGER NOT NULL,
            final_loss REAL, final_metric REAL, seconds REAL NOT NULL, steps_to_target INTEGER,
            seconds_to_target REAL, losses TEXT NOT NULL, evals TEXT NOT NULL);
        CREATE TABLE range_tests (comparison_id INTEGER NOT NULL, optimizer TEXT NOT NULL,
            data TEXT NOT NULL);
        INSERT INTO comparisons VALUES (1, 'then', 'breast-cancer', 't', 'test accuracy', 1,
            0.95, '{"problem": "breast-cancer", "optimizers": ["sgd"]}', '{"sgd": 0.1}', 1.5);
        """)
    before = path.read_bytes()
    assert Store(path).list()[0]["complete"] is True and path.read_bytes() == before
    assert Store(path).load(1).complete
    cmp = header()
    Store(path).begin(cmp).close()
    assert [r["complete"] for r in Store(path).list()] == [True, False]


@pytest.mark.parametrize("url, why", [
    ("mysql://u@host/db", "SQLite .* or PostgreSQL .*not mysql"),
    ("postgresql://u@host", "names no database"),
    ("sqlite://", "names no SQLite file"),
    ("://nothing", "not a store URL"),
])
def test_bad_urls_are_refused_at_once(url, why):
    with pytest.raises(StoreError, match=why):
        Store(url)


def test_an_unreachable_server_is_a_store_error():
    pytest.importorskip("psycopg")
    store = Store("postgresql://antigrad:secret@127.0.0.1:9/antigrad", timeout=1)
    with pytest.raises(StoreError, match="cannot write the result store") as err:
        store.check_writable()
    assert "secret" not in str(err.value)  # the password is never shown
    with pytest.raises(StoreError, match="cannot read the result store"):
        store.list()


def test_a_sqlite_url_is_the_same_store_as_its_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cid = Store("sqlite:///runs/s.sqlite").save(run_compare(
        CompareConfig("breast-cancer", ["sgd"], grid_points=1, seeds=1, steps=3)))
    assert Store(tmp_path / "runs" / "s.sqlite").load(cid).complete


def test_store_from_before_run_params_reads_and_gains_the_column(tmp_path):
    path = tmp_path / "old.sqlite"
    cmp = run_compare(CompareConfig("breast-cancer", ["sgd"], seeds=1, steps=5, budget=2,
                                    search=["lr", "schedule"]))
    Store(path).save(cmp)
    with sqlite3.connect(path) as con:
        con.execute("ALTER TABLE runs DROP COLUMN params")  # as a store written before
    before = path.read_bytes()
    old = Store(path).load(1)
    assert path.read_bytes() == before and all(r.params == {} for r in old.runs)
    Store(path).begin(header()).close()  # writing adds the column
    Store(path).save(cmp)
    assert [r.params for r in Store(path).load(3).runs] == [r.params for r in cmp.runs]
    assert any(r.params for r in cmp.runs)
