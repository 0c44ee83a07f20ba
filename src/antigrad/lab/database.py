"""The database behind a result store: an SQLite file (the default) or a PostgreSQL server.

A store is named by a path (an SQLite file: ``runs/antigrad.sqlite``) or a URL:

- ``sqlite:///relative/path.sqlite``, ``sqlite:////absolute/path.sqlite``;
- ``postgresql://user:password@host:5432/database`` (also ``postgres://``,
  ``postgresql+psycopg://``, ``postgresql+psycopg2://``), through SQLAlchemy with psycopg
  (``pip install 'antigrad[postgres]'``, imported only for such a URL).

:class:`Database` opens it and checks it before anything is written: an SQLite path that is
a folder or a file that is not an SQLite database, a database with tables of another
application (or, for SQLite, another ``application_id``) or with antigrad's table names
but not its columns, a database locked by another process (after ``timeout`` seconds) or
one that cannot be written raise :class:`~antigrad.errors.StoreError`, and nothing is
written. Reading opens the database read-only (SQLite ``mode=ro``, PostgreSQL
``default_transaction_read_only``) and never creates antigrad's tables.

The tables (:data:`TABLES`): ``comparisons``, ``runs`` (curves as JSON text),
``range_tests`` and ``work`` (a comparison's work list, shared by its workers:
:mod:`~antigrad.lab.queue`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Self
from urllib.parse import quote

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from ..errors import StoreError

__all__ = ["Database", "HeldConnection", "TABLES", "APPLICATION_ID", "comparisons", "runs",
           "range_tests", "work", "is_url", "sql_message"]

#: ``PRAGMA application_id`` of an antigrad SQLite store ("antg"); PostgreSQL stores take
#: the same number as the key of the advisory lock held while creating the tables.
APPLICATION_ID = 0x616E7467

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite: the rowid alias


def _row_id() -> Column:
    """A table's own numbering, 1, 2, 3, ... never reused."""
    return Column("id", _ID, primary_key=True, autoincrement=True)


def _comparison_id() -> Column:
    """The comparison a row belongs to: deleting the comparison deletes the row."""
    return Column("comparison_id", _ID, ForeignKey("comparisons.id", ondelete="CASCADE"),
                  nullable=False)

metadata = MetaData()

comparisons = Table(
    "comparisons", metadata,
    _row_id(),
    Column("created", Text, nullable=False), Column("problem", Text, nullable=False),
    Column("title", Text, nullable=False), Column("metric", Text, nullable=False),
    Column("higher_is_better", Integer, nullable=False),
    Column("target", Double, nullable=False), Column("config", Text, nullable=False),
    Column("chosen_lr", Text, nullable=False), Column("seconds", Double, nullable=False),
    Column("complete", Integer, nullable=False, server_default="1"),
    sqlite_autoincrement=True)

runs = Table(
    "runs", metadata,
    _row_id(),
    _comparison_id(),
    Column("optimizer", Text, nullable=False), Column("lr", Double, nullable=False),
    Column("seed", BigInteger, nullable=False), Column("phase", Text, nullable=False),
    Column("steps", BigInteger, nullable=False), Column("diverged", Integer, nullable=False),
    Column("final_loss", Double), Column("final_metric", Double),
    Column("seconds", Double, nullable=False), Column("steps_to_target", BigInteger),
    Column("seconds_to_target", Double), Column("losses", Text, nullable=False),
    Column("evals", Text, nullable=False),
    # the hyperparameters a tuning trial drew besides the lr (JSON)
    Column("params", Text, nullable=False, server_default="{}"),
    sqlite_autoincrement=True)

range_tests = Table(
    "range_tests", metadata,
    _comparison_id(),
    Column("optimizer", Text, nullable=False), Column("data", Text, nullable=False))

work = Table(
    "work", metadata,
    _row_id(),
    _comparison_id(),
    Column("optimizer", Text, nullable=False), Column("kind", Text, nullable=False),
    Column("number", Integer, nullable=False), Column("lr", Double),
    Column("seed", BigInteger, nullable=False),
    Column("state", Text, nullable=False),  # pending, claimed or done
    Column("worker", Text), Column("claimed_at", Double),  # the claim's last heartbeat
    UniqueConstraint("comparison_id", "optimizer", "kind", "number"),
    sqlite_autoincrement=True)

