"""The ledger as the auditor sees it: verify the chain (and the signed checkpoints), browse entries, sign.
Verification covers the whole chain for everyone; the entries shown are scoped to what the reader may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from faceledger.errors import KeyProblem, LedgerTampered, NotFound
from faceledger.policy.governance import Action, ActorView, Context
from faceledger.services.governance.guard import append, governed, no_context
from faceledger.services.governance.ledger_key import read_key, sign_head, verification_checks
from faceledger.services.governance.scope import ledger_clause, visible_seqs
from faceledger.services.oversight import transparency
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import checkpoints, events, ledger
from faceledger.transparency.verify import VerifierKey

Verification = ledger.Verification
VerifyStatus = ledger.VerifyStatus


def verify(deployment: Deployment, actor: ActorView) -> ledger.Verification:
    """VERIFIED, TAMPERED or UNVERIFIABLE (a missing or unusable key or anchor, an unsigned tail)."""
    checks = verification_checks(deployment)
    try:
        key: VerifierKey | None = transparency.public_key(deployment)
    except KeyProblem:  # the roots are still checked against the entries; a witness checks the signatures
        key = None

    found: list[ledger.Verification] = []

    def work(session: Session, _: Context) -> ledger.Verification:
        chain = checkpoints.verify(session, checks)
        tree = [] if chain.status is VerifyStatus.TAMPERED else transparency.tree_problems(session, key)
        found.append(
            ledger.Verification(VerifyStatus.TAMPERED, chain.entries, chain.checkpoints, None, tree[0])
            if tree
            else chain
        )
        result = found[0]
        append(
            session,
            actor,
            events.LedgerVerify(
                status=result.status.value,
                ok=result.ok,
                entries=result.entries,
                checkpoints=result.checkpoints,
                first_bad_seq=result.first_bad_seq,
                problem=result.problem,
            ),
        )
        return found[0]

    try:
        result = governed(deployment, actor, Action.VIEW_LEDGER, no_context(deployment), work)
    except (LedgerTampered, KeyProblem):  # raised after the verification committed: its result says why
        if found and not found[0].ok:
            return found[0]
        raise
    return result


def show(deployment: Deployment, actor: ActorView, **filters: Any) -> list[dict[str, Any]]:
    """Entries in order; a supervisor sees only their own department's (scope.py), an auditor all. A
    tampered ledger stays readable (it is what the auditor has to investigate)."""
    found: list[list[dict[str, Any]]] = []

    def work(session: Session, _: Context) -> list[dict[str, Any]]:
        visible = ledger_clause(actor)
        found.append([entry.to_dict() for entry in ledger.entries(session, **filters, visible=visible)])
        return found[0]

    try:
        return governed(deployment, actor, Action.VIEW_LEDGER, no_context(deployment), work)
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
        append(session, actor, events.LedgerCheckpoint())

    governed(deployment, actor, Action.SIGN_LEDGER, no_context(deployment), work)
    return sign_head(deployment)


def signed_checkpoint(deployment: Deployment, actor: ActorView) -> transparency.Issued:
    """An Ed25519 checkpoint of the Merkle tree, covering the entry that records the request for it."""

    def work(session: Session, _: Context) -> None:
        append(session, actor, events.LedgerCheckpoint())

    governed(deployment, actor, Action.SIGN_LEDGER, no_context(deployment), work)
    return transparency.issue_checkpoint(deployment)


def prove_inclusion(deployment: Deployment, actor: ActorView, seq: int, checkpoint_text: str) -> dict[str, Any]:
    """The proof that entry `seq` is in the tree a checkpoint signed, for a reader who may see that entry
    (an entry of another department is as absent as one that does not exist)."""
    checkpoint = transparency.read_own_checkpoint(deployment, checkpoint_text)

    def work(session: Session, _: Context) -> None:
        if seq not in visible_seqs(session, actor, [seq]):
            raise NotFound(f"no ledger entry {seq}")

    governed(deployment, actor, Action.VIEW_LEDGER, no_context(deployment), work)
    return {**transparency.inclusion_proof(deployment, seq, checkpoint.size), "checkpoint": checkpoint.text()}


def prove_consistency(deployment: Deployment, actor: ActorView, old_text: str, new_text: str) -> dict[str, Any]:
    """The proof that the newer of two checkpoints this log signed extends the older."""
    old = transparency.read_own_checkpoint(deployment, old_text)
    new = transparency.read_own_checkpoint(deployment, new_text)
    if old.size > new.size:
        old, new = new, old
    governed(deployment, actor, Action.VIEW_LEDGER, no_context(deployment), lambda _s, _c: None)
    return transparency.consistency_proof(deployment, old.size, new.size)


def keep_cosignatures(deployment: Deployment, actor: ActorView, text: str) -> list[str]:
    """Store witnesses' cosignatures on one of this log's checkpoints (ledgered); the witness names added."""

    def work(session: Session, _: Context) -> list[str]:
        merged, added = transparency.add_cosignatures(session, deployment, text)
        append(session, actor, events.LedgerCosigned(size=merged.size, witnesses=tuple(added)))
        return added

    return governed(deployment, actor, Action.SIGN_LEDGER, no_context(deployment), work)
