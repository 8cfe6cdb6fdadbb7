"""M8: request state lives in the data directory and the database, so several server processes on one
deployment answer any request: a step-one upload made on one is searched on another, a running ingest's
progress is read from a process that is not running it, and `faceledger serve --workers 2` works."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from faceledger.services.gallery._ingest import IngestReport, SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.runtime.deployment import Deployment
from tests.office import Office, make_office
from tests.security import webflow

pytestmark = [pytest.mark.slow, pytest.mark.both_databases]  # real server processes, started and killed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(
    data_dir: Path, *extra: str, database_url: str | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`faceledger serve` in its own process group (its workers die with it): its URL and process. The
    database is the data directory's SQLite one, or `database_url` (a PostgreSQL that servers share)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "FACELEDGER_WORKERS": "1"}
    env.pop("FACELEDGER_DATABASE_URL", None)
    if database_url:
        env["FACELEDGER_DATABASE_URL"] = database_url
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "faceledger", "serve", "--port", str(port), "--data-dir", str(data_dir), *extra],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"the server stopped: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server did not answer /health")
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """kill -9 the server we started and its worker processes (its own process group)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


def client(url: str, cookies: httpx.Cookies | None = None) -> httpx.Client:
    """No kept-alive connections: every request is a new connection, which any worker may take."""
    return httpx.Client(base_url=url, cookies=cookies, timeout=60, limits=httpx.Limits(max_keepalive_connections=0))


@pytest.fixture
def office(make_deployment: Callable[..., Deployment]) -> Office:
    found = make_office(make_deployment(ingest_batch_images=1))
    webflow.set_password(found, "analyst")
    return found


def _kept(office: Office) -> list[str]:
    root = office.deployment.data_dir / "staging"
    return [p.name for p in root.iterdir() if p.name.startswith("kept-")] if root.exists() else []


def test_a_step_one_upload_on_one_server_process_is_searched_on_another(office: Office) -> None:
    url_of_db = office.deployment.settings.database_url
    data_dir = office.deployment.data_dir
    with (
        server(data_dir, database_url=url_of_db) as (first, _),
        server(data_dir, database_url=url_of_db) as (second, _),
        client(first) as a,
    ):
        webflow.sign_in(a, "analyst")
        with client(second, a.cookies) as b:
            for upload_on, search_on in ((a, b), (b, a)):
                upload = webflow.step_one(upload_on, webflow.png_bytes(len(_kept(office))))
                answered = webflow.step_two(search_on, upload)
                assert answered.status_code == 422 and "no face found" in answered.text, (
                    f"the other server process could not find the upload: {answered.status_code}"
                )
            assert _kept(office) == []


def test_a_running_ingests_progress_is_read_from_another_process(office: Office, tmp_path: Path) -> None:
    """The ingest runs in this process; a server process (not running it) reports its progress."""
    url_of_db = office.deployment.settings.database_url
    with server(office.deployment.data_dir, database_url=url_of_db) as (url, _), client(url) as b:
        folder = tmp_path / "incoming"
        folder.mkdir()
        for number in range(4):
            (folder / f"image-{number}.png").write_bytes(webflow.png_bytes(100 + number))
        seen: list[Any] = []
        curator = {"Authorization": f"Bearer {office.tokens['curator']}"}

        def from_the_other_process(done: int, total: int, report: IngestReport) -> None:
            if done == 2:  # the second batch has committed; ask a server that is not running this ingest
                jobs = b.get("/api/v1/gallery/jobs", headers=curator).json()
                seen.append(next(job for job in jobs if job["job"] == report.job_id))

        spec = SourceSpec("synthetic", "test data")
        governed_ingest(office.deployment, office.curator, folder, spec, workers=1, on_progress=from_the_other_process)
        assert seen and seen[0]["status"] == "running", seen
        assert seen[0]["progress"] is not None and seen[0]["progress"]["done"] == 2, seen
        assert seen[0]["progress"]["total"] == 4


def test_serve_with_two_workers_runs_two_step_searches_then_a_kill_leaves_nothing(office: Office) -> None:
    url_of_db = office.deployment.settings.database_url
    data_dir = office.deployment.data_dir
    with server(data_dir, "--workers", "2", database_url=url_of_db) as (url, process):
        with client(url) as browser:
            webflow.sign_in(browser, "analyst")
            outcomes = []
            for round_number in range(8):  # new connections each time: both workers take some of them
                upload = webflow.step_one(browser, webflow.png_bytes(200 + round_number))
                outcomes.append(webflow.step_two(browser, upload).status_code)
            assert outcomes == [422] * 8, f"a step two found no upload: {outcomes}"
            webflow.step_one(browser, webflow.png_bytes(300))
        assert len(_kept(office)) == 1
        kill_hard(process)  # between the two steps
        assert len(_kept(office)) == 1, "a kill runs no clean-up: the upload is still there"
    with server(data_dir, database_url=url_of_db):
        assert _kept(office) == [], "the next server to start dropped the upload a killed server kept"
