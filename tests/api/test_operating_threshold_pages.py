"""The operating threshold on the dashboard and /accuracy, and the strangers sentence on the lineup page."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.governance.operating_threshold import current_threshold
from tests.api.conftest import Api
from tests.api.test_pages import _sign_in
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import ATTESTATION


def test_the_dashboard_and_accuracy_show_the_operating_threshold(api: Api) -> None:
    derived = current_threshold(api.office.deployment)
    point = api.client.get("/api/v1/accuracy").json()
    assert point["threshold"] == derived.threshold == point["operating_threshold"]["threshold"]
    assert point["operating_threshold"]["promise_met"] is True and point["operating_threshold"]["gallery_faces"] == 0
    _sign_in(api, "analyst")
    page = api.client.get("/ui/").text
    assert "Operating threshold" in page
    assert f'id="operating-threshold-value">{derived.threshold:.3f} (derived from the promise)' in page
    assert '<td id="operating-promise">yes</td>' in page and "Expected false candidates per search" in page
    assert "0 faces" in page and "at most 1.00% of searches" in page


@pytest.mark.needs_data
def test_the_lineup_page_says_how_many_strangers_would_score_as_close(api: Api, data_dir: Path, tmp_path: Path) -> None:
    office = api.office
    people = people_with_several(data_dir, 3)
    governed_ingest(
        office.deployment,
        office.curator,
        copy_with_manifest(people, tmp_path / "g"),
        SourceSpec("lfw-test", "research test data"),
    )
    found = governed_search(office.deployment, office.analyst, SearchRequest("C-1", ATTESTATION, people[0][1][1]))
    assert found.candidates
    _sign_in(api, "analyst")
    page = api.client.get(f"/ui/searches/{found.search_id}").text
    sentence = found.candidates[0]["strangers"]
    assert sentence.startswith(f"in a gallery of {found.gallery_faces} faces") and sentence in page
    promise = "promise kept" if found.operating_point["promise_met"] else "promise not vouched for"
    assert promise in page  # the search's own operating point, as stored (thin groups named when not vouched)
