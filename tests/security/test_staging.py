"""H8: nothing of a probe is written outside the data directory. Uploads, step-one uploads, decoded video
frames and stills live in `<data dir>/staging` (0700, files 0600), are deleted on every outcome, and what a
killed process left there is swept when the next one starts. M7: a search refused at its last step (a halt
landing in flight) leaves no probe face in `probes/`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faceledger.api.app import create_app
from faceledger.errors import PolicyDenied
from faceledger.services.casework import governed_search as governed_search_module
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.governance.authority import halt
from faceledger.services.runtime.deployment import Deployment, open_deployment
from tests.databases import SQLITE_ONLY
from tests.lfwdata import passes_quality, people_with_several
from tests.office import ATTESTATION, Office, make_office
from tests.security import webflow


def _staged(deployment: Deployment) -> list[Path]:
    """Everything in staging but the servers' lock file."""
    root = deployment.data_dir / "staging"
    return sorted(p for p in root.rglob("*") if p.name != ".servers") if root.exists() else []


@pytest.fixture
def tmpdir_watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR (and Python's cached temporary folder) pointed at an empty folder of the test's own."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# Staging is files in the data directory: the tests of files alone take SQLITE_ONLY; claiming an upload
# and a halt landing in flight meet the database, and run on both.
@pytest.fixture
def web(make_deployment: Callable[..., Deployment], tmpdir_watch: Path) -> Iterator[tuple[Office, TestClient]]:
    office = make_office(make_deployment(max_image_bytes=1_500_000))
    webflow.set_password(office, "analyst")
    with TestClient(create_app(office.deployment.settings, office.deployment.data_dir)) as client:
        webflow.sign_in(client, "analyst")
        yield office, client


@SQLITE_ONLY
def test_photo_search_steps_write_nothing_outside_the_data_directory(
    web: tuple[Office, TestClient], tmpdir_watch: Path
) -> None:
    office, client = web
    upload = webflow.step_one(client, webflow.png_bytes(1))
    assert list(tmpdir_watch.iterdir()) == [], "step one left the probe in the system's temporary folder"
    kept = [p for p in _staged(office.deployment) if p.name.startswith("kept-")]
    assert len(kept) == 1, "the probe waiting for step two is in the data directory's staging folder"
    for path in [office.deployment.data_dir / "staging", *kept[0].rglob("*"), kept[0]]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path.name} is {oct(mode)}"
    refused = webflow.step_two(client, upload)
    assert refused.status_code == 422 and "no face found" in refused.text, refused.text[:300]
    assert _staged(office.deployment) == [], "a refused step two leaves nothing in staging"
    assert list(tmpdir_watch.iterdir()) == []
    headers = {"Authorization": f"Bearer {office.tokens['analyst']}"}
    for path in ("/api/v1/probes/faces", "/api/v1/searches"):
        client.post(
            path,
            headers=headers,
            data={"case": "C-1", "attestation": ATTESTATION},
            files={"probe": ("p.png", webflow.png_bytes(2), "image/png")},
        )
        too_big = client.post(
            path,
            headers=headers,
            data={"case": "C-1", "attestation": ATTESTATION},
            files={"probe": ("p.png", b"\x89PNG\r\n\x1a\n" + b"0" * 2_000_000)},
        )
        assert too_big.status_code == 413
    assert _staged(office.deployment) == [] and list(tmpdir_watch.iterdir()) == []


@SQLITE_ONLY
def test_video_steps_keep_the_video_and_its_frames_in_the_data_directory(
    web: tuple[Office, TestClient], tmpdir_watch: Path, tmp_path: Path
) -> None:
    office, client = web
    video = webflow.tiny_video(tmp_path / "clip.mp4")
    upload = webflow.video_step_one(client, video)
    assert list(tmpdir_watch.iterdir()) == [], "the video or its decoded frames were left outside the data dir"
    assert [p.name for p in _staged(office.deployment) if p.name.startswith("kept-")]
    answered = webflow.video_step_two(client, upload)
    assert answered.status_code == 404 and "no track 1" in answered.text, "the kept video was claimed"
    assert _staged(office.deployment) == [] and list(tmpdir_watch.iterdir()) == []


