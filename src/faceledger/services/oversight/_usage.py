"""Usage over a period, read from the ledger and the case file: searches by purpose, offence type,
department and user; outcomes; refusals by reason. The numbers behind the weekly usage report and the
accountability report's usage section."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from faceledger.errors import InvalidInput
from faceledger.services.casework.review import lead_state
from faceledger.store import events
from faceledger.store.governance_models import Candidate, Case, Department, Search
from faceledger.store.ledger import LedgerEntry

_LEDGER_REF = re.compile(r"\s*\(ledger entry \d+\)$")


@dataclass
class Usage:
    start: datetime
    end: datetime
    searches: int = 0
    refused: int = 0
    by_purpose: Counter[str] = field(default_factory=Counter)
    by_offence: Counter[str] = field(default_factory=Counter)
    by_department: Counter[str] = field(default_factory=Counter)
    by_user: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    by_day: Counter[str] = field(default_factory=Counter)

    def breakdowns(self) -> dict[str, Counter[str]]:
        return {
            "purpose": self.by_purpose,
            "offence type": self.by_offence,
            "department": self.by_department,
            "user": self.by_user,
            "outcome": self.outcomes,
            "refusal reason": self.refusals,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "searches": self.searches,
            "refused": self.refused,
            **{k: dict(v.most_common()) for k, v in self.breakdowns().items()},
            "by_day": dict(sorted(self.by_day.items())),
        }


def iso_week(text: str) -> tuple[datetime, datetime]:
    """'2026-W48' -> its Monday 00:00 UTC and the next Monday."""
    match = re.fullmatch(r"(\d{4})-W(\d{2})", text.strip())
    if not match:
        raise InvalidInput(f"a week is written YYYY-Www, e.g. 2026-W48; got {text!r}")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise InvalidInput(f"{text} is not a week of that year") from exc
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return start, start + timedelta(days=7)


def usage(session: Session, start: datetime, end: datetime, visible: ColumnElement[bool] | None = None) -> Usage:
    """Searches done or refused in [start, end), as the ledger records them; only `visible` entries (a
    supervisor's department, services/governance/scope.py) when given."""
    found = Usage(start, end)
    searched = LedgerEntry.action == events.EventName.SEARCH
    in_period = (
        searched,
        LedgerEntry.at >= _iso(start),
        LedgerEntry.at < _iso(end),
        *(() if visible is None else (visible,)),
    )
    entries = session.scalars(select(LedgerEntry).where(*in_period).order_by(LedgerEntry.seq)).all()
    cases = {case.id: case for case in session.scalars(select(Case))}
    departments = {d.id: d.name for d in session.scalars(select(Department))}
    for entry in entries:
        case = cases.get(entry.case_id) if entry.case_id is not None else None
        found.by_day[entry.at[:10]] += 1
        record = entry.record()
        if not isinstance(record, events.Search):
            found.refused += 1
            for reason in json.loads(entry.reasons):
                found.refusals[_LEDGER_REF.sub("", reason)] += 1
            continue
        found.searches += 1
        found.by_user[entry.actor] += 1
        if case is not None:
            found.by_purpose[case.purpose] += 1
            found.by_offence[case.offence_type] += 1
            found.by_department[departments.get(case.department_id, "?")] += 1
        found.outcomes[_outcome(session, record.search)] += 1
    return found


def _outcome(session: Session, search_id: int | None) -> str:
    search = session.get(Search, search_id) if search_id is not None else None
    if search is None:
        return "unknown"
    if search.purged_at is not None:
        return "purged under retention"
    candidates = session.scalars(select(Candidate).where(Candidate.search_id == search.id)).all()
    if not candidates:
        return "no candidates"
    states = {lead_state(candidate) for candidate in candidates}
    if states & {"confirmed", "corroborated", "exported"}:
        return "confirmed lead"
    if states == {"rejected"}:
        return "all candidates rejected"
    return "candidates"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
