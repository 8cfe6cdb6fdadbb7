"""The anomaly audit: each rule finds the anomaly planted in a hand-built ledger and nothing in a clean one;
on a real deployment the findings cite the right entries, recording one as a violation is ledgered, the
ledger still verifies, and only overseers may look."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from faceledger.errors import Conflict, InvalidInput, PolicyDenied
from faceledger.policy.governance import ActorView
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.oversight import audit_ledger
from faceledger.services.oversight.anomalies import (
    Finding,
    FindingKind,
    Limits,
    ReviewEntry,
    Roster,
    SearchEntry,
    bursts,
    detect,
    find_anomalies,
    list_violations,
    out_of_hours,
    outpaces_caseload,
    outside_assignment,
    probe_across_cases,
    read_entries,
    record_violation,
    repeat_after_not_a_match,
)
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events, ledger
from faceledger.store.db import transaction
from faceledger.store.governance_models import Case
from faceledger.store.oversight_models import Violation
from tests import entries
from tests.office import ATTESTATION, Office, make_office

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning, inside working hours
ANN, BOB = (1, "ann"), (2, "bob")
ROSTER = Roster({1: frozenset({10}), 2: frozenset({10, 20})}, {10: "C-1", 20: "C-2"})
PROBE_A, PROBE_B = "a" * 64, "b" * 64
ALL_DAY = (0, 24)  # entries appended on a real deployment carry the time the test runs


def search(
    seq: int,
    who: tuple[int, str] = ANN,
    case: int = 10,
    probe: str = PROBE_A,
    minutes: float = 0,
    candidates: tuple[int, ...] = (),
) -> SearchEntry:
    return SearchEntry(seq, T0 + timedelta(minutes=minutes), who[0], who[1], case, probe, candidates)


def review(seq: int, candidate: int, decision: str = "not", minutes: float = 0) -> ReviewEntry:
    return ReviewEntry(seq, T0 + timedelta(minutes=minutes), 3, "rita", 10, candidate, decision)


def kinds(findings: list[Finding]) -> list[str]:
    return [finding.kind.value for finding in findings]


# Pure rules over hand-built entries


def test_a_clean_ledger_has_no_findings() -> None:
    searches = [search(1, candidates=(5,)), search(3, BOB, 20, PROBE_B, minutes=30), search(4, BOB, 10, "c" * 64)]
    reviews = [review(2, 5, "possible")]
    assert detect(searches, reviews, ROSTER, Limits()) == []
    assert detect([], [], Roster(), Limits()) == []


def test_a_search_outside_the_searchers_cases_is_found() -> None:
    found = outside_assignment([search(1), search(2, case=20), search(3, case=20), search(4, BOB, 20)], ROSTER)
    assert [(f.kind, f.actor, f.ledger_seqs) for f in found] == [(FindingKind.OUTSIDE_ASSIGNMENT, "ann", (2, 3))]
    assert "ann searched in case C-2 without being assigned" in found[0].summary
    assert "2 searches" in found[0].summary
    assert outside_assignment([search(1), search(2, BOB, 20)], ROSTER) == []
    nobody = outside_assignment([search(1, (7, "eve"), case=99)], ROSTER)
    assert nobody[0].actor == "eve" and "case #99" in nobody[0].summary  # an unknown case is named by id


def test_searches_outpacing_the_caseload_are_found() -> None:
    eleven = [search(seq, minutes=seq * 600) for seq in range(1, 12)]
    found = outpaces_caseload(eleven, ROSTER, ratio=10)
    assert kinds(found) == ["outpaces_caseload"] and found[0].ledger_seqs == tuple(range(1, 12))
    assert "11 searches with 1 case assigned: 11.0 per case" in found[0].summary
    assert outpaces_caseload(eleven[:10], ROSTER, ratio=10) == []  # exactly the ratio is not above it
    bob = [search(seq, BOB, minutes=seq * 600) for seq in range(1, 12)]  # two cases: 5.5 per case
    assert outpaces_caseload(bob, ROSTER, ratio=10) == []
    assert kinds(outpaces_caseload(bob, ROSTER, ratio=5)) == ["outpaces_caseload"]


def test_searches_with_no_case_assigned_outpace_any_caseload() -> None:
    found = outpaces_caseload([search(1, (7, "eve"))], ROSTER, ratio=1000)
    assert found[0].actor == "eve" and "with no case assigned" in found[0].summary


def test_the_same_probe_in_two_cases_is_found() -> None:
    searches = [search(1), search(2, BOB, 20), search(3, BOB, 20, PROBE_B), search(4, BOB, 10, PROBE_B)]
    found = probe_across_cases(searches, ROSTER)
    assert [(f.actor, f.ledger_seqs) for f in found] == [("ann, bob", (1, 2)), ("bob", (3, 4))]
    assert "searched in 2 cases (C-1, C-2)" in found[0].summary and PROBE_A[:12] in found[0].summary
    assert probe_across_cases([search(1), search(2), search(3, BOB, 20, PROBE_B)], ROSTER) == []
    assert probe_across_cases([search(1, probe=""), search(2, BOB, 20, probe="")], ROSTER) == []  # no hash: no link


def test_searches_out_of_hours_are_found_per_person_and_day() -> None:
    def at(seq: int, clock: str, who: tuple[int, str] = ANN, day: int = 0) -> SearchEntry:
        hour, minute = map(int, clock.split(":"))
        return SearchEntry(seq, T0.replace(hour=hour, minute=minute) + timedelta(days=day), *who, 10, PROBE_A)

    searches = [
        at(1, "06:59"),
        at(2, "07:00"),
        at(3, "18:59"),
        at(4, "19:00"),
        at(5, "03:00", day=1),
        at(6, "20:00", BOB),
    ]
    found = out_of_hours(searches, Limits())
    assert [(f.actor, f.ledger_seqs) for f in found] == [("ann", (1, 4)), ("ann", (5,)), ("bob", (6,))]
    assert found[0].summary == (
        "ann made 2 searches on 2026-03-02 outside working hours 07:00-19:00 UTC (at 06:59, 19:00)"
    )
    assert "on 2026-03-03" in found[1].summary
    assert out_of_hours(searches[1:3], Limits()) == []


def test_out_of_hours_boundaries() -> None:
    def at(hour: int, minute: int) -> SearchEntry:
        return SearchEntry(hour * 100 + minute, T0.replace(hour=hour, minute=minute), 1, "ann", 10, PROBE_A)

    inside, outside = [at(7, 0), at(12, 30), at(18, 59)], [at(6, 59), at(19, 0), at(23, 59), at(0, 0)]
    assert out_of_hours(inside, Limits()) == []
    found = out_of_hours(outside, Limits())
    assert len(found) == 1 and set(found[0].ledger_seqs) == {659, 1900, 2359, 0}
    assert "4 searches on 2026-03-02 outside working hours 07:00-19:00 UTC" in found[0].summary
    night_shift = Limits(hours=(22, 6))  # wraps past midnight
    assert out_of_hours([at(23, 0), at(0, 0), at(5, 59)], night_shift) == []
    assert [f.ledger_seqs for f in out_of_hours([at(6, 0), at(21, 59)], night_shift)] == [(600, 2159)]
    assert out_of_hours(outside, Limits(hours=ALL_DAY)) == []


def test_a_burst_of_searches_is_found_once() -> None:
    burst = [search(seq, minutes=seq * 2.5) for seq in range(1, 23)]  # 22 searches in 52.5 minutes
    found = bursts(burst, limit=20)
    assert len(found) == 1 and found[0].ledger_seqs == tuple(range(1, 23))  # overlapping windows: one finding
    assert (
        "ann made 22 searches between 2026-03-02 09:02 and 2026-03-02 09:55 UTC, 22 within 60 minutes"
        in found[0].summary
    )
    assert bursts(burst[:20], limit=20) == []  # exactly the limit is not more than it


def test_a_burst_needs_the_searches_within_sixty_minutes_by_one_person() -> None:
    spread = [search(seq, minutes=seq * 3) for seq in range(1, 22)]  # 21 searches, first to last 60 minutes
    assert bursts(spread, limit=20) == []
    shared = [search(seq, ANN if seq % 2 else BOB, minutes=seq) for seq in range(1, 31)]  # 15 each
    assert bursts(shared, limit=20) == []


def test_separate_bursts_are_separate_findings() -> None:
    morning = [search(seq, minutes=seq) for seq in range(1, 5)]
    afternoon = [search(seq, minutes=240 + seq) for seq in range(5, 10)]
    found = bursts(morning + afternoon + [search(10, minutes=120)], limit=3)
    assert [f.ledger_seqs for f in found] == [(1, 2, 3, 4), (5, 6, 7, 8, 9)]
    assert "5 within 60 minutes (limit 3 an hour)" in found[1].summary


def test_a_repeat_search_after_not_a_match_is_found() -> None:
    searches = [search(1, candidates=(5, 6)), search(3, BOB, 20, PROBE_B), search(4), search(5, BOB, 20)]
    found = repeat_after_not_a_match(searches, [review(2, 6)], ROSTER)
    assert [(f.actor, f.ledger_seqs) for f in found] == [("ann", (1, 2, 4)), ("bob", (1, 2, 5))]
    assert found[0].summary == (
        "ann searched probe aaaaaaaaaaaa… again in case C-1 (entry 4) after rita found "
        "candidate 6 of search entry 1 not a match (entry 2)"
    )


def test_no_repeat_without_a_not_a_match_before_it() -> None:
    searches = [search(1, candidates=(5,)), search(2), search(4, probe=PROBE_B)]
    assert repeat_after_not_a_match(searches, [review(3, 5)], ROSTER) == []  # before the review; another probe
    for decision in ("possible", "inconclusive"):
        assert repeat_after_not_a_match([search(1, candidates=(5,)), search(3)], [review(2, 5, decision)], ROSTER) == []
    assert repeat_after_not_a_match([search(1), search(3)], [review(2, 99)], ROSTER) == []  # an unknown candidate


def test_detect_orders_findings_by_kind_then_entry() -> None:
    searches = [search(1, case=20, candidates=(5,)), search(3, case=20, minutes=11 * 60)]
    found = detect(searches, [review(2, 5)], ROSTER, Limits(caseload_ratio=1))
    assert kinds(found) == ["outside_assignment", "outpaces_caseload", "out_of_hours", "repeat_after_not_a_match"]
    assert found[0].to_dict()["entries"][0] == {
        "seq": 1,
        "at": T0.isoformat(),
        "actor": "ann",
        "case_id": 20,
        "action": "search",
    }


def test_read_entries_takes_done_searches_and_reviews_only() -> None:
    def row(seq: int, event: events.Event | events.Refusal) -> ledger.LedgerEntry:
        if isinstance(event, events.Refusal):
            action, outcome, (subjects, details) = event.action, ledger.REFUSED, (event.subjects, event.asked)
        else:
            action, outcome, (subjects, details) = event.NAME, event.OUTCOME, event.parts()
        return ledger.LedgerEntry(
            seq=seq,
            at=T0.isoformat(),
            actor_id=1,
            actor="ann",
            action=action,
            case_id=10,
            outcome=outcome,
            subjects=json.dumps(subjects),
            details=json.dumps(details),
        )

    opened = events.OpenCase(case=10, number="C-10", purpose="p", offence_type="o")
    refused_search = events.Refusal(action=events.EventName.SEARCH, asked={"probe_sha256": PROBE_B})
    refused_review = events.Refusal(action=events.EventName.REVIEW, subjects={"candidate": 6})
    rows = [
        row(1, entries.search(10, PROBE_A, (5, 6))),
        row(2, refused_search),
        row(3, entries.review(5, "not")),
        row(4, opened),
        row(5, refused_review),
    ]
    searches, reviews = read_entries(rows)
    assert searches == [SearchEntry(1, T0, 1, "ann", 10, PROBE_A, (5, 6))]
    assert reviews == [ReviewEntry(3, T0, 1, "ann", 10, 5, "not")]


@pytest.mark.parametrize(
    "limits", [{"hours": (7, 7)}, {"hours": (25, 3)}, {"hours": (-1, 3)}, {"caseload_ratio": 0}, {"burst_per_hour": 0}]
)
def test_limits_are_checked(limits: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        Limits(**limits)


# On a real deployment


def append_search(office: Office, who: ActorView, case: str, probe: str, candidates: tuple[int, ...] = ()) -> int:
    """A done search entry as governed_search writes it (no gallery needed: the audit reads the ledger)."""
    case_id = _case_id(office, case)
    with transaction(office.deployment.sessions) as session:
        entry = ledger.append(
            session, ledger.Actor(who.id, who.name), entries.search(case_id, probe, candidates), case_id=case_id
        )
        return entry.seq


def append_review(office: Office, who: ActorView, case: str, candidate: int, decision: str) -> int:
    with transaction(office.deployment.sessions) as session:
        entry = ledger.append(
            session, ledger.Actor(who.id, who.name), entries.review(candidate, decision), case_id=_case_id(office, case)
        )
        return entry.seq


def _case_id(office: Office, number: str) -> int:
    with office.deployment.sessions() as session:
        return session.scalars(select(Case.id).where(Case.number == number)).one()


@pytest.fixture
def office(make_deployment: Callable[..., Deployment]) -> Office:
    office = make_office(make_deployment())
    office.open_case("C-2", "analyst")
    office.add("analyst2", "analyst")
    return office


def test_a_clean_office_workflow_has_no_findings(office: Office, tmp_path: Path) -> None:
    probe = tmp_path / "probe.jpg"
    probe.write_bytes(b"not even an image: policy refuses before the probe is decoded")
    with pytest.raises(PolicyDenied, match="not assigned to this case"):
        governed_search(office.deployment, office.analyst2, SearchRequest("C-1", ATTESTATION, probe))
    first = append_search(office, office.analyst, "C-1", PROBE_A, (501, 502))
    append_review(office, office.reviewer1, "C-1", 501, "possible")
    append_review(office, office.reviewer2, "C-1", 502, "inconclusive")
    append_search(office, office.analyst, "C-2", PROBE_B)
    assert find_anomalies(office.deployment, office.auditor, hours=ALL_DAY, new_account_days=0) == []  # no finding
    scan = office.entries(action="anomaly_scan")[-1]
    assert scan.actor == "auditor" and '"searches":2' in scan.details and first < scan.seq


def test_planted_anomalies_are_found_and_recorded_as_violations(office: Office) -> None:
    deployment = office.deployment
    a1 = append_search(office, office.analyst, "C-1", PROBE_A, (601,))
    a2 = append_search(office, office.analyst, "C-2", PROBE_A)  # the same probe in another case
    b1 = append_search(office, office.analyst, "C-1", PROBE_B, (602, 603))
    rejected = append_review(office, office.reviewer1, "C-1", 603, "not")
    b2 = append_search(office, office.analyst, "C-1", PROBE_B)  # again, after "not a match"
    stray = append_search(office, office.analyst2, "C-1", "d" * 64)  # not assigned: policy would refuse

    found = find_anomalies(deployment, office.supervisor, hours=ALL_DAY, new_account_days=0)
    assert [(f.kind.value, f.actor, f.ledger_seqs) for f in found] == [
        ("outside_assignment", "analyst2", (stray,)),
        ("outpaces_caseload", "analyst2", (stray,)),
        ("probe_across_cases", "analyst", (a1, a2)),
        ("repeat_after_not_a_match", "analyst", (b1, rejected, b2)),
    ]
    assert "analyst2 searched in case C-1 without being assigned" in found[0].summary
    assert "(C-1, C-2)" in found[2].summary and "reviewer1 found candidate 603" in found[3].summary
    strict = find_anomalies(
        deployment, office.auditor, hours=ALL_DAY, burst_per_hour=3, new_account_days=0
    )  # analyst: 4 in minutes
    assert kinds(strict) == [
        "outside_assignment",
        "outpaces_caseload",
        "probe_across_cases",
        "burst",
        "repeat_after_not_a_match",
    ]
    assert strict[3].ledger_seqs == (a1, a2, b1, b2)
    assert (
        find_anomalies(deployment, office.auditor, caseload_ratio=1.5, hours=ALL_DAY, new_account_days=0)[2].kind
        == "outpaces_caseload"
    )

    violation = record_violation(deployment, office.auditor, found[0], note="referred to the chief")
    with deployment.sessions() as session:
        row = session.scalars(select(Violation)).one()
    seen = (row.id, row.kind, row.actor, row.ledger_seqs, row.recorded_by)
    assert seen == (violation, "outside_assignment", "analyst2", [stray], office.auditor.id)
    entry = office.entries(action="violation_record")[-1]
    assert entry.outcome == "done" and entry.actor == "auditor"
    assert entry.to_dict()["details"] == {
        "kind": "outside_assignment",
        "summary": found[0].summary,
        "ledger_seqs": [stray],
        "actor": "analyst2",
        "note": "referred to the chief",
    }
    assert entry.to_dict()["subjects"] == {"violation": violation}
    with pytest.raises(Conflict, match=f"already recorded as violation {violation}"):
        record_violation(deployment, office.admin, found[0])
    record_violation(deployment, office.admin, found[3])
    listed = list_violations(deployment, office.supervisor)
    assert [(v["id"], v["kind"], v["recorded_by"], v["note"]) for v in listed] == [
        (violation, "outside_assignment", "auditor", "referred to the chief"),
        (violation + 1, "repeat_after_not_a_match", "admin", ""),
    ]
    assert audit_ledger.verify(deployment, office.auditor).ok


def test_a_violation_must_cite_entries_that_exist(office: Office) -> None:
    made_up = Finding(FindingKind.BURST, "analyst", "made up", (99_999,))
    with pytest.raises(InvalidInput, match="99999"):
        record_violation(office.deployment, office.auditor, made_up)
    with pytest.raises(InvalidInput, match="none cited"):
        record_violation(office.deployment, office.auditor, Finding(FindingKind.BURST, "analyst", "nothing", ()))


def test_only_overseers_may_look_and_only_auditors_and_admins_record(office: Office) -> None:
    deployment = office.deployment
    seq = append_search(office, office.analyst2, "C-1", PROBE_A)
    with pytest.raises(PolicyDenied, match="view ledger needs the role"):
        find_anomalies(deployment, office.analyst, hours=ALL_DAY)
    refused = office.entries(action="view_ledger", outcome="refused")
    assert [e.actor for e in refused] == ["analyst"]
    finding = find_anomalies(deployment, office.auditor, hours=ALL_DAY)[0]
    for who in (office.analyst, office.supervisor):
        with pytest.raises(PolicyDenied, match="sign ledger needs the role"):
            record_violation(deployment, who, finding)
    refusals = office.entries(action="sign_ledger", outcome="refused")
    assert [e.actor for e in refusals] == ["analyst", "supervisor"]
    assert refusals[0].to_dict()["details"]["ledger_seqs"] == [seq]
    with pytest.raises(PolicyDenied):
        list_violations(deployment, office.analyst)
    with deployment.sessions() as session:
        assert session.scalars(select(Violation)).all() == []
    assert audit_ledger.verify(deployment, office.auditor).ok


def test_the_window_limits_what_is_read(office: Office) -> None:
    append_search(office, office.analyst2, "C-1", PROBE_A)
    now = datetime.now(UTC)
    assert find_anomalies(office.deployment, office.auditor, since=now + timedelta(minutes=5), hours=ALL_DAY) == []
    assert find_anomalies(office.deployment, office.auditor, until=now - timedelta(days=1), hours=ALL_DAY) == []
    naive = (now - timedelta(days=1)).replace(tzinfo=None)  # a naive time is taken as UTC
    assert len(find_anomalies(office.deployment, office.auditor, since=naive, hours=ALL_DAY)) == 2
