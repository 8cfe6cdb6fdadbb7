"""The anomaly audit: patterns in the ledger an oversight office should look at, each finding citing the
entries it rests on. Searches outside assigned cases should never happen (policy refuses them), so finding
none is evidence that the policy held; the other rules flag use that is allowed but worth a question.

Detection is pure (records in, findings out) so each rule can be tested on a ledger built by hand; the
wrapper reads done search and review entries from the ledger and the current case assignments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.errors import Conflict, InvalidInput
from faceledger.policy.governance import Action, ActorView, Context, ReviewDecision
from faceledger.services.governance.guard import append, governed, no_context
from faceledger.services.governance.scope import ledger_clause, visible_violations
from faceledger.services.oversight import _anomaly_accounts as anomaly_accounts
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events, ledger
from faceledger.store.governance_models import Case, CaseAssignment, User
from faceledger.store.oversight_models import Violation


class FindingKind(StrEnum):
    OUTSIDE_ASSIGNMENT = "outside_assignment"
    OUTPACES_CASELOAD = "outpaces_caseload"
    PROBE_ACROSS_CASES = "probe_across_cases"
    OUT_OF_HOURS = "out_of_hours"
    BURST = "burst"
    REPEAT_AFTER_NOT_A_MATCH = "repeat_after_not_a_match"
    NEW_ACCOUNTS_CASEWORK = "new_accounts_casework"  # see services/oversight/_anomaly_accounts.py


@dataclass(frozen=True)
class Entry:
    """The part of a done ledger entry the rules read."""

    seq: int
    at: datetime
    actor_id: int | None
    actor: str
    case_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "case_id": self.case_id,
            "action": "search" if isinstance(self, SearchEntry) else "review",
        }


@dataclass(frozen=True)
class SearchEntry(Entry):
    probe_sha256: str = ""
    candidate_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ActEntry(Entry):
    """Any casework entry (search, review, sign-off, corroboration, export), named by its action."""

    action: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "action": self.action}


@dataclass(frozen=True)
class ReviewEntry(Entry):
    candidate_id: int = 0
    decision: str = ""


@dataclass(frozen=True)
class Roster:
    """Current case assignments (user id -> case ids) and case numbers (case id -> number)."""

    assigned: Mapping[int, frozenset[int]] = field(default_factory=dict)
    numbers: Mapping[int, str] = field(default_factory=dict)

    def case(self, case_id: int | None) -> str:
        return self.numbers.get(case_id, f"#{case_id}") if case_id is not None else "no case"


@dataclass(frozen=True)
class Limits:
    caseload_ratio: float = 10.0
    burst_per_hour: int = 20
    hours: tuple[int, int] = (7, 19)  # working hours in UTC, [start, end); start > end wraps past midnight

    def __post_init__(self) -> None:
        start, end = self.hours
        if not (0 <= start <= 23 and 0 <= end <= 24 and start != end):
            raise InvalidInput(f"working hours must be two different hours from 0 to 24; got {start}-{end}")
        if self.caseload_ratio <= 0 or self.burst_per_hour < 1:
            raise InvalidInput("the caseload ratio must be above 0 and the burst limit at least 1")

    def working(self, at: datetime) -> bool:
        start, end, hour = *self.hours, at.astimezone(UTC).hour
        return start <= hour < end if start < end else hour >= start or hour < end


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    actor: str
    summary: str
    ledger_seqs: tuple[int, ...]  # ascending; what a recorded violation cites
    entries: tuple[Entry, ...] = ()  # the cited entries as the rules read them, for showing a person

    @classmethod
    def citing(cls, kind: FindingKind, actor: str, summary: str, entries: Iterable[Entry]) -> Finding:
        cited = tuple(entries)
        return cls(kind, actor, summary, tuple(sorted({entry.seq for entry in cited})), cited)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "actor": self.actor,
            "summary": self.summary,
            "ledger_seqs": list(self.ledger_seqs),
            "entries": [e.to_dict() for e in self.entries],
        }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 'es' if word.endswith('h') else 's'}"


def _by(entries: Iterable[SearchEntry], key: Callable[[SearchEntry], Any]) -> dict[Any, list[SearchEntry]]:
    groups: dict[Any, list[SearchEntry]] = defaultdict(list)
    for entry in entries:
        groups[key(entry)].append(entry)
    return groups


def outside_assignment(searches: list[SearchEntry], roster: Roster) -> list[Finding]:
    wrong = [s for s in searches if s.actor_id is None or s.case_id not in roster.assigned.get(s.actor_id, frozenset())]
    return [
        Finding.citing(
            FindingKind.OUTSIDE_ASSIGNMENT,
            actor,
            f"{actor} searched in case {roster.case(case_id)} "
            f"without being assigned to it ({_plural(len(group), 'search')}); policy should have "
            "refused this",
            group,
        )
        for (actor, case_id), group in _by(wrong, lambda s: (s.actor, s.case_id)).items()
    ]


def outpaces_caseload(searches: list[SearchEntry], roster: Roster, ratio: float) -> list[Finding]:
    findings = []
    for (actor_id, actor), group in _by(searches, lambda s: (s.actor_id, s.actor)).items():
        cases = len(roster.assigned.get(actor_id, frozenset())) if actor_id is not None else 0
        if cases == 0:
            summary = f"{actor} made {_plural(len(group), 'search')} with no case assigned"
        elif len(group) / cases > ratio:
            summary = (
                f"{actor} made {_plural(len(group), 'search')} with {_plural(cases, 'case')} assigned: "
                f"{len(group) / cases:.1f} per case, above the limit of {ratio:g}"
            )
        else:
            continue
        findings.append(Finding.citing(FindingKind.OUTPACES_CASELOAD, actor, summary, group))
    return findings


def probe_across_cases(searches: list[SearchEntry], roster: Roster) -> list[Finding]:
    findings = []
    for probe, group in _by((s for s in searches if s.probe_sha256), lambda s: s.probe_sha256).items():
        cases = sorted({roster.case(s.case_id) for s in group})
        if len(cases) >= 2:
            actors = ", ".join(sorted({s.actor for s in group}))
            summary = (
                f"the same probe (sha256 {probe[:12]}…) was searched in {len(cases)} cases "
                f"({', '.join(cases)}) by {actors}"
            )
            findings.append(Finding.citing(FindingKind.PROBE_ACROSS_CASES, actors, summary, group))
    return findings


def out_of_hours(searches: list[SearchEntry], limits: Limits) -> list[Finding]:
    late = [s for s in searches if not limits.working(s.at)]
    start, end = limits.hours
    findings = []
    for (actor, day), group in _by(late, lambda s: (s.actor, s.at.astimezone(UTC).date())).items():
        times = ", ".join(f"{s.at.astimezone(UTC):%H:%M}" for s in group[:8]) + (", …" if len(group) > 8 else "")
        summary = (
            f"{actor} made {_plural(len(group), 'search')} on {day} outside working hours "
            f"{start:02d}:00-{end:02d}:00 UTC (at {times})"
        )
        findings.append(Finding.citing(FindingKind.OUT_OF_HOURS, actor, summary, group))
    return findings


def bursts(searches: list[SearchEntry], limit: int) -> list[Finding]:
    """More than `limit` searches by one user within 60 minutes; overlapping windows make one finding."""
    findings = []
    for actor, group in _by(searches, lambda s: s.actor).items():
        group.sort(key=lambda s: (s.at, s.seq))
        runs: list[list[int]] = []  # [first index, last index, most searches in one window]
        first = 0
        for last, entry in enumerate(group):
            while entry.at - group[first].at >= timedelta(hours=1):
                first += 1
            count = last - first + 1
            if count > limit and runs and first <= runs[-1][1]:  # shares searches with the run before: one burst
                runs[-1][1:] = [last, max(runs[-1][2], count)]
            elif count > limit:
                runs.append([first, last, count])
        for begin, end, peak in runs:
            run = group[begin : end + 1]
            start, stop = run[0].at.astimezone(UTC), run[-1].at.astimezone(UTC)
            summary = (
                f"{actor} made {len(run)} searches between {start:%Y-%m-%d %H:%M} and "
                f"{stop:%Y-%m-%d %H:%M} UTC, {peak} within 60 minutes (limit {limit} an hour)"
            )
            findings.append(Finding.citing(FindingKind.BURST, actor, summary, run))
    return findings


def repeat_after_not_a_match(searches: list[SearchEntry], reviews: list[ReviewEntry], roster: Roster) -> list[Finding]:
    """A probe searched again after a reviewer found a candidate of an earlier search of it not a match."""
    search_of = {c: s for s in searches for c in s.candidate_ids}
    rejected: dict[str, list[tuple[SearchEntry, ReviewEntry]]] = defaultdict(list)
    for review in reviews:
        earlier = search_of.get(review.candidate_id)
        if review.decision == ReviewDecision.NOT and earlier is not None and earlier.probe_sha256:
            rejected[earlier.probe_sha256].append((earlier, review))
    findings = []
    for search in searches:
        before = [(s, r) for s, r in rejected.get(search.probe_sha256, ()) if r.seq < search.seq]
        if not before:
            continue
        why = "; ".join(
            f"{r.actor} found candidate {r.candidate_id} of search entry {s.seq} not a match (entry {r.seq})"
            for s, r in before
        )
        summary = (
            f"{search.actor} searched probe {search.probe_sha256[:12]}… again in case "
            f"{roster.case(search.case_id)} (entry {search.seq}) after {why}"
        )
        cited = (*(e for pair in before for e in pair), search)
        findings.append(Finding.citing(FindingKind.REPEAT_AFTER_NOT_A_MATCH, search.actor, summary, cited))
    return findings


def detect(searches: list[SearchEntry], reviews: list[ReviewEntry], roster: Roster, limits: Limits) -> list[Finding]:
    """Every rule over done searches and reviews, in the order of FindingKind, then by first entry."""
    found = [
        *outside_assignment(searches, roster),
        *outpaces_caseload(searches, roster, limits.caseload_ratio),
        *probe_across_cases(searches, roster),
        *out_of_hours(searches, limits),
        *bursts(searches, limits.burst_per_hour),
        *repeat_after_not_a_match(searches, reviews, roster),
    ]
    order = list(FindingKind)
    return sorted(found, key=lambda f: (order.index(f.kind), f.ledger_seqs[0]))


def read_entries(rows: Iterable[ledger.LedgerEntry]) -> tuple[list[SearchEntry], list[ReviewEntry]]:
    """Done search and review entries, each read through its typed record (store/events.py)."""
    searches, reviews = [], []
    for row in rows:
        if row.outcome != ledger.DONE:
            continue
        base = (row.seq, datetime.fromisoformat(row.at), row.actor_id, row.actor, row.case_id)
        record = row.record()
        if isinstance(record, events.Search):
            shown = tuple(candidate.candidate_id for candidate in record.candidates)
            searches.append(SearchEntry(*base, probe_sha256=record.probe_sha256, candidate_ids=shown))
        elif isinstance(record, events.Review):
            reviews.append(ReviewEntry(*base, candidate_id=record.candidate, decision=record.decision))
    return searches, reviews


def _utc(moment: datetime | None) -> str | None:
    """The ledger's own `at` format, so the window can be compared as text in SQL (a naive time is UTC)."""
    aware = moment.replace(tzinfo=moment.tzinfo or UTC) if moment is not None else None
    return aware.astimezone(UTC).isoformat(timespec="microseconds") if aware is not None else None


