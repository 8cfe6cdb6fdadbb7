"""The accountability and weekly usage reports, counted against the ledger; an auditor's task, ledgered."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from faceledger.api.request_guard import CSP
from faceledger.config import Settings
from faceledger.errors import InvalidInput, PolicyDenied
from faceledger.eval.embeddings import EmbeddingCache, embed_lfw
from faceledger.eval.lfw import LfwImage, images_of, read_pairs
from faceledger.eval.lfw_eval import group_rates, verify
from faceledger.eval.lfw_labels import gender_labels
from faceledger.eval.report import LfwEvaluation, write_report
from faceledger.services.casework import review
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.oversight import reports, transparency
from faceledger.services.oversight._usage import iso_week
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from faceledger.transparency.verify import Checkpoint, VerifierKey
from tests.fakes import FakeAnalyser
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import ATTESTATION, Office, make_office


@pytest.fixture
def busy_office(make_deployment: Callable[..., Deployment], tmp_path: Path) -> Office:
    """A week's work (on the fake analyser's faces): a search that led to a confirmed lead, another with
    candidates, two refused."""
    fake = FakeAnalyser()
    people = fake.people_with_several(tmp_path / "photos", 5)
    office = make_office(make_deployment(analyser=fake))
    governed_ingest(
        office.deployment, office.curator, copy_with_manifest(people, tmp_path / "g"), SourceSpec("lfw", "t")
    )
    found = governed_search(office.deployment, office.analyst, SearchRequest("C-1", ATTESTATION, people[2][1][1]))
    candidate = found.candidates[0]["candidate_id"]
    review.review(office.deployment, office.reviewer1, candidate, "possible")
    review.review(office.deployment, office.reviewer2, candidate, "possible")
    review.sign_off(office.deployment, office.supervisor, candidate)
    governed_search(office.deployment, office.analyst, SearchRequest("C-1", ATTESTATION, people[2][1][0]))
    for attestation in ("too short", "identify the protesters at the rally"):
        with pytest.raises(PolicyDenied):
            governed_search(office.deployment, office.analyst, SearchRequest("C-1", attestation, people[2][1][1]))
    return office


def _this_week() -> str:
    year, week, _ = datetime.now(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def test_usage_report_counts_what_the_ledger_holds(busy_office: Office, tmp_path: Path) -> None:
    written = reports.usage_report(busy_office.deployment, busy_office.auditor, _this_week(), tmp_path / "r")
    data = json.loads(written.json.read_text())
    done = busy_office.entries(action="search", outcome=ledger.DONE)
    refused = busy_office.entries(action="search", outcome=ledger.REFUSED)
    assert data["searches"] == len(done) == 2 and data["refused"] == len(refused) == 2
    assert data["outcome"]["confirmed lead"] == 1 and sum(data["outcome"].values()) == 2
    assert data["user"] == {"analyst": 2} and data["purpose"] == {"misconduct-complaint": 2}
    assert any("blocked purpose" in reason for reason in data["refusal reason"])
    rows = list(csv.DictReader(written.csv.open() if written.csv else []))
    assert sum(int(r["count"]) for r in rows if r["breakdown"] == "user") == 2
    html = written.html.read_text()
    assert html.count("data:image/png;base64,") == 6 and not re.search(r"(src|href)=\"https?://", html)
    assert busy_office.entries(action="report_usage"), "writing a report is ledgered"
    checkpoint = Checkpoint.parse(data["ledger"]["checkpoint"])  # signed after the report's own entry
    checkpoint.require_signature(transparency.public_key(busy_office.deployment))
    assert checkpoint.size == busy_office.entries(action="report_usage")[-1].seq
    assert data["ledger"]["checkpoint"] in html and data["ledger"]["public_key"] in html


def test_a_week_with_no_use_and_a_malformed_week(busy_office: Office, tmp_path: Path) -> None:
    data = json.loads(
        reports.usage_report(busy_office.deployment, busy_office.auditor, "2020-W01", tmp_path / "old").json.read_text()
    )
    assert data["searches"] == 0 and data["refused"] == 0
    with pytest.raises(InvalidInput, match="YYYY-Www"):
        iso_week("2026-48")
    with pytest.raises(PolicyDenied, match="needs the role"):
        reports.usage_report(busy_office.deployment, busy_office.analyst, _this_week(), tmp_path / "x")


def test_every_report_template_parses_and_inlines_the_style_the_csp_allows() -> None:
    names = reports._ENV.list_templates()
    assert {"base.html", "accountability.html", "usage.html", "ledger_checkpoint.html", "report.css"} <= set(names)
    for name in names:
        reports._ENV.get_template(name)  # a syntax error raises TemplateSyntaxError
    period = {"start": "2026-01-05T00:00:00", "end": "2026-01-12T00:00:00", "searches": 0, "refused": 0}
    unsigned = {"checkpoint": None, "problem": "no key"}
    html = reports._render("usage.html", u=period, week="2026-W02", charts={}, ledger=unsigned)
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.S)  # as a browser hashes it
    assert styles == [reports.report_style()] and "report.css" not in html and "&gt;" not in styles[0]
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in CSP


def _small_evaluation(data_dir: Path, out: Path, cache: Path) -> Path:
    """A real evaluation on a slice of LFW (60 pairs of fold 1 and up to 72 images of labelled
    people), so that per-group rates come from measured faces without embedding all 12,405 images."""
    settings = Settings(workers=2)
    fold = [pair for pair in read_pairs(data_dir / "pairs.txt") if pair.fold == 0]
    pairs = fold[:30] + fold[300:330]  # a fold lists its 300 genuine pairs, then its 300 impostor pairs
    labels = gender_labels(data_dir)
    labelled = {image.person for image in labels}
    chosen = [
        LfwImage(person, int(path.stem.rsplit("_", 1)[1]))
        for person, images in people_with_several(data_dir, 200)
        if person in labelled
        for path in images[:3]
    ][:72]
    images = list(dict.fromkeys(images_of(pairs) + chosen))
    embeddings = embed_lfw(images, data_dir, settings, EmbeddingCache(cache))  # once a run, not once a database
    groups = group_rates(embeddings, labels, "gender", settings.match_threshold)
    write_report(LfwEvaluation(settings, verify(pairs, embeddings), None, groups), out)
    return out


@pytest.mark.needs_data
def test_accountability_report_with_a_real_evaluation(
    busy_office: Office, data_dir: Path, tmp_path: Path, lfw_embedding_cache: Path
) -> None:
    evaluation = _small_evaluation(data_dir, tmp_path / "eval", lfw_embedding_cache)
    written = reports.accountability(
        busy_office.deployment, busy_office.auditor, tmp_path / "acc", evaluation=evaluation
    )
    html = written.html.read_text()
    facts = json.loads(written.json.read_text())
    assert facts["model"]["weights_sha256"] in html and "lfw" in html and "misconduct-complaint" in html
    assert "never an identification" in html and "deleted 90 days after the case closes" in html
    assert facts["usage"]["searches"] == 2 and facts["usage"]["refused"] == 2
    groups = facts["accuracy"]["evaluation"]["groups"]
    assert {g["attribute"] for g in groups} >= {"gender"} and all(g["group"] in html for g in groups)
    assert html.count("data:image/png;base64,") == 3
    signed = Checkpoint.parse(facts["ledger"]["checkpoint"])
    signed.require_signature(VerifierKey.parse(facts["ledger"]["public_key"]))
    assert facts["ledger"]["public_key"] == transparency.public_key(busy_office.deployment).text()
    assert facts["ledger"]["public_key"] in html and "faceledger witness check" in html
    with pytest.raises(InvalidInput, match="not an evaluation summary"):
        reports.accountability(busy_office.deployment, busy_office.auditor, tmp_path / "bad", evaluation=tmp_path)
