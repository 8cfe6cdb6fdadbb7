"""The ledger as the auditor sees it: verify the chain (and the signed checkpoints), browse entries, sign.
Verification covers the whole chain for everyone; the entries shown are scoped to what the reader may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from faceledger.policy.governance import Action, ActorView, Context
from faceledger.services.deployment import Deployment
from faceledger.services.guard import append, governed, no_context
from faceledger.services.ledger_key import read_key
from faceledger.services.scope import ledger_clause
from faceledger.store import ledger


def verify(deployment: Deployment, actor: ActorView) -> ledger.Verification:
    def work(session: Session, _: Context) -> ledger.Verification:
        result = ledger.verify(session, read_key(deployment))
        append(session, actor, "ledger_verify", details=result.to_dict())
        return result

    return governed(deployment, actor, Action.VIEW_LEDGER, no_context, work)


def show(deployment: Deployment, actor: ActorView, **filters: Any) -> list[dict[str, Any]]:
    """Entries in order; a supervisor sees only their own department's (scope.py), an auditor all."""

    def work(session: Session, _: Context) -> list[dict[str, Any]]:
        visible = ledger_clause(actor)
        return [entry.to_dict() for entry in ledger.entries(session, **filters, visible=visible)]

    return governed(deployment, actor, Action.VIEW_LEDGER, no_context, work)


def sign(deployment: Deployment, actor: ActorView) -> int | None:
    """A signed checkpoint of the current head, on request."""
    key = read_key(deployment)

    def work(session: Session, _: Context) -> int | None:
        if key is None:
            return None
        append(session, actor, "ledger_checkpoint")
        made = ledger.add_checkpoint(session, key)
        return made.seq if made else None

    return governed(deployment, actor, Action.SIGN_LEDGER, no_context, work)
