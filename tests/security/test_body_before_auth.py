"""H4: a request body is never read before its sender is authenticated, and every body is capped while
it streams. Tested against a real uvicorn server over a raw socket, with the temporary folder watched."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.routing import APIRoute

from faceledger.api.app import create_app
from faceledger.api.deps import PUBLIC, SAFE_METHODS
from faceledger.config import Settings
from faceledger.services.runtime.deployment import Deployment
from tests.api.test_api import _routes
from tests.databases import SQLITE_ONLY
from tests.office import Office, make_office

DECLARED = 300 * 1024 * 1024
BOUNDARY = "faceledgerboundary"


class Server:
    def __init__(self, office: Office, port: int) -> None:
        self.office, self.port = office, port


# The HTTP layer refuses before any handler (or the database) is reached: the server tests take SQLITE_ONLY.
@pytest.fixture
def server(
    make_deployment: Callable[..., Deployment], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where Starlette would spool a multipart body
    office = make_office(make_deployment(max_image_bytes=200_000))
    app = create_app(office.deployment.settings, office.deployment.data_dir)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    running = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.started, "uvicorn did not start"
    yield Server(office, listener.getsockname()[1])
    running.should_exit = True
    thread.join(10)
    assert not list(spool.iterdir()), f"something was spooled: {list(spool.iterdir())}"


def _upload_head(port: int, headers: dict[str, str], *, length: int | None = DECLARED, path: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
    ]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


PART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="probe"; filename="p.jpg"\r\n'
    "Content-Type: image/jpeg\r\n\r\n"
).encode()


# The body is never sent, so any answer at all proves the server did not wait to read it. No bound on how
# fast it answers: a loaded CI machine once took 3.3 s for what takes 4 ms here.
ANSWER_TIMEOUT_S = 30.0


def _answer(sock: socket.socket, timeout_s: float = ANSWER_TIMEOUT_S) -> tuple[int, bytes, float]:
    sock.settimeout(timeout_s)
    started, received = time.monotonic(), b""
    try:
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except TimeoutError:
        pytest.fail(f"no answer within {timeout_s} s: the server is reading the body")
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/") else 0
    return status, received, time.monotonic() - started


def _send(port: int, head: bytes, data: bytes) -> tuple[int, bytes, float, socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + data)
    return (*_answer(sock), sock)


@pytest.mark.parametrize("path", ["/api/v1/searches", "/api/v1/probes/faces", "/ui/search/faces", "/api/v1/optouts"])
@SQLITE_ONLY
def test_an_unauthenticated_300_mb_upload_is_refused_before_its_body_is_read(server: Server, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Cookie": "faceledger_session=forged"}):
        status, answer, took, sock = _send(
            server.port,
            _upload_head(server.port, headers, path=path),
            PART + b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024),
        )
        expected = 303 if path.startswith("/ui/") else 401
        assert status == expected, f"{path} {headers}: {answer[:200]!r} after {took:.1f} s"
        sock.close()


@SQLITE_ONLY
def test_a_declared_length_over_the_limit_is_refused_at_once_for_a_signed_in_user(server: Server) -> None:
    token = {"Authorization": f"Bearer {server.office.tokens['analyst']}"}
    status, answer, took, sock = _send(server.port, _upload_head(server.port, token, path="/api/v1/searches"), PART)
    assert status == 413, f"{answer[:300]!r} after {took:.1f} s"
    sock.close()


@SQLITE_ONLY
def test_a_chunked_body_is_cut_off_when_it_passes_the_limit(server: Server) -> None:
    """13 MB of chunked JSON offered to a route whose body is a few fields: refused once past 1 MiB."""
    head = (
        f"POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {server.office.tokens['supervisor']}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(head.encode() + b"7\r\n" + b'{"x": "' + b"\r\n")
    chunk = b"a" * 65536
    try:
        for _ in range(200):
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    except OSError:
        pass  # the server answered and closed: what we want
    status, answer, _ = _answer(sock)
    assert status == 413, answer[:300]
    sock.close()


def test_the_public_writes_are_the_routes_anyone_may_send_a_body_to() -> None:
    from faceledger.api.request_guard import PUBLIC_WRITES  # new: the other tests run on old code

    app = create_app(Settings())
    public = {
        (method, path)
        for route, path, methods in _routes(app)
        for method in methods
        if isinstance(route, APIRoute)
        and (route.openapi_extra or {}).get("x-faceledger-action") == PUBLIC
        and method not in SAFE_METHODS
    }
    assert public == set(PUBLIC_WRITES)
