"""Measure the work one upload can cause (C2, H2): a black 12 MP PNG, a black 3 MP PNG and a black 4K 10 s
MP4, each sent through the API by an analyst, and the latency of a normal photo analysis sent while the
video is analysed. Prints JSON: wall time, peak RSS (server process and its children) and HTTP status.

    PYTHONPATH=src FACELEDGER_TEST_DATA=../shared/data .venv/bin/python bench/bounded_work.py
    PYTHONPATH=/tmp/base/src ... bench/bounded_work.py     # the same files against another checkout

Each case has a wall-clock limit (--limit-s); a case still running then is reported as timed out."""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.office

from tests.office import ATTESTATION, make_office

from faceledger.api.app import create_app
from faceledger.config import Settings
from faceledger.services.runtime.deployment import init_deployment
from faceledger.types import IndexBackend


def black_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 0).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def black_video(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 3840, 2160, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame.from_ndarray(np.zeros((2160, 3840, 3), np.uint8), format="rgb24")
        for _ in range(300):
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def peak_rss_mb() -> dict[str, float]:
    """Peak RSS of this process, and the largest among its live children (analysis workers)."""
    children = 0
    for listing in Path("/proc/self/task").glob("*/children"):
        for pid in listing.read_text().split():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            kib = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")]
            children = max(children, *kib) if kib else children
    return {
        "server_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "worker_peak_rss_mb": round(children / 1024),
    }


def timed(limit_s: float, send: Any) -> dict[str, Any]:
    """One case, printed to stderr as soon as it is done (a hung base run still shows what it did)."""
    result = _timed(limit_s, send)
    print(json.dumps(result), file=sys.stderr, flush=True)
    return result


def _timed(limit_s: float, send: Any) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            response = send()
            outcome.update(status=response.status_code, message=response.text[:160])
        except Exception as exc:  # report, do not crash the bench
            outcome.update(status=None, message=repr(exc)[:160])

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    outcome["wall_s"] = round(time.monotonic() - started, 2)
    if thread.is_alive():
        outcome.update(status="no answer", timed_out=True)
    return {**outcome, **peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit-s", type=float, default=180.0)
    parser.add_argument("--photo", type=Path, help="a normal photo with a face (default: a NASA sample)")
    args = parser.parse_args()
    data = Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data"))
    photo = args.photo or data / "samples" / "nasa_portrait_peggy_whitson.jpg"
    folder = Path(tempfile.mkdtemp(prefix="bench-bounded-"))
    office = make_office(init_deployment(Settings(workers=2), folder / "data", IndexBackend.FAISS))
    video = black_video(folder / "black-4k.mp4")
    results: dict[str, Any] = {"python_path": os.environ.get("PYTHONPATH", ""), "video_bytes": video.stat().st_size}
    headers = {"Authorization": f"Bearer {office.tokens['analyst']}"}
    with TestClient(
        create_app(office.deployment.settings, office.deployment.data_dir), raise_server_exceptions=False
    ) as client:

        def search(name: str, body: bytes, kind: str) -> Any:
            return client.post(
                "/api/v1/searches",
                headers=headers,
                files={"probe": (name, body, kind)},
                data={"case": "C-1", "attestation": ATTESTATION},
            )

        def tracks() -> Any:
            return client.post(
                "/api/v1/video/tracks",
                headers=headers,
                files={"video": (video.name, video.read_bytes(), "video/mp4")},
                data={"case": "C-1"},
            )

        results["warm_photo"] = timed(args.limit_s, lambda: search(photo.name, photo.read_bytes(), "image/jpeg"))
        for name, size in (("png_3mp", (2000, 1500)), ("png_12mp", (4000, 3000))):
            body = black_png(*size)
            measured = timed(args.limit_s, lambda b=body: search("black.png", b, "image/png"))
            results[name] = {"bytes": len(body), **measured}
        concurrent: dict[str, Any] = {}

        def photo_during_video() -> None:
            time.sleep(2.0)  # the video is uploaded and being worked on
            concurrent.update(timed(60.0, lambda: search(photo.name, photo.read_bytes(), "image/jpeg")))

        side = threading.Thread(target=photo_during_video, daemon=True)
        side.start()
        results["video_4k_10s"] = timed(args.limit_s, tracks)
        side.join(65)
        results["photo_search_during_video"] = concurrent
    print(json.dumps(results, indent=2))
    sys.stdout.flush()
    os._exit(0)  # a base-code analysis still running in a thread must not keep the bench alive


if __name__ == "__main__":
    main()
