"""H3: requests without valid credentials are counted per minute and source, with truncated paths, and
summarised on the ledger per bucket; the ledger stays bounded and every count reaches it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from faceledger.api.deps import SESSION_COOKIE
from faceledger.store import ledger
from tests.api.conftest import Api

LONG = "/api/v1/cases/" + "x" * 60_000  # a real route: the refusal comes before the 404


pytestmark = pytest.mark.both_databases


def _ledger_bytes(api: Api) -> int:
    return sum(len(e.details) + len(e.reasons) + len(e.subjects) for e in api.office.entries())


@pytest.mark.slow
def test_a_thousand_unauthenticated_requests_add_a_bounded_handful_of_entries(api: Api) -> None:
    before, size_before = len(api.office.entries()), _ledger_bytes(api)
    statuses = set()
    for number in range(1000):
        if number % 4 == 0:
            response = api.client.get(LONG)
        elif number % 4 == 1:
            response = api.client.get("/api/v1/cases", headers={"Authorization": "Bearer not-a-token"})
        elif number % 4 == 2:
            api.client.cookies.set(SESSION_COOKIE, "not-a-session")
            response = api.client.get("/api/v1/cases")
            api.client.cookies.clear()
        else:
            response = api.client.post(LONG, json={})
        statuses.add(response.status_code)
    assert statuses == {401}
    added = api.office.entries()[before:]
    grew = _ledger_bytes(api) - size_before
    assert len(added) <= 4, f"{len(added)} ledger entries ({grew:,} bytes) for 1,000 refusals"
    assert grew < 4_000, f"a 60 KB path must not reach the ledger: it grew by {grew:,} bytes"
    from faceledger.services.governance import refusal_counter  # new: the checks above run on old code

    assert len(added) <= 2 * len(refusal_counter.counted(api.office.deployment))
    buckets = refusal_counter.counted(api.office.deployment)
    assert sum(b["count"] for b in buckets) == 1000
    assert all(len(b["first_path"]) <= refusal_counter.PATH_CHARS for b in buckets)
    assert sum(sum(b["reasons"].values()) for b in buckets) == 1000

    # The minute ends: its final count reaches the ledger, once.
    later = datetime.now(UTC) + timedelta(minutes=2)
    still_open = [b for b in buckets if b["closed_seq"] is None]  # a minute may have ended during the test
    assert refusal_counter.flush_closed(api.office.deployment, now=later) == len(still_open) >= 1
    assert all(b["closed_seq"] for b in refusal_counter.counted(api.office.deployment))
    assert refusal_counter.flush_closed(api.office.deployment, now=later) == 0
    finals = [json.loads(e.details) for e in api.office.entries(action=refusal_counter.ACTION)]
    assert sum(d["count"] for d in finals if d["final"]) == 1000
    assert all(e.outcome == ledger.REFUSED for e in api.office.entries(action=refusal_counter.ACTION))


def test_counts_left_open_reach_the_ledger_at_shutdown_and_a_known_users_refusal_is_one_entry(api: Api) -> None:
    from faceledger.services.governance import refusal_counter  # a new module

    for _ in range(5):
        assert api.client.get("/api/v1/cases").status_code == 401
    before = len(api.office.entries(outcome=ledger.REFUSED))
    assert api.client.get("/api/v1/users", headers=api.headers("analyst")).status_code == 403
    refused = api.office.entries(outcome=ledger.REFUSED)
    assert len(refused) == before + 1 and refused[-1].actor == "analyst", "known users keep one entry each"
    api.client.__exit__(None, None, None)  # the server stops: open buckets are closed onto the ledger
    finals = [json.loads(e.details) for e in api.office.entries(action=refusal_counter.ACTION)]
    assert sum(d["count"] for d in finals if d["final"]) == 5
    api.client.__enter__()
