"""A comparison's work list in its store, shared by any number of worker processes.

The ``work`` table holds one row per run (or range test) the comparison needs, as
:mod:`~antigrad.lab.plan` lists them: ``pending``, ``claimed`` by a worker (with the time
of its last heartbeat) or ``done``. Every step is one transaction:

- :meth:`WorkQueue.plan` adds the work of each optimizer's current stage that is not yet
  listed, chooses an lr whose stage 1 is stored whole, and marks the comparison complete
  when everything is stored. Planning holds the comparison's row lock (PostgreSQL
  ``SELECT ... FOR UPDATE``; SQLite's write lock), so two workers never plan at once.
- :meth:`WorkQueue.claim` takes pending rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL):
  one at a time, or the free grid points (or trials, or seeds) of several optimizers when
  they are enough to train as one batch of replicas. A claim whose heartbeat is older than the
  lease, or that belongs to a process of this machine that no longer runs (a worker
  killed mid-run), or to this very worker name (restarted), is taken again.
- :meth:`WorkQueue.complete` saves a result, marks its row done and plans again, in one
  transaction: a result whose claim was taken over meanwhile is not saved (each run is
  stored exactly once); the seeds stage of an optimizer is listed in the transaction that
  stores the last run of its lr choice.

Times are the database's clock, so workers on machines with different clocks agree.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from .batching import MAX_REPLICAS
from .compare import Comparison, count_runs
from .database import HeldConnection, comparisons, range_tests, runs, sql_message, work
from .lr_range import LRRangeResult
from .plan import Work, choose, next_items, pending, ready_to_choose
from .replicas import MIN_REPLICAS
from .runner import RunResult
from .store import Store, StoreError, insert_range_test, insert_run, relabel_final

__all__ = ["WorkQueue", "Claim", "LEASE", "default_worker"]

#: Seconds without a heartbeat after which a claim is taken again.
LEASE = 60.0

#: Seconds a worker waits for another worker's transaction (planning a big comparison
#: holds the comparison's lock while it reads its runs) before it gives up with an error.
WAIT = 120.0


def default_worker() -> str:
    """This process's worker name: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _gone(worker: str) -> bool:
    """Whether ``worker`` was a process of this machine that no longer runs."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _stored(con: Connection, cid: int) -> int:
    """Training runs and range tests stored for comparison ``cid`` (an ensemble's score
    is no training run)."""
    trained = con.execute(select(func.count()).where(
        runs.c.comparison_id == cid, runs.c.phase != "ensemble")).scalar()
    return trained + con.execute(select(func.count()).where(
        range_tests.c.comparison_id == cid)).scalar()


def _now(con: Connection) -> float:
    """The database's clock, in seconds since the epoch."""
    if con.dialect.name == "sqlite":
        return float(con.exec_driver_sql(
            "SELECT (julianday('now') - 2440587.5) * 86400.0").scalar())
    return float(con.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar())


@dataclass(frozen=True)
class Claim:
    """A claimed row of the work list: its id and its :class:`~antigrad.lab.plan.Work`."""

    row: int
    work: Work


