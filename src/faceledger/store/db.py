"""Database engines: SQLite (WAL, foreign keys, secure delete) by default, PostgreSQL by URL."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from faceledger.errors import InvalidInput

SQLITE_FILENAME = "faceledger.db"
BEGIN_OPTION = "faceledger_sqlite_begin"


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / SQLITE_FILENAME).resolve()}"


def make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise InvalidInput(f"database URL {redact(url)!r} is not usable: {exc}") from exc


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    connection.isolation_level = None  # pysqlite's own BEGIN handling off: SQLAlchemy's "begin" event decides
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed batch survives a power cut, not just a kill
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten with zeros: an opt-out must not leave an embedding in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Write transactions take SQLite's write lock at BEGIN: one that reads and then writes (policy checks,
    then the ledger) would otherwise fail with a busy snapshot whenever another writer got in between."""
    mode = connection.get_execution_options().get(BEGIN_OPTION, "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# SQLite lets one writer in at a time and makes the others sleep and retry (1, 2, 5 ... 100 ms): with 8
# threads of one server searching, a waiter slept on long after the lock was free (p99 0.9 s at 1M faces).
# Threads of one process queue on a lock of their own first; other processes still meet SQLite's.
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()
_WRITER_WAIT_S = 30.0  # as SQLite's busy_timeout: past it, SQLite's own wait (and its error) decides


@contextmanager
def _one_writer(engine: Any) -> Iterator[None]:
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        yield
        return
    with _WRITERS_GUARD:
        lock = _WRITERS.setdefault(engine, threading.RLock())
    held = lock.acquire(timeout=_WRITER_WAIT_S)
    try:
        yield
    finally:
        if held:
            lock.release()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed whole, or rolled back whole."""
    with _one_writer(factory.kw.get("bind")), factory() as session, session.begin():
        session.connection(execution_options={BEGIN_OPTION: "IMMEDIATE"})
        yield session


def checkpoint(engine: Engine) -> None:
    """Fold SQLite's write-ahead log into the database and empty it, so deleted bytes leave the WAL too."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
