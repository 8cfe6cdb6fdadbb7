"""Governed search from video: one frame a person chose, ledgered with the video's hash, the frame's time
and who chose it; searching every track needs the grant's permission and a warrant."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from faceledger.errors import InvalidInput, PolicyDenied
from faceledger.services.casework import video_search
from faceledger.services.governance import authority
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from tests.databases import SQLITE_ONLY
from tests.office import ATTESTATION, make_office

# Tracking a video is the cost here; the ledger entries are rows like any other (tests/store covers both).
pytestmark = [pytest.mark.needs_data, SQLITE_ONLY]


def test_a_chosen_track_is_searched_and_ledgered_with_the_video_and_frame(
    make_deployment: Callable[..., Deployment], data_dir: Path
) -> None:
    video = data_dir / "video" / "video_01.mp4"
    office = make_office(make_deployment())
    deployment = office.deployment
    # The best face of track 1 is 65 px wide: the quality gate refuses it until a supervisor overrides.
    with pytest.raises(PolicyDenied, match="probe quality too low"):
        video_search.search_track(deployment, office.analyst, "C-1", ATTESTATION, video, 1)
    refused = office.entries(action="search", outcome=ledger.REFUSED)[-1]
    assert json.loads(refused.details)["video_sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()

    video_search.override_track(deployment, office.supervisor, "C-1", video, 1, "the only footage of the incident")
    result = video_search.search_track(deployment, office.analyst, "C-1", ATTESTATION, video, 1)
    entry = office.entries(action="search", outcome=ledger.DONE)[-1]
    details = json.loads(entry.details)
    assert entry.seq == result.ledger_seq
    assert details["video_sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert details["video_name"] == "video_01.mp4" and details["chosen_by"] == "analyst"
    assert abs(details["frame_time_s"] - 0.033) < 0.01 and "track 1" in details["chosen_as"]
    assert details["quality_override"] is not None

    with pytest.raises(InvalidInput, match="outside"):
        video_search.search_time(deployment, office.analyst, "C-1", ATTESTATION, video, 9.5)


def test_searching_every_track_needs_the_grant_and_a_warrant(
    make_deployment: Callable[..., Deployment], data_dir: Path
) -> None:
    video = data_dir / "video" / "video_01.mp4"
    office = make_office(make_deployment())
    with pytest.raises(PolicyDenied, match="does not allow searching every face") as refused:
        video_search.search_every_track(office.deployment, office.analyst, "C-1", ATTESTATION, video, "")
    assert "warrant" in str(refused.value)
    assert office.entries(action="search", outcome=ledger.REFUSED), "the refusal is on the ledger"

    authority.grant(
        office.deployment,
        office.council,
        reference="Res. 2026-20 (bulk video)",
        purposes=["misconduct-complaint"],
        offence_types=[],
        starts_on=office.today(),
        ends_on=office.today(),
        max_candidates=3,
        allows_bulk_video=True,
    )
    with pytest.raises(PolicyDenied, match="needs a warrant"):
        video_search.search_every_track(office.deployment, office.analyst, "C-1", ATTESTATION, video, " ")
    # With the grant and a warrant, the bulk rule passes; these small faces then meet the quality gate.
    with pytest.raises(PolicyDenied, match="probe quality too low") as gated:
        video_search.search_every_track(office.deployment, office.analyst, "C-1", ATTESTATION, video, "W-2026-7")
    assert "warrant" not in str(gated.value)
    last = json.loads(office.entries(action="search")[-1].details)
    assert "W-2026-7" in last["chosen_as"]
