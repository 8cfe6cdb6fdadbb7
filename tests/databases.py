"""Which databases a test runs on.

A test that makes a deployment runs on SQLite and on PostgreSQL (conftest.py's `database_url`). Where the
subject is the engine, the HTTP layer or a process-level limit and the store only records what happened,
the PostgreSQL run repeats seconds of face analysis and proves nothing the store, ledger, migration,
concurrency and two-server tests do not: such tests take SQLITE_ONLY (for a module: `pytestmark`)."""

from __future__ import annotations

import pytest

SQLITE_ONLY = pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
