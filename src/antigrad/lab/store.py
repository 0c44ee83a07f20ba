"""Comparisons kept in a result store: an SQLite file under ``runs/``
(``runs/antigrad.sqlite`` by default) or a PostgreSQL database (:mod:`~antigrad.lab.database`).

Tables: ``comparisons`` (one row each: problem, config, chosen lrs, timing, whether it
finished), ``runs`` (one row per training run, curves as JSON), ``range_tests`` and
``work`` (the work list shared by a comparison's workers, :mod:`~antigrad.lab.queue`).

The store is opened and checked before any work: a path that is a folder, a file that
is not an SQLite database, another application's database, a database locked by another
process, a bad URL or a place that cannot be written raises :class:`StoreError` and
nothing is written. :meth:`Store.begin` records a comparison as it runs: each run is saved
in its own transaction as soon as it finishes, so an interrupted ``compare`` keeps every
run that finished (its comparison stays marked incomplete). Reading (:meth:`Store.list`,
:meth:`Store.load`) opens the database read-only and never writes antigrad's tables into
it. Everything read back is checked as untrusted data (:mod:`~antigrad.lab.stored`).

Example::

    >>> import tempfile, pathlib
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "s.sqlite")
    >>> store.list()
    []
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import delete, insert, inspect, literal, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from . import stored
from .compare import Comparison
from .database import Database, HeldConnection, comparisons, range_tests, runs, sql_message
from .lr_range import LRRangeResult
from .runner import RunResult
from .stored import StoreError

__all__ = ["Store", "StoreRecording", "DEFAULT_STORE", "StoreError"]

#: Where ``antigrad`` keeps results unless told otherwise.
DEFAULT_STORE = Path("runs") / "antigrad.sqlite"

#: Where reports of a store on a server go by default.
SERVER_REPORTS = Path("runs")

#: Largest comparison id (SQLite's and PostgreSQL's 64-bit integers).
MAX_ID = 2**63 - 1


def _num(x: float | None) -> float | None:
    """NaN is stored as NULL (SQLite has no NaN)."""
    return None if x is None or x != x else x


class Store:
    """Comparisons saved in one database: ``location`` is an SQLite file (created with its
    folder on first write) or a URL (``sqlite:///PATH``, ``postgresql://...``; see
    :mod:`~antigrad.lab.database`). A bad URL raises :class:`StoreError` at once.

    ``timeout``: seconds to wait for another process's lock (default :attr:`TIMEOUT`).
    """

    TIMEOUT = 5.0

    def __init__(self, location: str | Path = DEFAULT_STORE,
                 timeout: float | None = None) -> None:
        self.timeout = self.TIMEOUT if timeout is None else float(timeout)
        self.db = Database(location, self.timeout)
        #: The SQLite file (``None`` for a server database).
        self.path = self.db.path
        #: How messages name the store (a server URL without its password).
        self.name = self.db.name

    @property
    def report_root(self) -> Path:
        """Where reports go by default: beside an SQLite file, else ``runs/``."""
        return self.path.parent if self.path is not None else SERVER_REPORTS

    def __repr__(self) -> str:
        return f"Store({self.name!r})"

    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless comparisons can be saved here (nothing is run;
        a new store gets antigrad's tables)."""
        with self.db.connect(write=True):
            pass

    # -- writing --------------------------------------------------------------------------

    def begin(self, cmp: Comparison) -> StoreRecording:
        """Save ``cmp``'s header now (marked incomplete); the returned recording saves each
        run as it finishes (pass it to :func:`~antigrad.lab.compare.run_compare`)."""
        recording = StoreRecording(self, cmp)
        try:
            recording.write("the comparison", lambda con: _set_id(cmp, con))
        except BaseException:
            recording.close()
            raise
        return recording

    def resume(self, cid: int) -> tuple[Comparison, StoreRecording]:
        """The interrupted comparison ``cid`` with what it saved, and a recording that adds
        its further runs to it (pass both to :func:`~antigrad.lab.worker.run_remaining`)."""
        cmp = self.load(cid)
        if cmp.complete:
            raise StoreError(f"comparison {cid} in {self.name} is complete: nothing to resume")
        return cmp, StoreRecording(self, cmp)

    def save(self, cmp: Comparison) -> int:
        """Write a finished ``cmp`` in one transaction; sets and returns its id."""
        def fn(con: Connection) -> None:
            _set_id(cmp, con)
            for run in cmp.runs:
                insert_run(con, cmp.id, run)
            for test in cmp.range_tests:
                insert_range_test(con, cmp.id, test)

        with StoreRecording(self, cmp) as recording:
            recording.write("the comparison", fn, seconds=False)
        return cmp.id

    # -- reading (read-only) --------------------------------------------------------------

    def list(self) -> list[dict[str, object]]:
        """``id, created, problem, seconds, complete`` of every comparison, oldest first."""
        if not self.db.exists():
            return []
        with self.db.connect(write=False) as con:
            if "comparisons" not in con.info["tables"]:
                return []
            c = comparisons.c
            rows = con.execute(select(c.id, c.created, c.problem, c.seconds,
                                      _complete_column(con)).order_by(c.id)).all()
        return [stored.listing(tuple(row), self.name) for row in rows]

    def latest_id(self) -> int:
        """The id of the newest comparison."""
        rows = self.list()
        if not rows:
            raise StoreError(f"no comparisons in {self.name} (run `antigrad compare` first)")
        return int(rows[-1]["id"])

    def load(self, cid: int | None = None) -> Comparison:
        """The comparison with id ``cid`` (the newest when ``None``), checked field by field."""
        if cid is not None and (isinstance(cid, bool) or not isinstance(cid, int)
                                or not 1 <= cid <= MAX_ID):
            raise StoreError(f"no comparison {cid!r} in {self.name} (ids are integers >= 1)")
        cid = self.latest_id() if cid is None else cid
        with self.db.connect(write=False) as con:
            if not {"comparisons", "runs", "range_tests"} <= con.info["tables"]:
                raise StoreError(f"no comparisons in {self.name} (run `antigrad compare` "
                                 "first)")
            return self.load_in(con, cid)

    def load_in(self, con: Connection, cid: int, optimizer: str | None = None, *,
                curves: bool = True) -> Comparison:
        """Comparison ``cid`` read on ``con`` (inside its transaction); with ``optimizer``,
        only that optimizer's runs and range test; without ``curves``, the runs' loss and
        evaluation curves are left out (empty lists: a run's summary columns are a few
        numbers, its curves thousands, so what only looks at summaries reads much less)."""
        c = comparisons.c
        row = con.execute(select(
            c.created, c.problem, c.title, c.metric, c.higher_is_better, c.target, c.config,
            c.chosen_lr, c.seconds, _complete_column(con)).where(c.id == cid)).first()
        if row is None:
            ids = [str(i) for i in con.execute(select(c.id).order_by(c.id)).scalars()]
            raise StoreError(f"no comparison {cid} in {self.name}; "
                             f"choose from: {', '.join(ids) or 'none'}")
        where = f"comparison {cid} in {self.name}"
        cmp = stored.comparison(tuple(row), cid, where)
        r = runs.c
        rows = con.execute(select(
            r.optimizer, r.lr, r.seed, r.phase, r.steps, r.diverged, r.final_loss,
            r.final_metric, r.seconds, r.steps_to_target, r.seconds_to_target,
            *((r.losses, r.evals) if curves else (literal("[]"), literal("[]"))),
            _params_column(con)).where(r.comparison_id == cid, *(
                [] if optimizer is None else [r.optimizer == optimizer])).order_by(r.id)).all()
        cmp.runs = [stored.run(tuple(x), where) for x in rows]
        t = range_tests.c
        tests = con.execute(select(t.data).where(t.comparison_id == cid, *(
            [] if optimizer is None else [t.optimizer == optimizer]))).scalars()
        cmp.range_tests = [stored.range_test(d, where) for d in tests]
        return cmp


