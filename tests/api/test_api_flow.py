"""The governed flow over HTTP, on the fake analyser's faces and on real ones: search by upload, blind
two-person review, the images a reviewer compares, sign-off, corroboration, export; then the kill switch
and the ledger's verification.

The gallery is ingested before the service starts: a running service's index is loaded (and brought level
with the database) when it opens, so faces ingested by another process afterwards are not searched by it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from faceledger.api.app import create_app
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from tests.api.conftest import Api
from tests.fakes import FakeAnalyser
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import ATTESTATION, make_office

People = list[tuple[str, list[Path]]]


pytestmark = pytest.mark.both_databases


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.needs_data)])
def gallery_api(
    request: pytest.FixtureRequest, make_deployment: Callable[..., Deployment], tmp_path: Path
) -> Iterator[tuple[Api, People]]:
    """The office with six people in its gallery (one image each; the fake's or LFW's), then its HTTP service."""
    fake = FakeAnalyser() if request.param == "fake" else None
    office = make_office(make_deployment(analyser=fake))
    if fake is not None:
        people = fake.people_with_several(tmp_path / "photos", 6)
    else:
        people = people_with_several(request.getfixturevalue("data_dir"), 6)
    manifest = copy_with_manifest(people, tmp_path / "g")
    report = governed_ingest(office.deployment, office.curator, manifest, SourceSpec("lfw", "test"))
    assert report.images_added == len(people) and not report.failures
    app = create_app(office.deployment.settings, office.deployment.data_dir, analyser=fake)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(office, client), people


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    assert "Traceback" not in response.text
    return response.json()


def _search(client: TestClient, api: Api, probe: Path) -> httpx.Response:
    return client.post(
        "/api/v1/searches",
        headers=api.headers("analyst"),
        files={"probe": (probe.name, probe.read_bytes(), "image/jpeg")},
        data={"case": "C-1", "attestation": ATTESTATION},
    )


def test_search_review_signoff_export_then_halt_over_http(gallery_api: tuple[Api, People]) -> None:
    api, people = gallery_api
    office, client = api.office, api.client
    person, images = people[5]

    found = _ok(_search(client, api, images[1]), 201)
    assert found["outcome"] == "candidates" and 1 <= len(found["candidates"]) <= 5
    top = found["candidates"][0]
    assert top["provenance"]["original_filename"] == images[0].name, f"{person} should be the first candidate"
    assert all("not an identification" in c["notice"] for c in found["candidates"])
    candidate = top["candidate_id"]
    as_: Callable[[str], dict[str, str]] = api.headers

    hidden = _ok(client.get(f"/api/v1/candidates/{candidate}", headers=as_("reviewer2")))
    assert hidden["reviews"] is None and hidden["reviews_hidden"] is True, "blind: no list, not an English sentence"
    assert hidden["state"] == "awaiting_review"

    reviews = f"/api/v1/candidates/{candidate}/reviews"
    first = _ok(client.post(reviews, json={"decision": "possible", "note": "same ears"}, headers=as_("reviewer1")), 201)
    assert first["state"] == "awaiting_review"
    still_hidden = _ok(client.get(f"/api/v1/candidates/{candidate}", headers=as_("reviewer2")))
    assert still_hidden["reviews"] is None, "reviewer1's decision must stay hidden from reviewer2"
    second = _ok(client.post(reviews, json={"decision": "possible"}, headers=as_("reviewer2")), 201)
    assert second["state"] == "awaiting_signoff"
    seen = _ok(client.get(f"/api/v1/candidates/{candidate}", headers=as_("reviewer2")))
    assert [r["decision"] for r in seen["reviews"]] == ["possible", "possible"]

    for path in (f"/api/v1/searches/{found['search_id']}/probe.jpg", f"/api/v1/candidates/{candidate}/face.jpg"):
        image = client.get(path, headers=as_("reviewer1"))
        assert image.status_code == 200, f"{path}: {image.text[:300]}"
        assert image.headers["content-type"] == "image/jpeg" and image.content.startswith(b"\xff\xd8")

    signed = client.post(
        f"/api/v1/candidates/{candidate}/signoff", json={"note": "two reviewers agree"}, headers=as_("supervisor")
    )
    assert _ok(signed)["state"] == "confirmed"
    early = client.post(f"/api/v1/candidates/{candidate}/export", headers=as_("supervisor"))
    assert early.status_code == 403 and "corroborating" in early.json()["error"]["message"], early.text
    evidence = {"evidence": "badge number matches the duty roster"}
    lead = f"/api/v1/candidates/{candidate}"
    corroborated = client.post(f"{lead}/corroboration", json=evidence, headers=as_("supervisor"))
    assert _ok(corroborated)["state"] == "corroborated"
    exported = _ok(client.post(f"/api/v1/candidates/{candidate}/export", headers=as_("supervisor")))
    assert exported["candidate"]["candidate_id"] == candidate and len(exported["reviews"]) == 2
    assert "not an identification" in exported["notice"]

    halted = client.post(
        "/api/v1/authority/halt", json={"reason": "council vote to pause the pilot"}, headers=as_("supervisor")
    )
    assert _ok(halted)["state"] == "halted"
    refused = _search(client, api, images[1])
    assert refused.status_code == 403 and "halted" in refused.json()["error"]["message"], refused.text
    last = office.entries(outcome=ledger.REFUSED)[-1]
    assert last.action == "search" and "halted" in last.reasons

    verification = _ok(client.post("/api/v1/ledger/verify", headers=as_("auditor")))
    assert verification["ok"] is True, verification