def _roster(session: Session) -> Roster:
    assigned: dict[int, set[int]] = defaultdict(set)
    for user_id, case_id in session.execute(select(CaseAssignment.user_id, CaseAssignment.case_id)):
        assigned[user_id].add(case_id)
    numbers = {case_id: number for case_id, number in session.execute(select(Case.id, Case.number))}
    return Roster({user: frozenset(cases) for user, cases in assigned.items()}, numbers)


def find_anomalies(
    deployment: Deployment,
    actor: ActorView,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    caseload_ratio: float = 10.0,
    burst_per_hour: int = 20,
    hours: tuple[int, int] = (7, 19),
    new_account_days: int | None = None,
) -> list[Finding]:
    """Findings over done searches and reviews ledgered in [since, until); each cites only entries in it.
    The scan itself is ledgered, so who looked, and what they were shown, is on the record too. A supervisor's
    scan reads only their own department's entries (services/governance/scope.py)."""
    limits = Limits(caseload_ratio, burst_per_hour, hours)
    days = deployment.settings.anomaly_new_account_days if new_account_days is None else new_account_days
    window = {"since": _utc(since), "until": _utc(until)}
    E = ledger.LedgerEntry

    def work(session: Session, _: Context) -> list[Finding]:
        query = select(E).where(E.action.in_([Action.SEARCH.value, Action.REVIEW.value]), E.outcome == ledger.DONE)
        visible = ledger_clause(actor)  # a supervisor's scan reads only their department's entries
        if visible is not None:
            query = query.where(visible)
        if window["since"]:
            query = query.where(E.at >= window["since"])
        if window["until"]:
            query = query.where(E.at < window["until"])
        searches, reviews = read_entries(session.scalars(query.order_by(E.seq)))
        findings = detect(searches, reviews, _roster(session), limits)
        findings += _new_accounts(session, window, days)
        scan = events.AnomalyScan(
            since=window["since"],
            until=window["until"],
            searches=len(searches),
            limits={
                "caseload_ratio": caseload_ratio,
                "burst_per_hour": burst_per_hour,
                "hours": list(hours),
                "new_account_days": days,
            },
            findings=tuple(events.ScanFinding(kind=f.kind.value, ledger_seqs=f.ledger_seqs) for f in findings),
        )
        append(session, actor, scan)
        return findings

    return governed(deployment, actor, Action.VIEW_LEDGER, no_context(deployment), work, details=window)