def _complete_column(con: Connection):
    """``comparisons.complete``, or 1 for a store from before it existed (read-only)."""
    cols = {col["name"] for col in inspect(con).get_columns("comparisons")}
    return comparisons.c.complete if "complete" in cols else literal(1)


def _params_column(con: Connection):
    """``runs.params``, or ``'{}'`` for a store from before it existed (read-only)."""
    cols = {col["name"] for col in inspect(con).get_columns("runs")}
    return runs.c.params if "params" in cols else literal("{}")


def _set_id(cmp: Comparison, con: Connection) -> None:
    cmp.id = _insert_comparison(con, cmp)


def _insert_comparison(con: Connection, cmp: Comparison) -> int:
    result = con.execute(insert(comparisons).values(
        created=cmp.created, problem=cmp.config.problem, title=cmp.title, metric=cmp.metric,
        higher_is_better=int(cmp.higher_is_better), target=cmp.target,
        config=json.dumps(asdict(cmp.config)), chosen_lr=json.dumps(cmp.chosen_lr),
        seconds=cmp.seconds, complete=int(cmp.complete)))
    return int(result.inserted_primary_key[0])


def run_row(cid: int, r: RunResult) -> dict[str, object]:
    """The ``runs`` row of ``r`` in comparison ``cid``."""
    return dict(comparison_id=cid, optimizer=r.optimizer, lr=r.lr, seed=r.seed,
                phase=r.phase, steps=r.steps, diverged=int(r.diverged),
                final_loss=_num(r.final_loss), final_metric=_num(r.final_metric),
                seconds=r.seconds, steps_to_target=r.steps_to_target,
                seconds_to_target=r.seconds_to_target, losses=json.dumps(r.losses),
                evals=json.dumps(r.evals), params=json.dumps(r.params))


