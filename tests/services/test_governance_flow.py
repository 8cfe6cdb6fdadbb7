"""Governance end to end: grant, case, search, blind two-person review, sign-off, corroboration, export;
then the kill switch. Every refusal is on the ledger and changes nothing else. The governed logic runs on
the fake analyser (tests/fakes.py); the end-to-end flow runs on real faces as well, and what depends on
the real models (a stranger's distances, a blurred probe's quality) runs on real faces only."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageFilter
from sqlalchemy import func, select

from faceledger.errors import PolicyDenied
from faceledger.services.casework import cases, review
from faceledger.services.casework.governed_search import SearchRequest, governed_search, record_override
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.governance.authority import halt, resume
from faceledger.services.oversight import audit_ledger
from faceledger.services.people import accounts
from faceledger.services.people._sign_in_throttle import authenticate_password
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from faceledger.store.governance_models import Review, Search, User
from tests.fakes import FakeAnalyser, FakeClock
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import ATTESTATION, Office, make_office

SPEC = SourceSpec("lfw-test", "research test data")
People = list[tuple[str, list[Path]]]


def _office(make_deployment: Callable[..., Deployment], people: People, folder: Path, **kwargs: object) -> Office:
    office = make_office(make_deployment(**kwargs))
    governed_ingest(office.deployment, office.curator, copy_with_manifest(people, folder), SPEC)
    return office


def _fake_office(make_deployment: Callable[..., Deployment], folder: Path) -> tuple[Office, People]:
    fake = FakeAnalyser()
    people = fake.people_with_several(folder / "photos", 8)
    return _office(make_deployment, people, folder / "gallery", analyser=fake), people


@pytest.fixture
def fake_office(make_deployment: Callable[..., Deployment], tmp_path: Path) -> tuple[Office, People]:
    return _fake_office(make_deployment, tmp_path)


@pytest.fixture
def real_office(make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path) -> tuple[Office, People]:
    people = people_with_several(data_dir, 8)
    return _office(make_deployment, people, tmp_path / "gallery"), people


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.needs_data)])
def office_with_gallery(
    request: pytest.FixtureRequest, make_deployment: Callable[..., Deployment], tmp_path: Path
) -> tuple[Office, People]:
    """The same office and gallery of eight, analysed by the fake or by the real models."""
    if request.param == "fake":
        return _fake_office(make_deployment, tmp_path)
    people = people_with_several(request.getfixturevalue("data_dir"), 8)
    return _office(make_deployment, people, tmp_path / "gallery"), people


def _count(office: Office, model: type) -> int:
    with office.deployment.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.both_databases  # the end-to-end flow, on each database
def test_grant_case_search_review_signoff_export_then_halt(
    office_with_gallery: tuple[Office, People], tmp_path: Path
) -> None:
    office, people = office_with_gallery
    deployment = office.deployment
    person, images = people[5]
    result = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, images[1]))
    assert result.outcome == "candidates" and 1 <= len(result.candidates) <= 5
    top = result.candidates[0]
    assert top["provenance"]["original_filename"] == images[0].name, f"{person} should be the first candidate"
    assert top["provenance"]["subject"]["external_id"] == person
    assert all("not an identification" in c["notice"] for c in result.candidates)
    assert "strangers" in top["false_match"] and top["distance"] <= result.threshold
    candidate = top["candidate_id"]

    # Blind: reviewer2 sees no review before theirs is in; then sees both.
    review.review(deployment, office.reviewer1, candidate, "possible", "same scar, same ears")
    assert review.view(deployment, office.reviewer2, candidate).reviews is None
    with pytest.raises(PolicyDenied, match="not been signed off"):
        review.export(deployment, office.supervisor, candidate, tmp_path / "lead.json")
    assert review.review(deployment, office.reviewer2, candidate, "possible") == "awaiting_signoff"
    seen = review.view(deployment, office.reviewer2, candidate).reviews
    assert seen is not None and len(seen) == 2

    assert review.sign_off(deployment, office.supervisor, candidate, "two reviewers agree") == "confirmed"
    with pytest.raises(PolicyDenied, match="corroborating"):
        review.export(deployment, office.supervisor, candidate, tmp_path / "lead.json")
    review.corroborate(deployment, office.supervisor, candidate, "badge number matches the duty roster")
    exported = json.loads(review.export(deployment, office.supervisor, candidate, tmp_path / "lead.json").read_text())
    assert exported["candidate"]["candidate_id"] == candidate and len(exported["reviews"]) == 2
    assert "not an identification" in exported["notice"] and exported["corroboration"]["evidence"]

    searches = _count(office, Search)
    halt(deployment, office.supervisor, "council vote to pause the pilot")
    with pytest.raises(PolicyDenied, match="halted"):
        governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, images[1]))
    with pytest.raises(PolicyDenied, match="halted"):
        review.review(deployment, office.reviewer1, result.candidates[-1]["candidate_id"], "possible")
    assert _count(office, Search) == searches
    refused = office.entries(outcome=ledger.REFUSED)
    assert [e.action for e in refused[-2:]] == ["search", "review"]
    assert json.loads(refused[-2].details)["probe_sha256"] == result.probe_sha256

    resume(deployment, office.council, "council lifted the pause")
    assert governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, images[1])).search_id
    verification = audit_ledger.verify(deployment, office.auditor)
    assert verification.ok, verification.problem
    actions = [e.action for e in office.entries(outcome=ledger.DONE)]
    for expected in (
        "grant_authority",
        "open_case",
        "assign_case",
        "gallery_ingest",
        "search",
        "review",
        "sign_off",
        "corroborate",
        "export",
        "halt_authority",
        "resume_authority",
    ):
        assert expected in actions


def test_a_fake_stranger_has_no_candidates_and_the_search_says_so(
    fake_office: tuple[Office, People], tmp_path: Path
) -> None:
    office, _ = fake_office
    fake = office.deployment.analyser
    assert isinstance(fake, FakeAnalyser)
    stranger = fake.photo(tmp_path / "strangers", "Not_In_The_Gallery")
    result = governed_search(office.deployment, office.analyst, SearchRequest("C-1", ATTESTATION, stranger))
    assert result.outcome == "no_candidates" and not result.candidates
    entry = office.entries(action="search")[-1]
    assert json.loads(entry.details)["outcome"] == "no_candidates" and entry.outcome == ledger.DONE


@pytest.mark.needs_data
def test_a_search_with_no_candidates_is_recorded_as_such(real_office: tuple[Office, People], data_dir: Path) -> None:
    office, _ = real_office
    strangers = [images[0] for _, images in people_with_several(data_dir, 20)[8:]]  # not in the gallery of 8
    for stranger in strangers:  # most strangers score above the threshold against 8 people; the data fix which
        try:
            result = governed_search(office.deployment, office.analyst, SearchRequest("C-1", ATTESTATION, stranger))
        except PolicyDenied as refused:  # a turned head: refused for quality (another test covers that)
            assert "probe quality too low" in str(refused)
            continue
        if not result.candidates:
            break
    else:
        pytest.fail("every stranger had a candidate under the threshold")
    assert result.outcome == "no_candidates"
    entry = office.entries(action="search")[-1]
    assert json.loads(entry.details)["outcome"] == "no_candidates" and entry.outcome == ledger.DONE


@pytest.mark.needs_data
def test_low_quality_probe_needs_a_supervisors_override(real_office: tuple[Office, People], tmp_path: Path) -> None:
    office, people = real_office
    blurred = tmp_path / "blurred.png"
    Image.open(people[2][1][1]).filter(ImageFilter.GaussianBlur(4)).save(blurred)
    request = SearchRequest("C-1", ATTESTATION, blurred)
    with pytest.raises(PolicyDenied, match="probe quality too low") as refused:
        governed_search(office.deployment, office.analyst, request)
    assert "override" in str(refused.value)
    with pytest.raises(PolicyDenied, match="needs the role supervisor"):
        record_override(office.deployment, office.analyst, "C-1", blurred, "I think it is fine")
    override = record_override(office.deployment, office.supervisor, "C-1", blurred, "only photo of the incident")
    result = governed_search(office.deployment, office.analyst, request)
    with office.deployment.sessions() as session:
        search = session.get(Search, result.search_id)
        assert search is not None and search.quality_override_id == override


MISUSE: dict[str, tuple[Callable[[Office], None], str, str]] = {}


def misuse(name: str, actor: str, match: str) -> Callable[[Callable[[Office], None]], Callable[[Office], None]]:
    def register(setup: Callable[[Office], None]) -> Callable[[Office], None]:
        MISUSE[name] = (setup, actor, match)
        return setup

    return register


@misuse("wrong role", "curator", "needs the role analyst")
def _wrong_role(office: Office) -> None:
    return None


@misuse("unassigned analyst", "analyst2", "not assigned")
def _unassigned(office: Office) -> None:
    office.add("analyst2", "analyst")


@misuse("closed case", "analyst", "case is closed")
def _closed(office: Office) -> None:
    cases.close(office.deployment, office.supervisor, "C-1", "done")


@misuse("empty attestation", "analyst", "attestation")
def _empty(office: Office) -> None:
    return None


@misuse("blocked purpose", "analyst", "lawful protest")
def _blocked(office: Office) -> None:
    return None


@misuse("halted", "analyst", "halted")
def _halted(office: Office) -> None:
    halt(office.deployment, office.council, "council vote")


@misuse("expired authorisation", "analyst", "expired")
def _expired(office: Office) -> None:
    clock = office.deployment.clock
    assert isinstance(clock, FakeClock)
    clock.advance(days=181)  # past the 180-day grant (grants cannot be back-dated)


@misuse("expired certification", "analyst", "certification expired")
def _uncertified(office: Office) -> None:
    accounts.certify(office.deployment, office.admin, "analyst", office.today() - timedelta(days=1))


@misuse("unknown case", "analyst", "no case")
def _unknown_case(office: Office) -> None:
    return None


ATTESTATIONS = {"empty attestation": "", "blocked purpose": "identify the protesters outside city hall"}


@pytest.mark.both_databases  # "changes nothing" is each database's rollback
@pytest.mark.parametrize("name", sorted(MISUSE))
def test_misuse_is_refused_ledgered_and_changes_nothing(
    name: str, make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    fake = FakeAnalyser()
    office = make_office(make_deployment(analyser=fake, clock=FakeClock()))
    setup, actor, match = MISUSE[name]
    setup(office)
    probe = fake.photo(tmp_path, "Someone")
    before = (_count(office, Search), len(office.entries()))
    case = "C-404" if name == "unknown case" else "C-1"
    request = SearchRequest(case, ATTESTATIONS.get(name, ATTESTATION), probe)
    with pytest.raises(PolicyDenied, match=match):
        governed_search(office.deployment, getattr(office, actor), request)
    assert _count(office, Search) == before[0]
    entries = office.entries()
    assert len(entries) == before[1] + 1, "exactly one entry: the refusal"
    assert entries[-1].action == "search" and entries[-1].outcome == ledger.REFUSED
    assert match in entries[-1].reasons
    assert fake.probes == 0, "refused before the probe was analysed"


def test_review_misuse(fake_office: tuple[Office, People]) -> None:
    office, people = fake_office
    deployment = office.deployment
    with pytest.raises(PolicyDenied, match="may not hold both analyst and reviewer"):
        office.add("dual", "analyst", "reviewer")  # separation of duties: refused at creation
    result = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, people[1][1][1]))
    candidate = result.candidates[0]["candidate_id"]
    with pytest.raises(PolicyDenied, match="needs the role reviewer"):
        review.review(deployment, office.analyst, candidate, "possible")
    review.review(deployment, office.reviewer1, candidate, "possible")
    with pytest.raises(PolicyDenied, match="already reviewed"):
        review.review(deployment, office.reviewer1, candidate, "possible")
    with pytest.raises(PolicyDenied, match="two independent reviewers"):
        review.sign_off(deployment, office.supervisor, candidate)
    assert review.review(deployment, office.reviewer2, candidate, "not") == "rejected"
    office.add("reviewer3", "reviewer")
    with pytest.raises(PolicyDenied, match="not a match"):
        review.review(deployment, office.reviewer3, candidate, "possible")
    with office.deployment.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 2
    refused = [e.action for e in office.entries(outcome=ledger.REFUSED)]
    assert refused == ["manage_users", "review", "review", "sign_off", "review"]


def test_tokens_are_stored_hashed_and_a_disabled_users_token_is_refused(
    make_deployment: Callable[..., Deployment],
) -> None:
    office = make_office(make_deployment(), grant=False)
    token = office.tokens["analyst"]
    database = office.deployment.data_dir / "faceledger.db"
    if database.exists():
        assert token.encode() not in database.read_bytes()
    accounts.disable(office.deployment, office.admin, "analyst", "left the office")
    with pytest.raises(PolicyDenied, match="disabled"):
        accounts.authenticate_token(office.deployment, token)
    with pytest.raises(PolicyDenied, match="not known"):
        accounts.authenticate_token(office.deployment, token[:-2] + "xx")
    last = office.entries()[-2:]
    assert [(e.action, e.outcome) for e in last] == [("authenticate", "refused"), ("authenticate", "refused")]
    assert token not in " ".join(e.details for e in office.entries())


def test_passwords_use_argon2(make_deployment: Callable[..., Deployment]) -> None:
    office = make_office(make_deployment(), grant=False)
    office.set_password("reviewer1", "correct horse battery")
    assert authenticate_password(office.deployment, "reviewer1", "correct horse battery").name == "reviewer1"
    with pytest.raises(PolicyDenied, match="wrong user name or password"):
        authenticate_password(office.deployment, "reviewer1", "wrong horse battery")
    with office.deployment.sessions() as session:
        stored = session.scalars(select(User.password_hash).where(User.username == "reviewer1")).one()
    assert stored is not None and stored.startswith("$argon2")
