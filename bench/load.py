"""Load test: concurrent clients doing governed searches and reads against `faceledger serve --workers N`
on PostgreSQL, then `ledger verify`. Client count and duration are bounded and the server listens on
127.0.0.1 only. Each `--workers` value runs on its own fresh deployment with the same gallery, probes and
clients, one after another on the same cores, so their figures compare like with like.

    FACELEDGER_TEST_DATA=../shared/data FACELEDGER_TEST_POSTGRES_URL=postgresql+psycopg://u:p@127.0.0.1/db \
        .venv/bin/python bench/load.py --clients 8 --duration-s 60 --workers 1 2

Prints JSON: per server size and route, requests, p50/p99 ms and errors (a 503 with Retry-After is counted
as shed load and a 403 as a governed refusal, such as a probe too turned away to search, not as errors);
governed searches/s (photo analysis included); the ledger's verification."""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.office and tests.lfwdata

from tests.databases import fresh_postgres_database
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import ATTESTATION, Office, make_office

from faceledger.config import Settings
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.oversight import audit_ledger
from faceledger.services.runtime.deployment import init_deployment
from faceledger.types import IndexBackend

MAX_CLIENTS, MAX_DURATION_S = 64, 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(office: Office, database_url: str, workers: int) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "FACELEDGER_DATABASE_URL": database_url}
    command = [
        sys.executable,
        "-m",
        "faceledger",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--data-dir",
        str(office.deployment.data_dir),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the server exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.shed: dict[str, int] = defaultdict(int)
        self.refused: dict[str, int] = defaultdict(int)

    def record(self, route: str, started: float, response: httpx.Response | None, problem: str = "") -> None:
        elapsed = (time.monotonic() - started) * 1000
        with self.lock:
            if response is not None and response.status_code == 503 and "retry-after" in response.headers:
                self.shed[route] += 1
            elif response is not None and response.status_code == 403:  # a governed refusal, e.g. a probe's
                self.refused[route] += 1  # quality: the policy working, ledgered, not a failure
            elif response is None or response.status_code >= 400:
                code = response.status_code if response is not None else "no answer"
                self.errors[route].append(f"{code}: {(response.text if response is not None else problem)[:400]}")
            else:
                self.latencies[route].append(elapsed)

    def summary(self) -> dict[str, Any]:
        routes = sorted(set(self.latencies) | set(self.errors) | set(self.shed) | set(self.refused))
        return {
            route: {
                "ok": len(self.latencies[route]),
                "shed_503": self.shed[route],
                "refused_403": self.refused[route],
                "errors": len(self.errors[route]),
                "error_samples": self.errors[route][:3],
                **percentiles(self.latencies[route]),
            }
            for route in routes
        }


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None}
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
    }


def client(base: str, token: str, probes: list[Path], number: int, stop_at: float, tally: Tally) -> None:
    """One client: a governed search, then reads of its result and of the case list, until the time is up."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
        turn = number
        while time.monotonic() < stop_at:
            probe = probes[turn % len(probes)]
            turn += 1
            started = time.monotonic()
            try:
                found = http.post(
                    "/api/v1/searches",
                    files={"probe": (probe.name, probe.read_bytes(), "image/jpeg")},
                    data={"case": "C-1", "attestation": ATTESTATION},
                )
            except httpx.HTTPError as exc:
                tally.record("POST /searches", started, None, repr(exc))
                continue
            tally.record("POST /searches", started, found)
            if found.status_code == 201:
                started = time.monotonic()
                tally.record("GET /searches/{id}", started, http.get(f"/api/v1/searches/{found.json()['search_id']}"))
            started = time.monotonic()
            tally.record("GET /cases", started, http.get("/api/v1/cases"))


def run(args: argparse.Namespace, workers: int, people: list[tuple[str, list[Path]]], folder: Path) -> dict[str, Any]:
    with fresh_postgres_database(args.postgres_url, "faceledger_load") as url:
        office = make_office(
            init_deployment(
                Settings(database_url=url, ingest_roots=[folder]), folder / f"data-{workers}", IndexBackend.FAISS
            )
        )
        governed_ingest(
            office.deployment,
            office.curator,
            copy_with_manifest(people, folder / f"gallery-{workers}"),
            SourceSpec("lfw", "research test data"),
        )
        probes = [images[1] for _, images in people]
        tally = Tally()
        with server(office, url, workers) as base:
            bearer = {"Authorization": f"Bearer {office.tokens['analyst']}"}
            warm = httpx.post(
                f"{base}/api/v1/searches",
                headers=bearer,
                timeout=180,
                files={"probe": (probes[0].name, probes[0].read_bytes(), "image/jpeg")},
                data={"case": "C-1", "attestation": ATTESTATION},
            )
            started = time.monotonic()
            stop_at = started + args.duration_s
            threads = [
                threading.Thread(target=client, args=(base, office.tokens["analyst"], probes, n, stop_at, tally))
                for n in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
        verified = audit_ledger.verify(office.deployment, office.auditor)
        office.deployment.close()
    routes = tally.summary()
    searches = routes.get("POST /searches", {}).get("ok", 0)
    return {
        "server_workers": workers,
        "warm_up_status": warm.status_code,
        "elapsed_s": round(elapsed, 1),
        "governed_searches_per_s": round(searches / elapsed, 2),
        "routes": routes,
        "errors": sum(r["errors"] for r in routes.values()),
        "ledger_verify": {"status": verified.status.value, "entries": verified.entries, "problem": verified.problem},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server processes, one run each")
    parser.add_argument("--people", type=int, default=40, help="LFW people in the gallery (their 2nd photo probes)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FACELEDGER_TEST_POSTGRES_URL"),
        help="a PostgreSQL URL whose user may create databases (default: FACELEDGER_TEST_POSTGRES_URL)",
    )
    args = parser.parse_args()
    if not args.postgres_url:
        raise SystemExit("load.py needs PostgreSQL: --postgres-url or FACELEDGER_TEST_POSTGRES_URL")
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.duration_s <= MAX_DURATION_S:
        raise SystemExit(f"--clients must be 1-{MAX_CLIENTS} and --duration-s at most {MAX_DURATION_S}")
    people = people_with_several(Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data")), args.people)
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    results = [run(args, workers, people, folder) for workers in args.workers]
    print(
        json.dumps(
            {
                "clients": args.clients,
                "duration_s": args.duration_s,
                "cores": os.cpu_count(),
                "gallery_people": len(people),
                "runs": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
