"""A fresh PostgreSQL schema per test, on the server ``ANTIGRAD_TEST_POSTGRES_URL`` names
(``make test-postgres``; without it the PostgreSQL tests are skipped, saying why)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

ENV = "ANTIGRAD_TEST_POSTGRES_URL"


def server_url() -> str:
    url = os.environ.get(ENV, "")
    if not url:
        pytest.skip(f"no PostgreSQL server: set {ENV}=postgresql://USER:PASSWORD@HOST:PORT/DB "
                    "(`make test-postgres`, .ci/run starts one)")
    return url


class Schema:
    """An empty schema on the test server, dropped afterwards; ``url`` points into it."""

    def __init__(self) -> None:
        from sqlalchemy import create_engine

        self.base = server_url()
        self.name = f"antigrad_test_{uuid.uuid4().hex[:12]}"
        self.engine = create_engine(self.base.replace("postgresql://",
                                                      "postgresql+psycopg://", 1))
        self.sql(f'CREATE SCHEMA "{self.name}"')
        sep = "&" if "?" in self.base else "?"
        self.url = f"{self.base}{sep}options={quote(f'-csearch_path={self.name}')}"

    def sql(self, statement: str) -> list[tuple]:
        from sqlalchemy import text

        with self.engine.begin() as con:
            result = con.execute(text(statement))
            return [tuple(r) for r in result] if result.returns_rows else []

    def tables(self) -> set[str]:
        return {r[0] for r in self.sql(
            "SELECT table_name FROM information_schema.tables "
            f"WHERE table_schema = '{self.name}'")}

    def drop(self) -> None:
        self.sql(f'DROP SCHEMA "{self.name}" CASCADE')
        self.engine.dispose()


@pytest.fixture
def pg_schema() -> Iterator[Schema]:
    schema = Schema()
    try:
        yield schema
    finally:
        schema.drop()
