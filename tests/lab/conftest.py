"""Fixtures of the lab's tests: a fresh PostgreSQL schema (``pg_schema``, see
``tests/pg_server.py``)."""

from pg_server import pg_schema  # noqa: F401
