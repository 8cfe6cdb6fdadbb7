"""A local Ray cluster (`ray start --head`) for tests and benchmarks, stopped on the way out."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_cluster(cpus: int = 2) -> Iterator[str]:
    """A head node on 127.0.0.1 with `cpus` CPUs; yields its address. The node address is given: on these
    machines Ray's own choice (the host's external address) left clients unable to reach its GCS."""
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths must stay short
    command = [
        str(RAY),
        "start",
        "--head",
        "--node-ip-address",
        "127.0.0.1",
        "--port",
        str(port),
        "--num-cpus",
        str(cpus),
        "--disable-usage-stats",
        "--include-dashboard",
        "false",
        "--temp-dir",
        str(temp),
    ]
    started = subprocess.run(command, check=False, capture_output=True, text=True, timeout=180)
    if started.returncode:
        raise RuntimeError(f"ray start failed: {started.stderr[-2000:]}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], check=False, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
