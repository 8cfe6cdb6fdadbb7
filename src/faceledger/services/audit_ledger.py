"""The ledger as the auditor sees it: verify the chain (and the signed checkpoints), browse entries, sign.
Verification covers the whole chain for everyone; the entries shown are scoped to what the reader may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from faceledger.errors import KeyProblem, LedgerTampered
from faceledger.policy.governance import Action, ActorView, Context
from faceledger.services.deployment import Deployment
from faceledger.services.guard import append, governed, no_context
from faceledger.services.ledger_key import read_key, sign_head, verification_checks
from faceledger.services.scope import ledger_clause
from faceledger.store import checkpoints, ledger

Verification = ledger.Verification
VerifyStatus = ledger.VerifyStatus


def verify(deployment: Deployment, actor: ActorView) -> ledger.Verification:
    """VERIFIED, TAMPERED or UNVERIFIABLE (a missing or unusable key or anchor, an unsigned tail)."""
    checks = verification_checks(deployment)

    found: list[ledger.Verification] = []

    def work(session: Session, _: Context) -> ledger.Verification:
        found.append(checkpoints.verify(session, checks))
        append(session, actor, "ledger_verify", details=found[0].to_dict())
        return found[0]

    try:
        return governed(deployment, actor, Action.VIEW_LEDGER, no_context, work)
    except (LedgerTampered, KeyProblem):  # raised after the verification committed: its result says why
        if found and not found[0].ok:
            return found[0]
        raise


def show(deployment: Deployment, actor: ActorView, **filters: Any) -> list[dict[str, Any]]:
    """Entries in order; a supervisor sees only their own department's (scope.py), an auditor all. A
    tampered ledger stays readable (it is what the auditor has to investigate)."""
    found: list[list[dict[str, Any]]] = []

    def work(session: Session, _: Context) -> list[dict[str, Any]]:
        visible = ledger_clause(actor)
        found.append([entry.to_dict() for entry in ledger.entries(session, **filters, visible=visible)])
        return found[0]

    try:
        return governed(deployment, actor, Action.VIEW_LEDGER, no_context, work)
    except (LedgerTampered, KeyProblem):
        if found:
            return found[0]
        raise


def sign(deployment: Deployment, actor: ActorView) -> int:
    """A signed checkpoint of the current head, on request: the entry it covers. KeyProblem without a key,
    LedgerTampered (nothing signed) when the head does not verify from the previous checkpoint."""

    if read_key(deployment) is None:
        sign_head(deployment)  # raises KeyProblem, naming the missing key, before anything is ledgered

    def work(session: Session, _: Context) -> None:
        append(session, actor, "ledger_checkpoint")

    governed(deployment, actor, Action.SIGN_LEDGER, no_context, work)
    return sign_head(deployment)
