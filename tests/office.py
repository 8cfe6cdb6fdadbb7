"""A small office for governance tests: one deployment, one user per role, a grant and an open case.

Users are made as a real deployment makes them: the first admin bootstraps the second, then one admin
asks for each user, the other approves, and the user enrols with the code from their outbox file (so no
admin ever holds another person's token). The council grants the authorisation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from faceledger.policy.governance import ActorView
from faceledger.services.casework import cases
from faceledger.services.governance import authority
from faceledger.services.people import account_requests, accounts
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger

DEPARTMENT = "Office of Police Conduct Review"
PURPOSE = "misconduct-complaint"
ATTESTATION = "complainant's photo of the officer named in complaint C-1"


@dataclass
class Office:
    deployment: Deployment
    admin: ActorView
    tokens: dict[str, str] = field(default_factory=dict)
    people: dict[str, ActorView] = field(default_factory=dict)

    def __getattr__(self, name: str) -> ActorView:
        try:
            person: ActorView = self.__dict__["people"][name]
        except KeyError as exc:
            raise AttributeError(name) from exc
        return person

    def today(self) -> date:
        """The deployment's today: grants and certifications are dated by its clock."""
        return self.deployment.clock.today()

    def add(self, username: str, *roles: str, department: str = DEPARTMENT, certified: bool = True) -> ActorView:
        until = self.today() + timedelta(days=365) if certified else None
        asked = account_requests.request_user(
            self.deployment, self.admin, username, roles=list(roles), department=department, certified_until=until
        )
        if asked.status != "approved":
            account_requests.approve(self.deployment, self.people["admin2"], asked.id)
        return self.enrol(username)

    def enrol(self, username: str, password: str | None = None) -> ActorView:
        """Redeem the code in the user's outbox file, as the user would."""
        issued = account_requests.enrol(self.deployment, username, outbox_code(self.deployment, username), password)
        self.tokens[username] = issued.token
        self.people[username] = accounts.authenticate_token(self.deployment, issued.token)
        return self.people[username]

    def set_password(self, username: str, password: str) -> None:
        """The user sets their own password (nobody sets another's)."""
        accounts.set_password(self.deployment, self.people[username], username, password)

    def grant(
        self,
        *,
        purposes: tuple[str, ...] = (PURPOSE,),
        starts: date | None = None,
        ends: date | None = None,
        max_candidates: int = 5,
    ) -> None:
        authority.grant(
            self.deployment,
            self.council,
            reference="Council resolution 2026-14",
            purposes=list(purposes),
            offence_types=[],
            starts_on=starts or self.today() - timedelta(days=1),
            ends_on=ends or self.today() + timedelta(days=180),
            max_candidates=max_candidates,
        )

    def open_case(self, number: str = "C-1", *assignees: str) -> None:
        cases.open_case(self.deployment, self.supervisor, number, purpose=PURPOSE, offence_type="assault")
        cases.assign(self.deployment, self.supervisor, number, list(assignees or ("analyst", "reviewer1", "reviewer2")))

    def entries(self, **filters: object) -> list[ledger.LedgerEntry]:
        with self.deployment.sessions() as session:
            return ledger.entries(session, limit=100_000, **filters)  # type: ignore[arg-type]


def outbox_code(deployment: Deployment, username: str) -> str:
    text = (account_requests.outbox_dir(deployment) / f"{username}.txt").read_text()
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("code:"))


def make_office(deployment: Deployment, *, grant: bool = True, case: bool = True) -> Office:
    """Two admins, a council member, curator, supervisor, analyst, two reviewers, an auditor; a grant and
    case C-1 if asked."""
    admin_token = accounts.bootstrap_admin(deployment, "admin", DEPARTMENT)
    office = Office(deployment, accounts.authenticate_token(deployment, admin_token.token))
    office.tokens["admin"] = admin_token.token
    office.people["admin"] = office.admin
    office.add("admin2", "admin")  # the bootstrap: the only admin adds the second alone
    for username, role in (
        ("council", "council"),
        ("curator", "curator"),
        ("supervisor", "supervisor"),
        ("analyst", "analyst"),
        ("reviewer1", "reviewer"),
        ("reviewer2", "reviewer"),
        ("auditor", "auditor"),
    ):
        office.add(username, role)
    if grant:
        office.grant()
        if case:
            office.open_case()
    return office
