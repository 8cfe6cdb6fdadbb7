"""`faceledger video faces` prints one track per visible face and writes a contact sheet and crops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.needs_data
ATTRIBUTION = 'Video: (c) 2012 Aaron "tango" Tang, CC BY 2.0'


def test_video_faces_prints_tracks_and_writes_a_contact_sheet(data_dir: Path, tmp_path: Path) -> None:
    video = data_dir / "video" / "video_01.mp4"
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "faceledger",
        "video",
        "faces",
        str(video),
        "--out",
        str(out),
        "--attribution",
        ATTRIBUTION,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    written = json.loads((out / "faces.json").read_text())
    tracks = len(written["tracks"])
    assert 3 <= tracks <= 6  # five people stand in the room (dlib links 3 of them, sface 4 and two glimpses)
    assert f"{tracks} track(s)" in done.stdout and done.stdout.count("  track ") == tracks
    assert ATTRIBUTION in done.stdout
    assert Image.open(out / "contact_sheet.png").format == "PNG"
    assert sorted(p.name for p in out.glob("track-*.jpg")) == sorted(f"track-{n}.jpg" for n in range(1, tracks + 1))
    assert written["attribution"] == ATTRIBUTION

    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[:150_000])
    broken = subprocess.run(
        [sys.executable, "-m", "faceledger", "video", "faces", str(cut)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert broken.returncode == 3 and "truncated" in broken.stderr and "Traceback" not in broken.stderr
