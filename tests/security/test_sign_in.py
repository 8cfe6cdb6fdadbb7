"""H6: sign-in is throttled per account and per source with a lockout; an unknown user name costs the same
time as a known one; failures are ledgered without the typed text, aggregated so a flood stays small."""

from __future__ import annotations

import inspect
import statistics
import time
from collections.abc import Callable

import pytest

from faceledger.errors import NotAuthenticated
from faceledger.services.people import accounts
from faceledger.services.people.web_sessions import OpenSession, sign_in
from faceledger.services.runtime.deployment import Deployment
from tests.office import Office, make_office

PASSWORD = "correct horse battery staple"


pytestmark = pytest.mark.both_databases


def attempt(office: Office, username: str, password: str, source: str = "203.0.113.9") -> OpenSession:
    """sign_in as the web layer calls it (with the client address where the code takes one)."""
    if "source" in inspect.signature(sign_in).parameters:
        return sign_in(office.deployment, username, password, source)
    return sign_in(office.deployment, username, password)  # the old code: no address to throttle by


def with_password(office: Office, username: str) -> None:
    if hasattr(office, "set_password"):
        office.set_password(username, PASSWORD)
    else:  # the old code: an admin sets it
        accounts.set_password(office.deployment, office.admin, username, PASSWORD)


@pytest.fixture
def office(make_deployment: Callable[..., Deployment]) -> Office:
    return make_office(make_deployment(), grant=False)


def test_account_is_locked_after_repeated_failures_even_for_the_right_password(office: Office) -> None:
    with_password(office, "supervisor")
    for _ in range(office.deployment.settings.model_dump().get("sign_in_max_failures", 5)):
        with pytest.raises(NotAuthenticated):
            attempt(office, "supervisor", "wrong guess 1234")
    with pytest.raises(NotAuthenticated, match=r"too many failed sign-ins; try again in \d+ minutes"):
        attempt(office, "supervisor", PASSWORD)
    assert office.entries(action="sign_in_lockout")


def test_one_source_guessing_many_accounts_is_locked_out(make_deployment: Callable[..., Deployment]) -> None:
    office = make_office(make_deployment(sign_in_max_failures_per_source=6), grant=False)
    with_password(office, "auditor")
    for name in ("analyst", "curator", "reviewer1", "reviewer2", "supervisor", "admin"):
        with pytest.raises(NotAuthenticated):
            attempt(office, name, "wrong guess 1234", source="198.51.100.7")
    with pytest.raises(NotAuthenticated, match="too many failed sign-ins"):
        attempt(office, "auditor", PASSWORD, source="198.51.100.7")
    assert attempt(office, "auditor", PASSWORD, source="192.0.2.1").actor.name == "auditor"  # another address


def test_unknown_and_known_user_names_take_the_same_time(office: Office) -> None:
    with_password(office, "reviewer1")

    def median_ms(username: str) -> float:
        times = []
        for i in range(4):  # under the lockout limit; a new address each time
            start = time.perf_counter()
            with pytest.raises(NotAuthenticated):
                attempt(office, username, "wrong guess 1234", source=f"192.0.2.{10 + i}")
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    known, unknown = median_ms("reviewer1"), median_ms("nobody-here")
    assert unknown > known / 3, f"known user {known:.0f} ms, unknown {unknown:.0f} ms: user names leak by timing"


def test_failures_are_ledgered_without_the_typed_text_and_aggregated(office: Office) -> None:
    typed = "hunter2-typed-into-the-username-box"
    before = len(office.entries())
    for i in range(60):
        with pytest.raises(NotAuthenticated):
            attempt(office, f"{typed}-{i}", "wrong guess 1234")
    added = office.entries()[before:]
    assert typed not in " ".join(e.details + " ".join(e.reasons) for e in added)
    assert len(added) <= 5, f"60 failed sign-ins wrote {len(added)} ledger entries"
    assert any("unknown user" in e.details for e in added)