TABLES = {t.name: t for t in (comparisons, runs, range_tests, work)}

#: Columns a table must have to be antigrad's (``complete`` and the runs' ``params`` came
#: later: an older store gets them on its first write).
_REQUIRED = {name: {c.name for c in t.columns} - {"complete", "params"}
             for name, t in TABLES.items()}

_SQLITE_HEADER = b"SQLite format 3\x00"
_POSTGRES_DRIVERS = ("psycopg", "psycopg2")


def is_url(location: str | Path) -> bool:
    """Whether ``location`` is a URL (``scheme://...``) rather than an SQLite file path."""
    return isinstance(location, str) and "://" in location


def sql_message(err: BaseException) -> str:
    """The database's own words (SQLAlchemy's wrapper adds the SQL and a link)."""
    orig = getattr(err, "orig", None)
    return str(orig if orig is not None else err).strip().splitlines()[0]


class Database:
    """Where a store lives: ``location`` is a path (SQLite) or a URL (module doc);
    ``timeout``: seconds to wait for another process's lock or for the server."""

    def __init__(self, location: str | Path, timeout: float) -> None:
        self.timeout = timeout
        self.path: Path | None = None
        if is_url(location):
            self.url = self._parse(str(location))
            if self.url.get_backend_name() == "sqlite":
                self.path = Path(self.url.database or "")
        else:
            self.path = Path(location)
            self.url = URL.create("sqlite", database=str(self.path))
        self.kind = self.url.get_backend_name()
        self.name = str(self.path) if self.path is not None else \
            self.url.render_as_string(hide_password=True)

    def _parse(self, text: str) -> URL:
        try:
            url = make_url(text)
        except ArgumentError:
            raise StoreError(f"{text!r} is not a store URL (use a path, sqlite:///PATH or "
                             "postgresql://USER:PASSWORD@HOST:PORT/DATABASE)") from None
        backend = url.get_backend_name()
        if backend == "postgres":
            url, backend = url.set(drivername="postgresql"), "postgresql"
        if backend == "sqlite":
            if not url.database or url.database == ":memory:":
                raise StoreError(f"{text!r} names no SQLite file (sqlite:///PATH)")
            return url
        if backend != "postgresql":
            raise StoreError(f"{text!r}: antigrad stores results in SQLite (a path or "
                             f"sqlite:///PATH) or PostgreSQL (postgresql://...), not {backend}")
        if not url.database:
            raise StoreError(f"{url.render_as_string(hide_password=True)!r} names no "
                             "database (postgresql://USER@HOST:PORT/DATABASE)")
        return url.set(drivername=f"postgresql+{self._driver(url.get_driver_name())}")

    @staticmethod
    def _driver(named: str) -> str:
        """The PostgreSQL driver to use (the one named, else psycopg, else psycopg2)."""
        import importlib.util

        wanted = [named] if named in _POSTGRES_DRIVERS else list(_POSTGRES_DRIVERS)
        for driver in wanted:
            if importlib.util.find_spec(driver) is not None:
                return driver
        raise StoreError("a PostgreSQL store needs a driver: pip install 'antigrad[postgres]' "
                         "(psycopg)")

    # -- checks before opening ----------------------------------------------------------------

    def exists(self) -> bool:
        """Whether there may be a store to read (an SQLite file that exists; a server)."""
        return self.path is None or self.path.exists()

    def _check_file(self, write: bool) -> None:
        """The SQLite path is (or can become) an SQLite file; raises before anything is
        opened."""
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

    def _check_tables(self, con: Connection) -> set[str]:
        """Raise unless the database is antigrad's (or empty); its antigrad tables."""
        names = {n for n in inspect(con).get_table_names() if not n.startswith("sqlite_")}
        app = con.exec_driver_sql("PRAGMA application_id").scalar() \
            if self.kind == "sqlite" else APPLICATION_ID
        if names - set(TABLES) or app not in (0, APPLICATION_ID):
            raise StoreError(f"{self.name} is another application's database (tables: "
                             f"{', '.join(sorted(names)) or 'none'}), not an antigrad result "
                             "store; antigrad neither reads nor writes it: name another --store")
        for name in names:
            cols = {c["name"] for c in inspect(con).get_columns(name)}
            if not _REQUIRED[name] <= cols:
                raise StoreError(f"{self.name} has a table {name!r} without antigrad's "
                                 "columns; it is not an antigrad result store")
        return names

    # -- engines ------------------------------------------------------------------------------

    def _engine(self, write: bool, wait: float) -> Engine:
        if self.kind == "sqlite":
            return self._sqlite_engine(write, wait)
        options = [self.url.query.get("options", ""),  # the URL's own, e.g. a search_path
                   f"-c lock_timeout={int(wait * 1000)}",
                   "" if write else "-c default_transaction_read_only=on"]
        return create_engine(self.url, poolclass=NullPool, connect_args={
            "connect_timeout": max(1, int(self.timeout)),
            "options": " ".join(o for o in options if o)})

    def _sqlite_engine(self, write: bool, wait: float) -> Engine:
        mode = "rwc" if write else "ro"
        uri = f"file:{quote(str(self.path.absolute()))}?mode={mode}"

        def connect() -> sqlite3.Connection:
            con = sqlite3.connect(uri, uri=True, timeout=wait, isolation_level=None,
                                  check_same_thread=False)
            con.execute("PRAGMA foreign_keys = ON")
            return con

        engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"  # writers take the lock at once

        @event.listens_for(engine, "begin")
        def _begin(con: Connection) -> None:
            con.exec_driver_sql(begin)

        return engine

    @contextmanager
    def connect(self, write: bool, wait: float | None = None) -> Iterator[Connection]:
        """A checked connection: read-only, or with antigrad's tables ensured. Errors of
        the database (inside the block too) become :class:`StoreError`. Each statement
        waits up to ``wait`` seconds (default: ``timeout``) for another process's lock."""
        if self.path is not None:
            self._check_file(write)
            if write:
                self._mkdir()
        verb = "write" if write else "read"
        try:
            engine = self._engine(write, self.timeout if wait is None else wait)
            with engine.connect() as con:
                with con.begin():
                    self._prepare(con, write)
                yield con
        except (OSError, sqlite3.Error, SQLAlchemyError) as err:
            raise StoreError(f"cannot {verb} the result store {self.name}: "
                             f"{sql_message(err)}") from None

    def _mkdir(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot write the result store {self.name}: {err}") from None

    def _prepare(self, con: Connection, write: bool) -> None:
        if write and self.kind == "postgresql":  # one creator of the tables at a time
            con.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPLICATION_ID})
        names = self._check_tables(con)
        con.info["tables"] = names
        if write:
            self._create(con, names)
            con.info["tables"] = set(TABLES)

    def _create(self, con: Connection, names: set[str]) -> None:
        metadata.create_all(con, checkfirst=True)
        cols = {c["name"] for c in inspect(con).get_columns("comparisons")}
        if "complete" not in cols:  # a store from before comparisons were saved as they ran
            con.exec_driver_sql("ALTER TABLE comparisons ADD COLUMN complete INTEGER "
                                "NOT NULL DEFAULT 1")
        if "params" not in {c["name"] for c in inspect(con).get_columns("runs")}:
            # a store from before tuning searched more than the lr
            con.exec_driver_sql("ALTER TABLE runs ADD COLUMN params TEXT NOT NULL "
                                "DEFAULT '{}'")
        if not names and self.kind == "sqlite":
            con.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")


class HeldConnection:
    """A write connection to ``db`` held open until :meth:`close` (or the end of a
    ``with`` block), for work done as many short transactions (a comparison saved as it
    runs, a worker's claims)."""

    def __init__(self, db: Database, wait: float | None = None) -> None:
        self._stack = ExitStack()
        self.con = self._stack.enter_context(db.connect(write=True, wait=wait))

    def close(self) -> None:
        """Close the connection (what was written stays written)."""
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
