"""`faceledger serve` starts the HTTP service on a deployment; a missing data directory fails in one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real server processes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_answers_health_and_refuses_without_a_token(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    env = {**os.environ}
    env.pop("FACELEDGER_DATABASE_URL", None)
    created = subprocess.run(
        [sys.executable, "-m", "faceledger", "init", "--data-dir", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "faceledger", "serve", "--port", str(port), "--data-dir", str(folder)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline and health is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    health = json.loads(response.read())
            except OSError:
                time.sleep(0.2)
        assert health is not None and health["status"] == "ok", "the server did not answer /health"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/cases")
        try:
            urllib.request.urlopen(request, timeout=5)
            raise AssertionError("an unauthenticated request was answered")
        except urllib.error.HTTPError as refused:
            assert refused.code == 401
            assert json.loads(refused.read())["error"]["code"] == "unauthenticated"
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_serve_on_a_missing_data_directory_fails_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "faceledger", "serve", "--data-dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1 and "not a faceledger data directory" in done.stderr
