"""The ledger's checkpoints and proofs for outsiders. The latest checkpoint and consistency proofs between
signed checkpoints are public, as a transparency log's are (they disclose only what the published
checkpoints say): a witness needs no account. Inclusion proofs name an entry, so they follow the ledger's
own rule and scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from faceledger.api.deps import PUBLIC, CurrentActor, DeploymentDep, rule
from faceledger.api.responses import ConsistencyProof, InclusionProof
from faceledger.policy.governance import Action
from faceledger.services.oversight import audit_ledger, transparency

router = APIRouter(prefix="/api/v1/ledger")
MAX_SEQ = 2**31 - 1  # entry numbers and tree sizes are 32-bit columns (a larger one is a 422, not a query)
Size = Annotated[int, Query(ge=0, le=MAX_SEQ)]


@router.get("/checkpoints/latest", tags=["ledger"], response_class=PlainTextResponse, **rule(PUBLIC))
def latest_checkpoint(deployment: DeploymentDep) -> str:
    """The newest signed checkpoint (C2SP checkpoint: origin, size, root hash, time, signatures)."""
    return transparency.latest_checkpoint(deployment)


@router.get("/public-key", tags=["ledger"], response_class=PlainTextResponse, **rule(PUBLIC))
def public_key(deployment: DeploymentDep) -> str:
    """The key the checkpoints are signed with (C2SP vkey). Pin the council's published copy, not this one."""
    return transparency.public_key(deployment).text() + "\n"


@router.get("/proofs/consistency", tags=["ledger"], **rule(PUBLIC))
def consistency(deployment: DeploymentDep, old: Size, new: Size) -> ConsistencyProof:
    """RFC 9162 proof that the signed tree of `new` entries extends the signed one of `old` entries."""
    return ConsistencyProof.model_validate(transparency.published_consistency_proof(deployment, old, new))


@router.get("/proofs/inclusion", tags=["ledger"], **rule(Action.VIEW_LEDGER))
def inclusion(
    actor: CurrentActor,
    deployment: DeploymentDep,
    seq: Annotated[int, Query(ge=1, le=MAX_SEQ)],
    checkpoint: Annotated[str, Query(min_length=1, max_length=4096, description="A checkpoint this log signed.")],
) -> InclusionProof:
    """RFC 9162 audit path of entry `seq` in the tree the given checkpoint signed."""
    return InclusionProof.model_validate(audit_ledger.prove_inclusion(deployment, actor, seq, checkpoint))
