"""Which databases a test runs on.

A test that makes a deployment runs on SQLite and on PostgreSQL (conftest.py's `database_url`). Where the
subject is the engine, the HTTP layer or a process-level limit and the store only records what happened,
the PostgreSQL run repeats seconds of face analysis and proves nothing the store, ledger, migration,
concurrency and two-server tests do not: such tests take SQLITE_ONLY (for a module: `pytestmark`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

SQLITE_ONLY = pytest.mark.parametrize("database_url", [None], ids=["sqlite"])


@contextmanager
def fresh_postgres_database(admin_url: str, prefix: str = "faceledger_test") -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (or one benchmark run), dropped afterwards."""
    from sqlalchemy import create_engine, make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin: Any, name: str) -> None:
    """An autovacuum worker (the server's own role, which FORCE may not end) can be busy in the database
    for a moment after heavy writes, so try a few times before leaving it behind."""
    from sqlalchemy.exc import DBAPIError

    for attempt in range(10):
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except DBAPIError:
            time.sleep(0.5 * (attempt + 1))
