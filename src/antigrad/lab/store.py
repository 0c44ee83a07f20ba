"""A SQLite store of comparisons under ``runs/`` (``runs/antigrad.sqlite`` by default).

Tables: ``comparisons`` (one row each: problem, config, chosen lrs, timing, whether it
finished) and ``runs`` (one row per training run, curves as JSON) and ``range_tests``.

The store is opened and checked before any work: a path that is a folder, a file that
is not an SQLite database, another application's database, a database locked by another
process or a place that cannot be written raises :class:`StoreError` and nothing is
written. :meth:`Store.begin` records a comparison as it runs: each run is saved in its
own transaction as soon as it finishes, so an interrupted ``compare`` keeps every run
that finished (its comparison stays marked incomplete). Reading (:meth:`Store.list`,
:meth:`Store.load`) opens the file read-only and never writes antigrad's tables into it.
Everything read back is checked as untrusted data (:mod:`~antigrad.lab.stored`).

Example::

    >>> import tempfile, pathlib
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "s.sqlite")
    >>> store.list()
    []
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

from . import stored
from .compare import Comparison
from .lr_range import LRRangeResult
from .runner import RunResult
from .stored import StoreError

__all__ = ["Store", "StoreRecording", "DEFAULT_STORE", "StoreError"]

#: Where ``antigrad`` keeps results unless told otherwise.
DEFAULT_STORE = Path("runs") / "antigrad.sqlite"

#: ``PRAGMA application_id`` of an antigrad store ("antg").
APPLICATION_ID = 0x616E7467

_TABLES = {
    "comparisons": """CREATE TABLE IF NOT EXISTS comparisons (
        id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, problem TEXT NOT NULL,
        title TEXT NOT NULL, metric TEXT NOT NULL, higher_is_better INTEGER NOT NULL,
        target REAL NOT NULL, config TEXT NOT NULL, chosen_lr TEXT NOT NULL,
        seconds REAL NOT NULL, complete INTEGER NOT NULL DEFAULT 1)""",
    "runs": """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        comparison_id INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
        optimizer TEXT NOT NULL, lr REAL NOT NULL, seed INTEGER NOT NULL, phase TEXT NOT NULL,
        steps INTEGER NOT NULL, diverged INTEGER NOT NULL, final_loss REAL, final_metric REAL,
        seconds REAL NOT NULL, steps_to_target INTEGER, seconds_to_target REAL,
        losses TEXT NOT NULL, evals TEXT NOT NULL)""",
    "range_tests": """CREATE TABLE IF NOT EXISTS range_tests (
        comparison_id INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
        optimizer TEXT NOT NULL, data TEXT NOT NULL)""",
}

#: Columns each table must have (``complete`` came later: added to older stores on write).
_COLUMNS = {
    "comparisons": {"id", "created", "problem", "title", "metric", "higher_is_better",
                    "target", "config", "chosen_lr", "seconds"},
    "runs": {"id", "comparison_id", "optimizer", "lr", "seed", "phase", "steps", "diverged",
             "final_loss", "final_metric", "seconds", "steps_to_target",
             "seconds_to_target", "losses", "evals"},
    "range_tests": {"comparison_id", "optimizer", "data"},
}

_SQLITE_HEADER = b"SQLite format 3\x00"


def _num(x: float | None) -> float | None:
    """NaN is stored as NULL (SQLite has no NaN)."""
    return None if x is None or x != x else x


class Store:
    """Comparisons saved in one SQLite file (created with its folder on first write).

    ``timeout``: seconds to wait for another process's lock (default :attr:`TIMEOUT`).
    """

    TIMEOUT = 5.0

    def __init__(self, path: str | Path = DEFAULT_STORE, timeout: float | None = None) -> None:
        self.path = Path(path)
        self.timeout = self.TIMEOUT if timeout is None else float(timeout)

    # -- opening and checking -------------------------------------------------------------

    def _check_file(self, write: bool) -> None:
        """The path is (or can become) an SQLite file; raises before anything is opened."""
        p = self.path
        if not str(p).strip() or p.is_dir():
            raise StoreError(f"{str(p)!r} is a folder, not a result store file")
        if not p.exists():
            if not write:
                raise StoreError(f"no result store at {p} (run `antigrad compare` first)")
            base = p.parent
            while not base.exists() and base != base.parent:
                base = base.parent
            if not base.is_dir():
                raise StoreError(f"cannot create the result store {p}: {base} is not a folder")
            return
        with open(p, "rb") as f:
            head = f.read(len(_SQLITE_HEADER))
        if head != _SQLITE_HEADER:
            raise StoreError(f"{p} is not an SQLite database (an antigrad result store); "
                             "antigrad does not touch it: name another --store")

    def _check_tables(self, con: sqlite3.Connection) -> set[str]:
        """Raise unless the database is antigrad's (or empty); its antigrad tables."""
        names = {r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        app = con.execute("PRAGMA application_id").fetchone()[0]
        foreign = names - set(_TABLES)
        if foreign or app not in (0, APPLICATION_ID):
            raise StoreError(f"{self.path} is another application's database (tables: "
                             f"{', '.join(sorted(names)) or 'none'}), not an antigrad result "
                             "store; antigrad neither reads nor writes it: name another --store")
        for name in names:
            cols = {r[1] for r in con.execute(f"PRAGMA table_info({name})")}
            if not _COLUMNS[name] <= cols:
                raise StoreError(f"{self.path} has a table {name!r} without antigrad's "
                                 "columns; it is not an antigrad result store")
        return names

    def _open(self, write: bool) -> tuple[sqlite3.Connection, set[str]]:
        """A checked connection (read-only, or with antigrad's tables ensured) and the
        antigrad tables it has."""
        self._check_file(write)
        con = None
        try:
            if write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            mode = "rwc" if write else "ro"
            uri = f"file:{quote(str(self.path.absolute()))}?mode={mode}"
            con = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None)
            con.execute("PRAGMA foreign_keys = ON")
            if write:
                con.execute("BEGIN IMMEDIATE")  # the write lock, or "locked" after timeout
            names = self._check_tables(con)
            if write:
                self._create(con, names)
                con.execute("COMMIT")
                names = set(_TABLES)
            return con, names
        except (OSError, sqlite3.Error) as err:
            if con is not None:
                con.close()
            verb = "write" if write else "read"
            raise StoreError(f"cannot {verb} the result store {self.path}: {err}") from None
        except StoreError:
            con.close()
            raise

    @staticmethod
    def _create(con: sqlite3.Connection, names: set[str]) -> None:
        for sql in _TABLES.values():
            con.execute(sql)
        cols = {r[1] for r in con.execute("PRAGMA table_info(comparisons)")}
        if "complete" not in cols:  # a store from before comparisons were saved as they ran
            con.execute("ALTER TABLE comparisons ADD COLUMN complete INTEGER NOT NULL DEFAULT 1")
        if not names:
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless comparisons can be saved here (nothing is run;
        a new store file is created with antigrad's tables)."""
        self._open(write=True)[0].close()

    # -- writing --------------------------------------------------------------------------

    def begin(self, cmp: Comparison) -> StoreRecording:
        """Save ``cmp``'s header now (marked incomplete); the returned recording saves each
        run as it finishes (pass it to :func:`~antigrad.lab.compare.run_compare`)."""
        con, _ = self._open(write=True)
        try:
            with _transaction(con):
                cmp.id = _insert_comparison(con, cmp)
        except BaseException:
            con.close()
            raise
        return StoreRecording(con, cmp, self.path)

    def resume(self, cid: int) -> tuple[Comparison, StoreRecording]:
        """The interrupted comparison ``cid`` with what it saved, and a recording that adds
        its further runs to it (pass both to :func:`~antigrad.lab.compare.run_compare`)."""
        cmp = self.load(cid)
        if cmp.complete:
            raise StoreError(f"comparison {cid} in {self.path} is complete: nothing to resume")
        return cmp, StoreRecording(self._open(write=True)[0], cmp, self.path)

    def save(self, cmp: Comparison) -> int:
        """Write a finished ``cmp`` in one transaction; sets and returns its id."""
        with closing(self._open(write=True)[0]) as con, _transaction(con):
            cmp.id = _insert_comparison(con, cmp)
            for run in cmp.runs:
                _insert_run(con, cmp.id, run)
            for test in cmp.range_tests:
                _insert_range_test(con, cmp.id, test)
        return cmp.id

    # -- reading (read-only) --------------------------------------------------------------

    def list(self) -> list[dict[str, object]]:
        """``id, created, problem, seconds, complete`` of every comparison, oldest first."""
        if not self.path.exists():
            return []
        con, names = self._open(write=False)
        with closing(con):
            if "comparisons" not in names:
                return []
            done = _complete_column(con)
            try:
                rows = con.execute(f"SELECT id, created, problem, seconds, {done} "
                                   "FROM comparisons ORDER BY id").fetchall()
            except sqlite3.Error as err:
                raise StoreError(f"cannot read the result store {self.path}: {err}") from None
        return [stored.listing(row, self.path) for row in rows]

    def latest_id(self) -> int:
        """The id of the newest comparison."""
        rows = self.list()
        if not rows:
            raise StoreError(f"no comparisons in {self.path} (run `antigrad compare` first)")
        return int(rows[-1]["id"])

    def load(self, cid: int | None = None) -> Comparison:
        """The comparison with id ``cid`` (the newest when ``None``), checked field by field."""
        if cid is not None and (isinstance(cid, bool) or not isinstance(cid, int)
                                or not 1 <= cid < 2**63):
            raise StoreError(f"no comparison {cid!r} in {self.path} (ids are integers >= 1)")
        cid = self.latest_id() if cid is None else cid
        con, names = self._open(write=False)
        with closing(con):
            if not {"comparisons", "runs", "range_tests"} <= names:
                raise StoreError(f"no comparisons in {self.path} (run `antigrad compare` first)")
            try:
                return self._load(con, cid)
            except sqlite3.Error as err:
                raise StoreError(f"cannot read the result store {self.path}: {err}") from None

    def _load(self, con: sqlite3.Connection, cid: int) -> Comparison:
        row = con.execute(
            "SELECT created, problem, title, metric, higher_is_better, target, config,"
            f" chosen_lr, seconds, {_complete_column(con)} FROM comparisons WHERE id = ?",
            (cid,)).fetchone()
        if row is None:
            ids = [str(r[0]) for r in con.execute("SELECT id FROM comparisons ORDER BY id")]
            raise StoreError(f"no comparison {cid} in {self.path}; "
                             f"choose from: {', '.join(ids) or 'none'}")
        where = f"comparison {cid} in {self.path}"
        cmp = stored.comparison(row, cid, where)
        runs = con.execute(
            "SELECT optimizer, lr, seed, phase, steps, diverged, final_loss, final_metric,"
            " seconds, steps_to_target, seconds_to_target, losses, evals FROM runs"
            " WHERE comparison_id = ? ORDER BY id", (cid,)).fetchall()
        cmp.runs = [stored.run(r, where) for r in runs]
        tests = con.execute("SELECT data FROM range_tests WHERE comparison_id = ?", (cid,))
        cmp.range_tests = [stored.range_test(d, where) for (d,) in tests]
        return cmp


def _complete_column(con: sqlite3.Connection) -> str:
    cols = {r[1] for r in con.execute("PRAGMA table_info(comparisons)")}
    return "complete" if "complete" in cols else "1"


class _transaction:
    """``BEGIN`` .. ``COMMIT`` (``ROLLBACK`` on any exception) on an autocommit connection."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, kind, value, tb) -> None:
        self.con.execute("ROLLBACK" if kind is not None else "COMMIT")


def _insert_comparison(con: sqlite3.Connection, cmp: Comparison) -> int:
    cur = con.execute(
        "INSERT INTO comparisons (created, problem, title, metric, higher_is_better, target,"
        " config, chosen_lr, seconds, complete) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (cmp.created, cmp.config.problem, cmp.title, cmp.metric, int(cmp.higher_is_better),
         cmp.target, json.dumps(asdict(cmp.config)), json.dumps(cmp.chosen_lr), cmp.seconds,
         int(cmp.complete)))
    return int(cur.lastrowid)


def _insert_run(con: sqlite3.Connection, cid: int, r: RunResult) -> int:
    cur = con.execute(
        "INSERT INTO runs (comparison_id, optimizer, lr, seed, phase, steps, diverged,"
        " final_loss, final_metric, seconds, steps_to_target, seconds_to_target,"
        " losses, evals) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (cid, r.optimizer, r.lr, r.seed, r.phase, r.steps, int(r.diverged),
         _num(r.final_loss), _num(r.final_metric), r.seconds, r.steps_to_target,
         r.seconds_to_target, json.dumps(r.losses), json.dumps(r.evals)))
    return int(cur.lastrowid)


def _insert_range_test(con: sqlite3.Connection, cid: int, t: LRRangeResult) -> None:
    con.execute("INSERT INTO range_tests (comparison_id, optimizer, data) VALUES (?,?,?)",
                (cid, t.optimizer, json.dumps(t.to_dict())))


class StoreRecording:
    """A comparison being saved as it runs (see :meth:`Store.begin`): one short
    transaction per result, so other processes can write the same store meanwhile."""

    def __init__(self, con: sqlite3.Connection, cmp: Comparison, path: Path) -> None:
        self.con, self.cmp, self.path = con, cmp, path

    def _write(self, what: str, fn) -> None:
        try:
            with _transaction(self.con) as con:
                fn(con)
                con.execute("UPDATE comparisons SET seconds = ? WHERE id = ?",
                            (self.cmp.seconds, self.cmp.id))
        except sqlite3.Error as err:
            raise StoreError(f"cannot save {what} in {self.path}: {err}") from None

    def add_run(self, run: RunResult) -> None:
        """Save a finished run."""
        self._write(f"the run {run.optimizer} lr={run.lr:g} seed {run.seed}",
                    lambda con: _insert_run(con, self.cmp.id, run))

    def add_range_test(self, test: LRRangeResult) -> None:
        """Save a finished range test."""
        self._write(f"the range test of {test.optimizer}",
                    lambda con: _insert_range_test(con, self.cmp.id, test))

    def choose(self, optimizer: str, final: RunResult | None) -> None:
        """Save the chosen lrs; ``final`` (a saved grid run) becomes seed 0's final run."""
        def fn(con):
            con.execute("UPDATE comparisons SET chosen_lr = ? WHERE id = ?",
                        (json.dumps(self.cmp.chosen_lr), self.cmp.id))
            if final is not None:  # the grid run (maybe saved before a resume)
                con.execute("UPDATE runs SET phase = ? WHERE comparison_id = ? AND "
                            "optimizer = ? AND lr = ? AND seed = ? AND phase = 'tune'",
                            (final.phase, self.cmp.id, final.optimizer, final.lr, final.seed))
        self._write(f"the lr chosen for {optimizer}", fn)

    def finish(self) -> None:
        """Mark the comparison complete."""
        self._write("the end of the comparison", lambda con: con.execute(
            "UPDATE comparisons SET complete = 1 WHERE id = ?", (self.cmp.id,)))

    def discard(self) -> None:
        """Delete this comparison and what was saved of it (before it ran, on a refusal)."""
        self._write("the removal of the comparison", lambda con: con.execute(
            "DELETE FROM comparisons WHERE id = ?", (self.cmp.id,)))

    def close(self) -> None:
        """Close the connection (what was saved stays saved)."""
        self.con.close()

    def __enter__(self) -> StoreRecording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