@SQLITE_ONLY
def test_an_expired_step_one_upload_is_deleted_without_waiting_for_another_upload(
    web: tuple[Office, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    office, client = web
    from faceledger.services.runtime import staging

    monkeypatch.setattr(staging, "_SWEEP_EVERY_S", 0.0)
    webflow.step_one(client, webflow.png_bytes(3))
    (kept,) = [p for p in _staged(office.deployment) if p.name.startswith("kept-")]
    meta = json.loads((kept / "meta.json").read_text())
    meta["created"] -= office.deployment.settings.staged_upload_ttl_s + 1  # as if uploaded 15 minutes ago
    (kept / "meta.json").write_text(json.dumps(meta))
    client.get("/health")
    assert _staged(office.deployment) == [], "an expired upload goes on the next request of any kind"


_KILLED_MID_REQUEST = """
import os, signal, sys
from pathlib import Path
from faceledger.services.runtime.staging import scratch
with scratch(Path(sys.argv[1])) as folder:
    (folder / "probe.jpg").write_bytes(b"a probe photo")
    os.kill(os.getpid(), signal.SIGKILL)
"""


@SQLITE_ONLY
def test_what_a_killed_process_left_in_staging_is_swept_on_start_up(web: tuple[Office, TestClient]) -> None:
    office, client = web
    deployment = office.deployment
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_REQUEST, str(deployment.data_dir)],
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert killed.returncode == -9
    assert any(p.name == "probe.jpg" for p in _staged(deployment)), "the killed request left its probe"
    upload = webflow.step_one(client, webflow.png_bytes(4))  # then the server dies between the two steps
    client.__exit__(None, None, None)
    open_deployment(deployment.settings, deployment.data_dir).close()  # a CLI command, or a server starting
    assert not any(p.name == "probe.jpg" for p in _staged(deployment)), "the abandoned request's probe is gone"
    with TestClient(create_app(deployment.settings, deployment.data_dir)) as restarted:
        assert _staged(deployment) == [], "the first server to start drops step-one uploads of dead servers"
        webflow.sign_in(restarted, "analyst")
        gone = webflow.step_two(restarted, upload)
        assert gone.status_code == 404 and "expired" in gone.text


def test_another_user_cannot_claim_an_upload_and_it_is_claimed_once(
    web: tuple[Office, TestClient], make_deployment: Callable[..., Deployment]
) -> None:
    office, client = web
    office.add("analyst2", "analyst")
    from faceledger.services.casework import cases

    cases.assign(office.deployment, office.supervisor, "C-1", ["analyst2"])
    webflow.set_password(office, "analyst2")
    upload = webflow.step_one(client, webflow.png_bytes(5))
    other = TestClient(client.app)  # another browser on the same running app (not a second start-up)
    webflow.sign_in(other, "analyst2")
    stolen = webflow.step_two(other, upload)
    assert stolen.status_code == 404 and "expired" in stolen.text, "another user claimed the probe"
    first = webflow.step_two(client, upload)
    assert first.status_code == 422 and "no face found" in first.text, "its uploader still can"
    second = webflow.step_two(client, upload)
    assert second.status_code == 404 and "expired" in second.text, "an upload is claimed exactly once"
    for malformed in ("../../faceledger.json", "kept-" + "a" * 43, ""):
        assert webflow.step_two(client, malformed).status_code in (404, 422)


@pytest.mark.needs_data
def test_a_halt_landing_in_flight_leaves_no_probe_face(
    make_deployment: Callable[..., Deployment], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    office = make_office(make_deployment())
    deployment = office.deployment
    probe = next(  # a halt, not the quality gate, must be what refuses it
        image
        for _, images in people_with_several(data_dir, 5)
        for image in images
        if passes_quality(deployment.face_engine, image)
    )
    original = governed_search_module.rank_candidates

    def rank_then_halt(*args: object, **kwargs: object) -> object:  # the council halts while the search runs
        ranked = original(*args, **kwargs)  # type: ignore[arg-type]
        halt(deployment, office.council, "council vote during a search")
        return ranked

    monkeypatch.setattr(governed_search_module, "rank_candidates", rank_then_halt)
    with pytest.raises(PolicyDenied, match="halted"):
        governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, probe))
    probes = deployment.data_dir / "probes"
    left = [p for p in probes.rglob("*") if p.is_file()] if probes.exists() else []
    assert left == [], f"the refused search left its probe face: {left}"
    assert _staged(deployment) == []
    monkeypatch.setattr(governed_search_module, "rank_candidates", original)
    from faceledger.services.governance.authority import resume

    resume(deployment, office.council, "the vote is over")
    done = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, probe))
    assert (deployment.data_dir / f"probes/{done.probe_sha256[:2]}").is_dir(), "a committed search keeps its face"


@SQLITE_ONLY
def test_an_upload_named_like_the_staging_files_is_still_just_an_upload(web: tuple[Office, TestClient]) -> None:
    office, client = web
    for name in ("meta.json", ".lock", "claimed", "../staging/.servers"):
        upload = webflow.step_one(client, webflow.png_bytes(6), name=name)
        answered = webflow.step_two(client, upload)
        assert answered.status_code == 422 and "no face found" in answered.text, (name, answered.text[:300])
    assert _staged(office.deployment) == []