def _new_accounts(session: Session, window: Mapping[str, str | None], days: int) -> list[Finding]:
    entries = anomaly_accounts.read_casework(session, window["since"], window["until"])
    found = anomaly_accounts.new_accounts_in_one_case(entries, anomaly_accounts.read_made(session), days)
    return [
        Finding.citing(
            FindingKind.NEW_ACCOUNTS_CASEWORK,
            actors,
            summary,
            (ActEntry(e.seq, e.at, e.actor_id, e.actor, e.case_id, action=e.action) for e in cited),
        )
        for actors, summary, cited in found
    ]


def record_violation(deployment: Deployment, actor: ActorView, finding: Finding, note: str = "") -> int:
    """Record a finding as a violation (auditors, admins); the same finding twice is a Conflict."""
    seqs = sorted(set(finding.ledger_seqs))
    details = {"kind": finding.kind.value, "summary": finding.summary, "ledger_seqs": seqs, "actor": finding.actor}

    def work(session: Session, _: Context) -> int:
        cited = set(session.scalars(select(ledger.LedgerEntry.seq).where(ledger.LedgerEntry.seq.in_(seqs))))
        if not seqs or cited != set(seqs):
            missing = sorted(set(seqs) - cited) or "none cited"
            raise InvalidInput(f"a violation must cite ledger entries that exist (missing: {missing})")
        for earlier in session.scalars(select(Violation).where(Violation.kind == finding.kind.value)):
            if sorted(earlier.ledger_seqs) == seqs:
                raise Conflict(f"this finding is already recorded as violation {earlier.id}")
        row = Violation(
            kind=finding.kind.value,
            summary=finding.summary,
            ledger_seqs=seqs,
            actor=finding.actor[:100],
            recorded_by=actor.id,
            note=note.strip(),
        )
        session.add(row)
        session.flush()
        recorded = events.ViolationRecord(
            violation=row.id,
            kind=finding.kind.value,
            summary=finding.summary,
            ledger_seqs=tuple(seqs),
            actor=finding.actor,
            note=note,
        )
        append(session, actor, recorded)
        return row.id

    return governed(deployment, actor, Action.SIGN_LEDGER, no_context(deployment), work, details=details)


def list_violations(deployment: Deployment, actor: ActorView) -> list[dict[str, Any]]:
    """Recorded violations, oldest first (auditors, admins; a supervisor those of their department)."""

    def work(session: Session, _: Context) -> list[dict[str, Any]]:
        rows = visible_violations(session, actor)  # a supervisor: those citing only their department's entries
        recorders = select(User.id, User.username).where(User.id.in_({v.recorded_by for v in rows}))
        names: dict[int, str] = {user_id: name for user_id, name in session.execute(recorders)}
        return [
            {
                "id": v.id,
                "kind": v.kind,
                "summary": v.summary,
                "ledger_seqs": list(v.ledger_seqs),
                "actor": v.actor,
                "recorded_by": names.get(v.recorded_by, "?"),
                "recorded_at": v.recorded_at.isoformat(),
                "note": v.note,
            }
            for v in rows
        ]

    return governed(deployment, actor, Action.VIEW_LEDGER, no_context(deployment), work)
