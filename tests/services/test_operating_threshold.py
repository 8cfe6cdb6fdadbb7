"""The operating threshold in a deployment: authority status, the accountability report and the command
line show it; a governed search derives it from the live gallery, stores and ledgers it, and says for
each candidate how many strangers in a gallery of this size would score as close."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.cli.casework import print_search
from faceledger.policy.operating_threshold import operating_threshold
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.governance.authority import status
from faceledger.services.governance.operating_threshold import current_threshold
from faceledger.services.oversight import reports
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.governance_models import Candidate, Search
from tests.calibration_tables import AFRICAN, CAUCASIAN, THIN, group, table
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import ATTESTATION, make_office


def _fill_index(deployment: Deployment, faces: int) -> None:
    """Stand-in gallery vectors (the figures here depend on the count only)."""
    vectors = np.random.default_rng(7).normal(size=(faces, 128)).astype(np.float32)
    deployment.model_index(deployment.model_key).add(np.arange(1, faces + 1, dtype=np.int64), vectors)


def test_status_and_the_report_show_the_threshold_the_worst_group_and_the_promise(
    make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    office = make_office(make_deployment())
    deployment = office.deployment
    deployment._calibration = table(AFRICAN, CAUCASIAN, THIN)  # a table with per-group counts
    _fill_index(deployment, 1000)
    expected = operating_threshold(deployment.calibration, 1000, 0.01, 20)
    shown = status(deployment, office.analyst)
    assert shown.operating == expected and expected.promise_met
    point = shown.to_dict()["operating_threshold"]
    assert point["threshold"] == expected.threshold and point["gallery_faces"] == 1000
    assert point["target_fpir"] == 0.01 and point["ignored_groups"] == ["race=east_asian"]
    assert point["worst_group"] == expected.worst.name

    written = reports.accountability(deployment, office.auditor, tmp_path / "kept")
    facts = json.loads(written.json.read_text())
    assert facts["accuracy"]["threshold"] == expected.threshold == facts["accuracy"]["operating"]["threshold"]
    html = written.html.read_text()
    assert f'id="operating-threshold">{expected.threshold:.3f}<' in html and ">holds<" in html
    assert f"Worst group: {expected.worst.name}" in html and "race=east_asian" in html

    # A promise this table cannot keep for 1,000 faces: said so, with the expected false candidates.
    deployment.settings = deployment.settings.model_copy(update={"target_fpir": 1e-7})
    unmet = status(deployment, office.analyst).operating
    assert unmet is not None and not unmet.promise_met and unmet.threshold < expected.threshold
    html = reports.accountability(deployment, office.auditor, tmp_path / "unmet").html.read_text()
    assert ">does NOT hold<" in html and "tightest the data supports" in html
    assert "Expected false candidates per search" in html

    # A group too thin to bound at this size (22 people, 721 pairs): named, not called the tightest distance.
    deployment.settings = deployment.settings.model_copy(update={"target_fpir": 0.01})
    deployment._calibration = table(CAUCASIAN, group("race", "african", 22, 721, (0,) * 6 + (0.01,) * 5))
    thin = status(deployment, office.analyst).operating
    assert thin is not None and thin.unvouched_groups == ("race=african",) and not thin.promise_met
    html = reports.accountability(deployment, office.auditor, tmp_path / "thin").html.read_text()
    assert ">does NOT hold<" in html and "cannot be vouched for race=african" in html
    assert "tightest the data supports" not in html


def test_authority_status_on_the_command_line(
    make_deployment: Callable[..., Deployment], monkeypatch: pytest.MonkeyPatch
) -> None:
    office = make_office(make_deployment())
    deployment = office.deployment
    if deployment.settings.database_url:  # the command opens the deployment itself, as a user would
        monkeypatch.setenv("FACELEDGER_DATABASE_URL", deployment.settings.database_url)
    command = ["authority", "status", "--data-dir", str(deployment.data_dir), "--token", office.tokens["analyst"]]
    done = CliRunner().invoke(app, command)
    assert done.exit_code == 0, done.output
    derived = current_threshold(deployment)  # the shipped dlib table, an empty gallery
    assert f"operating threshold {derived.threshold:.3f} (derived from the promise) for 0 gallery faces" in done.stdout
    assert "at most 1.00% of searches; promise kept" in done.stdout and "expected false candidates" in done.stdout
    data = json.loads(CliRunner().invoke(app, [*command, "--json"]).stdout)
    assert data["operating_threshold"]["threshold"] == derived.threshold and data["state"] == "active"


@pytest.mark.needs_data
def test_a_search_uses_stores_and_ledgers_the_threshold_for_the_gallery_it_searched(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    people = people_with_several(data_dir, 10)
    office = make_office(make_deployment())
    deployment = office.deployment
    spec = SourceSpec("lfw-test", "research test data")
    governed_ingest(deployment, office.curator, copy_with_manifest(people[:2], tmp_path / "g1"), spec)
    person, images = people[1]
    first = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, images[1]))
    assert first.gallery_faces == 2 and first.threshold == current_threshold(deployment, 2).threshold
    assert first.candidates and first.candidates[0]["provenance"]["subject"]["external_id"] == person
    top = first.candidates[0]
    assert top["strangers"].startswith("in a gallery of 2 faces, ") and "would score this close" in top["strangers"]
    assert isinstance(top["expected_strangers"], float) and top["expected_strangers"] >= 0
    with deployment.sessions() as session:
        stored = session.scalars(select(Search).where(Search.id == first.search_id)).one()
        row = session.scalars(select(Candidate).where(Candidate.search_id == first.search_id)).first()
    assert stored.threshold == first.threshold and stored.target_fpir == 0.01 and stored.threshold_mode == "derived"
    assert stored.promise_met is True and stored.operating_point and stored.operating_point["gallery_faces"] == 2
    assert row is not None and row.strangers_text == top["strangers"]
    details = json.loads(office.entries(action="search")[-1].details)
    assert details["operating_threshold"]["threshold"] == first.threshold
    assert details["operating_threshold"]["gallery_faces"] == 2 and details["operating_threshold"]["promise_met"]
    assert details["candidates"][0]["expected_strangers"] == top["expected_strangers"]

    print_search(first)
    printed = capsys.readouterr().out
    assert "operating threshold" in printed and top["strangers"] in printed

    # The gallery grows: the next search derives its threshold from the new count (never looser; on sface a
    # few faces more can leave it where it was, held by the thin african group's measured rate).
    governed_ingest(deployment, office.curator, copy_with_manifest(people[2:], tmp_path / "g2"), spec)
    second = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, images[1]))
    assert second.gallery_faces == deployment.index.count() > first.gallery_faces
    assert second.threshold == current_threshold(deployment, second.gallery_faces).threshold <= first.threshold
    assert second.operating_point["gallery_faces"] == second.gallery_faces
