"""Threads of one process that write to SQLite queue on a lock of their own, not in SQLite's busy loop (which
sleeps in steps of up to 100 ms and woke waiters long after the lock was free: p99 0.9 s with 8 searching
threads). Checked by when each BEGIN reaches SQLite, not by timing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from faceledger.store.db import make_engine, session_factory, sqlite_url, transaction


def test_a_second_thread_sends_begin_only_after_the_first_writer_committed(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    factory = session_factory(engine)
    with engine.connect() as one, engine.connect() as two:  # two pooled connections: none is opened below
        one.execute(text("CREATE TABLE t (n INTEGER)"))
        one.commit()
        two.execute(text("SELECT 1"))
    writers_open = {"count": 0}
    open_at_each_begin: list[int] = []

    def trace(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        def sent(statement: str) -> None:  # SQLite calls this as a statement starts: before a BEGIN waits
            if statement.startswith("BEGIN"):
                open_at_each_begin.append(writers_open["count"])

        dbapi_connection.set_trace_callback(sent)

    event.listen(engine, "checkout", trace)
    inside, release = threading.Event(), threading.Event()

    def first() -> None:
        with transaction(factory) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            writers_open["count"] += 1
            inside.set()
            release.wait(10)
            writers_open["count"] -= 1

    def second() -> None:
        inside.wait(10)
        with transaction(factory) as session:
            session.execute(text("INSERT INTO t VALUES (2)"))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inside.wait(10)
    threads[1].join(0.5)  # the second writer is waiting by now, on one lock or the other
    release.set()
    for thread in threads:
        thread.join(10)
    assert open_at_each_begin == [0, 0], "the second BEGIN went to SQLite while the first writer was still open"
    with factory() as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 2
    engine.dispose()
