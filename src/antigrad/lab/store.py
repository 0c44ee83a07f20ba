"""A SQLite store of comparisons under ``runs/`` (``runs/antigrad.sqlite`` by default).

Tables: ``comparisons`` (one row each: problem, config, chosen lrs, timing) and ``runs``
(one row per training run, curves as JSON) and ``range_tests``. A comparison is written
in one transaction once it is complete, so an interrupted ``compare`` leaves nothing
behind.

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
from dataclasses import asdict, fields
from pathlib import Path

from .compare import CompareConfig, Comparison
from .lr_range import LRRangeResult
from .runner import RunResult

__all__ = ["Store", "DEFAULT_STORE", "StoreError"]

#: Where ``antigrad`` keeps results unless told otherwise.
DEFAULT_STORE = Path("runs") / "antigrad.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS comparisons (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, problem TEXT NOT NULL,
    title TEXT NOT NULL, metric TEXT NOT NULL, higher_is_better INTEGER NOT NULL,
    target REAL NOT NULL, config TEXT NOT NULL, chosen_lr TEXT NOT NULL, seconds REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    comparison_id INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
    optimizer TEXT NOT NULL, lr REAL NOT NULL, seed INTEGER NOT NULL, phase TEXT NOT NULL,
    steps INTEGER NOT NULL, diverged INTEGER NOT NULL, final_loss REAL, final_metric REAL,
    seconds REAL NOT NULL, steps_to_target INTEGER, seconds_to_target REAL,
    losses TEXT NOT NULL, evals TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS range_tests (
    comparison_id INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
    optimizer TEXT NOT NULL, data TEXT NOT NULL
);
"""

_RUN_COLUMNS = [f.name for f in fields(RunResult)]


class StoreError(LookupError):
    """A comparison that is not in the store."""


def _num(x: float | None) -> float | None:
    """NaN is stored as NULL (SQLite has no NaN)."""
    return None if x is None or x != x else x


class Store:
    """Comparisons saved in one SQLite file (created with its folder on first save)."""

    def __init__(self, path: str | Path = DEFAULT_STORE) -> None:
        self.path = Path(path)

    def _connect(self, create: bool = False) -> sqlite3.Connection:
        if not create and not self.path.exists():
            raise StoreError(f"no result store at {self.path} (run `antigrad compare` first)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path)
        con.execute("PRAGMA foreign_keys = ON")
        con.executescript(_SCHEMA)
        return con

    def save(self, cmp: Comparison) -> int:
        """Write ``cmp`` in one transaction; sets and returns its id."""
        with closing(self._connect(create=True)) as con, con:
            cur = con.execute(
                "INSERT INTO comparisons (created, problem, title, metric, higher_is_better,"
                " target, config, chosen_lr, seconds) VALUES (?,?,?,?,?,?,?,?,?)",
                (cmp.created, cmp.config.problem, cmp.title, cmp.metric,
                 int(cmp.higher_is_better), cmp.target, json.dumps(asdict(cmp.config)),
                 json.dumps(cmp.chosen_lr), cmp.seconds))
            cid = int(cur.lastrowid)
            con.executemany(
                "INSERT INTO runs (comparison_id, optimizer, lr, seed, phase, steps, diverged,"
                " final_loss, final_metric, seconds, steps_to_target, seconds_to_target,"
                " losses, evals) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(cid, r.optimizer, r.lr, r.seed, r.phase, r.steps, int(r.diverged),
                  _num(r.final_loss), _num(r.final_metric), r.seconds, r.steps_to_target,
                  r.seconds_to_target, json.dumps(r.losses), json.dumps(r.evals))
                 for r in cmp.runs])
            con.executemany(
                "INSERT INTO range_tests (comparison_id, optimizer, data) VALUES (?,?,?)",
                [(cid, t.optimizer, json.dumps(t.to_dict())) for t in cmp.range_tests])
        cmp.id = cid
        return cid

    def list(self) -> list[dict[str, object]]:
        """``id, created, problem, seconds`` of every comparison, oldest first."""
        if not self.path.exists():
            return []
        with closing(self._connect()) as con:
            rows = con.execute(
                "SELECT id, created, problem, seconds FROM comparisons ORDER BY id").fetchall()
        return [dict(zip(("id", "created", "problem", "seconds"), r, strict=True))
                for r in rows]

    def latest_id(self) -> int:
        """The id of the newest comparison."""
        rows = self.list()
        if not rows:
            raise StoreError(f"no comparisons in {self.path} (run `antigrad compare` first)")
        return int(rows[-1]["id"])

    def load(self, cid: int | None = None) -> Comparison:
        """The comparison with id ``cid`` (the newest when ``None``)."""
        cid = self.latest_id() if cid is None else cid
        with closing(self._connect()) as con:
            row = con.execute(
                "SELECT created, problem, title, metric, higher_is_better, target, config,"
                " chosen_lr, seconds FROM comparisons WHERE id = ?", (cid,)).fetchone()
            if row is None:
                ids = [str(r["id"]) for r in self.list()]
                raise StoreError(f"no comparison {cid} in {self.path}; "
                                 f"choose from: {', '.join(ids) or 'none'}")
            runs = con.execute(
                "SELECT optimizer, lr, seed, phase, steps, diverged, final_loss, final_metric,"
                " seconds, steps_to_target, seconds_to_target, losses, evals FROM runs"
                " WHERE comparison_id = ? ORDER BY id", (cid,)).fetchall()
            tests = con.execute("SELECT data FROM range_tests WHERE comparison_id = ?",
                                (cid,)).fetchall()
        created, _, title, metric, hib, target, config, chosen, seconds = row
        cmp = Comparison(CompareConfig(**json.loads(config)), metric, bool(hib), target, title,
                         chosen_lr=json.loads(chosen), created=created, seconds=seconds, id=cid)
        for (opt, lr, seed, phase, steps, div, fl, fm, sec, stt, sect, losses, evals) in runs:
            cmp.runs.append(RunResult(
                opt, lr, seed, steps, bool(div), _nan(fl), _nan(fm), sec, stt, sect,
                [tuple(x) for x in json.loads(losses)], [tuple(x) for x in json.loads(evals)],
                phase))
        cmp.range_tests = [LRRangeResult(**json.loads(d)) for (d,) in tests]
        assert set(_RUN_COLUMNS) >= {"losses", "evals"}
        return cmp


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)