def insert_run(con: Connection, cid: int, r: RunResult) -> int:
    return int(con.execute(insert(runs).values(run_row(cid, r))).inserted_primary_key[0])


def insert_range_test(con: Connection, cid: int, t: LRRangeResult) -> None:
    con.execute(insert(range_tests).values(comparison_id=cid, optimizer=t.optimizer,
                                           data=json.dumps(t.to_dict())))


def relabel_final(con: Connection, cid: int, final: RunResult) -> None:
    """Make the stored grid run ``final`` (maybe saved before a resume) its optimizer's
    first-seed final run."""
    r = runs.c
    con.execute(update(runs).where(
        r.comparison_id == cid, r.optimizer == final.optimizer, r.lr == final.lr,
        r.seed == final.seed, r.phase == "tune").values(phase=final.phase))


class StoreRecording(HeldConnection):
    """A comparison being saved as it runs (see :meth:`Store.begin`): one short
    transaction per result, so other processes can write the same store meanwhile."""

    def __init__(self, store: Store, cmp: Comparison) -> None:
        self.store, self.cmp = store, cmp
        super().__init__(store.db)

    def write(self, what: str, fn: Callable[[Connection], object],
              seconds: bool = True) -> None:
        """``fn(con)`` in one transaction (with the comparison's seconds so far, unless
        ``seconds`` is false); a database error becomes :class:`StoreError`."""
        try:
            with self.con.begin():
                fn(self.con)
                if seconds:
                    self.con.execute(update(comparisons).where(
                        comparisons.c.id == self.cmp.id).values(seconds=self.cmp.seconds))
        except SQLAlchemyError as err:
            raise StoreError(f"cannot save {what} in {self.store.name}: "
                             f"{sql_message(err)}") from None

    def add_run(self, run: RunResult) -> None:
        """Save a finished run."""
        self.write(f"the run {run.optimizer} lr={run.lr:g} seed {run.seed}",
                   lambda con: insert_run(con, self.cmp.id, run))

    def add_range_test(self, test: LRRangeResult) -> None:
        """Save a finished range test."""
        self.write(f"the range test of {test.optimizer}",
                   lambda con: insert_range_test(con, self.cmp.id, test))

    def choose(self, optimizer: str, final: RunResult | None) -> None:
        """Save the chosen lrs; ``final`` (a saved grid run) becomes seed 0's final run."""
        def fn(con: Connection) -> None:
            con.execute(update(comparisons).where(comparisons.c.id == self.cmp.id).values(
                chosen_lr=json.dumps(self.cmp.chosen_lr)))
            if final is not None:
                relabel_final(con, self.cmp.id, final)
        self.write(f"the lr chosen for {optimizer}", fn)

    def finish(self) -> None:
        """Mark the comparison complete."""
        self.write("the end of the comparison", lambda con: con.execute(
            update(comparisons).where(comparisons.c.id == self.cmp.id).values(complete=1)))

    def discard(self) -> None:
        """Delete this comparison and what was saved of it (before it ran, on a refusal)."""
        self.write("the removal of the comparison", lambda con: con.execute(
            delete(comparisons).where(comparisons.c.id == self.cmp.id)), seconds=False)
