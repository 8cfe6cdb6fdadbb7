"""A real Milvus server (the `milvus` package's standalone build: etcd, storage and the message queue in one
process) for the Milvus backend's tests, started once per test process, like PostgreSQL."""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

_START_S = 180


def _unavailable(reason: str) -> None:
    if os.environ.get("FACELEDGER_REQUIRE_TEST_DATA"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of a Milvus server running for this test process. Its embedded etcd always takes ports 2379
    and 2380, so only one test process may run one: keep the tests that use it in one file (test_backends.py;
    `--dist loadfile` keeps a file on one process)."""
    try:
        from milvus import MilvusServer, MilvusServerConfig
    except ImportError:
        _unavailable("the Milvus server is not installed (make test installs the `milvus` package on Linux x86-64)")
    server = MilvusServer(MilvusServerConfig(), wait_for_started=False)
    server.set_base_dir(str(tmp_path_factory.mktemp("milvus")))
    server.config.set("common.session.ttl", 5)
    server.start()  # unpacks the server (~250 MB) into the base dir and starts it; ports are picked free
    try:
        _wait_healthy(server)
        yield f"http://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()


def _wait_healthy(server: object) -> None:
    process = server.server_proc  # type: ignore[attr-defined]
    health = f"http://127.0.0.1:{server.webservice_port}/healthz"  # type: ignore[attr-defined]
    deadline = time.monotonic() + _START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:  # the package itself would wait out its whole timeout
            logs = Path(server.config.base_data_dir) / "logs"  # type: ignore[attr-defined]
            _unavailable(f"the Milvus server exited with {process.returncode} at start; see {logs}")
        try:
            with urllib.request.urlopen(health, timeout=2) as answer:
                if answer.status == 200 and answer.read().strip() == b"OK":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    _unavailable(f"the Milvus server did not answer {health} within {_START_S} s")
