"""The two-step photo and video searches as a browser does them, on any httpx client (a TestClient or a
client of a real server process), and small synthetic probes that need no face data."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from tests.office import Office

PASSWORD = "a long enough password"
ATTESTATION = "complainant's photo of the officer named in complaint C-1"


def set_password(office: Office, user: str) -> None:
    office.set_password(user, PASSWORD)


def sign_in(client: httpx.Client, user: str) -> None:
    page = client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, page.text[:300]
    signed = client.post(
        "/ui/login", data={"username": user, "password": PASSWORD, "csrf_token": token[1]}, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text[:300]


def csrf(client: httpx.Client, page: str = "/ui/search") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert found is not None
    return found[1]


def png_bytes(seed: int = 0, size: int = 96) -> bytes:
    """A small noise image: a valid probe with no face in it, different bytes for each seed."""
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def tiny_video(path: Path, seconds: float = 1.0) -> Path:
    """A few seconds of noise as MPEG-4 in MP4: a valid video with no face."""
    import av

    rng = np.random.default_rng(7)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(int(seconds * 10)):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def step_one(client: httpx.Client, probe: bytes, case: str = "C-1", name: str = "probe.png") -> str:
    """Upload a probe to see its faces; the id of the upload kept for step two."""
    shown = client.post(
        "/ui/search/faces", data={"case": case, "csrf_token": csrf(client)}, files={"probe": (name, probe, "image/png")}
    )
    assert shown.status_code == 200, shown.text[:500]
    kept = re.search(r'name="upload" value="([^"]+)"', shown.text)
    assert kept is not None, shown.text[:500]
    return kept[1]


def step_two(client: httpx.Client, upload: str, case: str = "C-1") -> httpx.Response:
    """Search the kept probe. A probe with no face is refused as such (422); an upload this server cannot
    find is a 404 ("expired")."""
    return client.post(
        "/ui/search",
        data={"upload": upload, "case": case, "attestation": ATTESTATION, "csrf_token": csrf(client)},
        follow_redirects=False,
    )


def video_step_one(client: httpx.Client, video: Path, case: str = "C-1") -> str:
    shown = client.post(
        "/ui/video/tracks",
        data={"case": case, "csrf_token": csrf(client, "/ui/video")},
        files={"video": (video.name, video.read_bytes(), "video/mp4")},
    )
    assert shown.status_code == 200, shown.text[:500]
    kept = re.search(r'name="upload" value="([^"]+)"', shown.text)
    assert kept is not None, shown.text[:500]
    return kept[1]


def video_step_two(client: httpx.Client, upload: str, case: str = "C-1") -> httpx.Response:
    return client.post(
        "/ui/video/search",
        data={
            "upload": upload,
            "case": case,
            "track": "1",
            "attestation": ATTESTATION,
            "csrf_token": csrf(client, "/ui/video"),
        },
        follow_redirects=False,
    )