class WorkQueue(HeldConnection):
    """The work list of comparison ``cid`` in ``store``, as worker ``worker`` (default
    :func:`default_worker`) sees it; claims older than ``lease`` seconds are retaken."""

    def __init__(self, store: Store, cid: int, worker: str | None = None,
                 lease: float = LEASE) -> None:
        self.store, self.cid, self.lease = store, cid, float(lease)
        self.worker = worker or default_worker()
        super().__init__(store.db, wait=WAIT)

    @contextmanager
    def _transaction(self, what: str) -> Iterator[Connection]:
        try:
            with self.con.begin():
                yield self.con
        except SQLAlchemyError as err:
            raise StoreError(f"cannot {what} of comparison {self.cid} in "
                             f"{self.store.name}: {sql_message(err)}") from None

    def _lock(self, con: Connection, optimizer: str | None = None) -> Comparison:
        """Lock the comparison's row for this transaction and read it (one optimizer's
        runs only, if named) without the runs' curves: what is left to list depends only
        on the runs' summaries, and reading every curve again on each saved result cost
        more the longer the comparison (:meth:`_choose` reads them where they count)."""
        found = con.execute(select(comparisons.c.id).where(
            comparisons.c.id == self.cid).with_for_update()).first()
        if found is None:
            raise StoreError(f"no comparison {self.cid} in {self.store.name}")
        return self.store.load_in(con, self.cid, optimizer, curves=False)

    # -- planning -----------------------------------------------------------------------------

    def plan(self) -> bool:
        """List the work each optimizer's stage still needs (choosing lrs that can be
        chosen); mark the comparison complete when all is stored. Whether it is complete."""
        with self._transaction("plan the work") as con:
            cmp = self._lock(con)
            for name in cmp.config.optimizers:
                self._advance(con, cmp, name)
            return self._finish_if_done(con, cmp)

    def _advance(self, con: Connection, cmp: Comparison, name: str) -> None:
        if ready_to_choose(cmp, name):
            self._choose(con, cmp, name)
        w = work.c
        listed = {(k, n) for k, n in con.execute(select(w.kind, w.number).where(
            w.comparison_id == self.cid, w.optimizer == name))}
        new = [item for item in pending(cmp, name) if (item.kind, item.number) not in listed]
        if new:
            con.execute(insert(work), [dict(
                comparison_id=self.cid, optimizer=i.optimizer, kind=i.kind, number=i.number,
                lr=i.lr, seed=i.seed, state="pending") for i in new])

    def _choose(self, con: Connection, cmp: Comparison, name: str) -> None:
        """Choose ``name``'s lr and save it: its runs are read again whole (a grid's best
        run is the one with the lowest loss at the end of its curve), once per optimizer,
        and replace the summaries in ``cmp``."""
        whole = self.store.load_in(con, self.cid, name)
        final = choose(whole, name)
        cmp.chosen_lr[name] = whole.chosen_lr[name]
        cmp.runs = [r for r in cmp.runs if r.optimizer != name] + whole.runs
        con.execute(update(comparisons).where(comparisons.c.id == self.cid).values(
            chosen_lr=json.dumps(cmp.chosen_lr)))
        if final is not None:
            relabel_final(con, self.cid, final)

    def _finish_if_done(self, con: Connection, cmp: Comparison) -> bool:
        if cmp.complete:
            return True
        done = (_stored(con, self.cid) == count_runs(cmp.config)
                and set(cmp.config.optimizers) <= set(cmp.chosen_lr))
        if done:
            con.execute(update(comparisons).where(comparisons.c.id == self.cid).values(
                complete=1))
        return done

    def load(self, optimizer: str | None = None, *, curves: bool = True) -> Comparison:
        """The comparison as stored now (only ``optimizer``'s runs, if named; without the
        runs' curves unless ``curves``), read on this worker's connection (which waits
        :data:`WAIT` seconds for others' locks)."""
        with self._transaction("read") as con:
            return self.store.load_in(con, self.cid, optimizer, curves=curves)

    def status(self) -> tuple[bool, int]:
        """Whether the comparison is complete, and how many work rows are open (pending or
        claimed): a cheap look while waiting, without the comparison's lock."""
        with self._transaction("read the work list") as con:
            complete = con.execute(select(comparisons.c.complete).where(
                comparisons.c.id == self.cid)).scalar()
            open_rows = con.execute(select(func.count()).where(
                work.c.comparison_id == self.cid,
                work.c.state.in_(("pending", "claimed")))).scalar()
        return bool(complete), int(open_rows)

    # -- claiming and completing ----------------------------------------------------------

    def claim(self, together: Collection[str] = (), *, least: int = MIN_REPLICAS,
              most: int = MAX_REPLICAS) -> list[Claim]:
        """Claim the next free work: one item, or the free grid points (or trials, or
        seeds) of the optimizers in ``together`` (those that can train as one batch of
        replicas), up to ``most``, when there are at least ``least`` of them. Empty when
        nothing is free."""
        with self._transaction("claim work") as con:
            now = _now(con)
            w = work.c
            rows = con.execute(select(
                w.id, w.optimizer, w.kind, w.number, w.lr, w.seed, w.state, w.worker,
                w.claimed_at).where(w.comparison_id == self.cid,
                                    w.state.in_(("pending", "claimed"))).order_by(w.id)
                .with_for_update(skip_locked=True)).all()
            free = [r for r in rows if r.state == "pending" or self._retake(r, now)]
            if not free:
                return []
            taken = next_items(free, together, least=least, most=most)
            con.execute(update(work).where(w.id.in_([r.id for r in taken])).values(
                state="claimed", worker=self.worker, claimed_at=now))
            return [Claim(r.id, Work(r.optimizer, r.kind, r.number, r.lr, r.seed))
                    for r in taken]

    def _retake(self, row, now: float) -> bool:
        return (row.worker == self.worker or row.claimed_at is None
                or row.claimed_at < now - self.lease or _gone(row.worker or ""))

    def complete(self, claim: Claim, result: RunResult | LRRangeResult | list[RunResult],
                 seconds: float) -> int | None:
        """Save ``result`` of ``claim`` (``seconds`` of work added to the comparison's; an
        ensemble group's result is its runs), mark it done and plan on; the number of
        results stored, or ``None`` if the claim was taken over meanwhile (the result is
        then not saved)."""
        with self._transaction("save a result") as con:
            cmp = self._lock(con, claim.work.optimizer)
            w = work.c
            mine = con.execute(select(w.id).where(
                w.id == claim.row, w.state == "claimed", w.worker == self.worker)).first()
            if mine is None:
                return None
            if isinstance(result, list | RunResult):
                for run in result if isinstance(result, list) else [result]:
                    insert_run(con, self.cid, run)
                    cmp.runs.append(run)
            else:
                insert_range_test(con, self.cid, result)
                cmp.range_tests.append(result)
            con.execute(update(work).where(w.id == claim.row).values(state="done"))
            con.execute(update(comparisons).where(comparisons.c.id == self.cid).values(
                seconds=comparisons.c.seconds + seconds))
            self._advance(con, cmp, claim.work.optimizer)
            self._finish_if_done(con, cmp)
            return _stored(con, self.cid)

    def release(self, claims: list[Claim]) -> None:
        """Give ``claims`` back (pending again), e.g. when this worker is interrupted."""
        if not claims:
            return
        with self._transaction("give back work") as con:
            con.execute(update(work).where(
                work.c.id.in_([c.row for c in claims]), work.c.state == "claimed",
                work.c.worker == self.worker).values(state="pending", worker=None,
                                                     claimed_at=None))

    def heartbeat(self) -> None:
        """Renew this worker's claims (their lease starts again)."""
        with self._transaction("renew the claims") as con:
            con.execute(update(work).where(
                work.c.comparison_id == self.cid, work.c.state == "claimed",
                work.c.worker == self.worker).values(claimed_at=_now(con)))

    @contextmanager
    def heartbeats(self) -> Iterator[None]:
        """Renew this worker's claims every quarter lease from a background thread (with a
        connection of its own) while the block runs."""
        stop = threading.Event()

        def beat() -> None:
            with WorkQueue(self.store, self.cid, self.worker, self.lease) as own:
                while not stop.wait(self.lease / 4):
                    try:
                        own.heartbeat()
                    except StoreError:  # the database is away for now: try again later
                        continue

        thread = threading.Thread(target=beat, name="antigrad-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
