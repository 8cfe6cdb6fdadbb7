"""Upgrading a ledger whose checkpoints predate numbering (migration 0006): the old checkpoints stay, marked
legacy, and verify the old way; the server's next checkpoint is number 1 and chains to the newest legacy
MAC, so deleting that one is noticed; a forged legacy checkpoint is still caught. Migration 0016 then
builds the Merkle tree over the entries already there without changing one of them."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from sqlalchemy import text

from faceledger.services.governance.ledger_key import checkpoint_if_due, verification_checks
from faceledger.services.oversight import transparency
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import checkpoints, ledger, merkle
from faceledger.store.db import transaction
from faceledger.store.events import EventName
from faceledger.store.migrate import alembic_config, current_revision, head_revision, upgrade

MakeDeployment = Callable[..., Deployment]
EVERY = 5


def fill(deployment: Deployment, count: int) -> None:
    with transaction(deployment.sessions) as session:
        for i in range(count):
            ledger.write_entry(session, ledger.SYSTEM, EventName.SEARCH, details={"i": i})


def fill_as_0005(deployment: Deployment, count: int) -> None:
    """Entries written the way 0005's schema held them: the row and the head, no Merkle tree yet."""
    with deployment.engine.begin() as connection:
        seq, prev = connection.execute(text("SELECT seq, hash FROM ledger_head WHERE id = 1")).one()
        for i in range(count):
            fields = {
                "seq": seq + 1,
                "at": f"2026-11-01T00:00:{i:02d}.000000+00:00",
                "actor_id": None,
                "actor": "system",
                "action": "search",
                "case_id": None,
                "outcome": "done",
                "subjects": "{}",
                "details": ledger.canonical({"i": i}),
                "reasons": "[]",
                "prev_hash": prev,
            }
            digest = ledger.entry_hash(fields)
            connection.execute(
                text(
                    "INSERT INTO ledger_entries (seq, at, actor_id, actor, action, case_id, outcome, "
                    "subjects, details, reasons, prev_hash, hash) VALUES (:seq, :at, :actor_id, "
                    ":actor, :action, :case_id, :outcome, :subjects, :details, :reasons, :prev_hash, "
                    ":hash)"
                ),
                {**fields, "hash": digest},
            )
            seq, prev = seq + 1, digest
        connection.execute(text("UPDATE ledger_head SET seq = :s, hash = :h WHERE id = 1"), {"s": seq, "h": prev})


def legacy_deployment(make_deployment: MakeDeployment) -> Deployment:
    """A deployment as 0005 left it: 12 entries, checkpoints at entries 5 and 10 signed the old way."""
    deployment = make_deployment(ledger_checkpoint_every=EVERY)
    config = alembic_config()
    with deployment.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    fill_as_0005(deployment, 12)
    key = deployment.keys.ledger_key()
    assert key is not None
    insert = text("INSERT INTO ledger_checkpoints (seq, entry_hash, at, mac) VALUES (:s, :h, :at, :m)")
    with deployment.engine.begin() as connection:
        for seq in (5, 10):
            digest = connection.execute(text("SELECT hash FROM ledger_entries WHERE seq = :s"), {"s": seq}).scalar_one()
            mac = checkpoints.legacy_mac(key, seq, digest)
            connection.execute(insert, {"s": seq, "h": digest, "at": "2026-11-01T00:00:00+00:00", "m": mac})
    upgrade(deployment.engine)  # 0016 builds the Merkle tree over the entries 0005 left, changing none of them
    assert current_revision(deployment.engine) == head_revision()
    with deployment.sessions() as session:
        head = session.get(ledger.LedgerHead, 1)
        hashes = [e.hash for e in ledger.entries(session, limit=100)]
        assert head is not None and head.seq == len(hashes) >= 12
        rebuilt, size = merkle.rebuild(hashes, lambda _nodes: None)
        assert size == head.seq and merkle.decode_frontier(head.tree, head.seq) == rebuilt
    return deployment


def verify(deployment: Deployment) -> ledger.Verification:
    with deployment.sessions() as session:
        return checkpoints.verify(session, verification_checks(deployment))


def table(deployment: Deployment) -> list[tuple[int | None, int, str, str | None, str]]:
    with deployment.engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(  # type: ignore[misc]
                    "SELECT number, seq, scheme, prev_mac, mac FROM ledger_checkpoints ORDER BY seq"
                )
            ).all()
        ]


def test_legacy_checkpoints_verify_and_the_numbered_chain_follows_them(make_deployment: MakeDeployment) -> None:
    deployment = legacy_deployment(make_deployment)
    legacy = table(deployment)
    assert [(number, seq, scheme) for number, seq, scheme, _, _ in legacy] == [
        (None, 5, "legacy"),
        (None, 10, "legacy"),
    ]
    assert verify(deployment).status is ledger.VerifyStatus.VERIFIED, verify(deployment)

    fill(deployment, 3)
    checkpoint_if_due(deployment)  # the server's next write: 15 - 10 >= 5, so it signs
    after = table(deployment)
    number, seq, scheme, prev_mac, _ = after[-1]
    assert (number, seq, scheme) == (1, 15, "hmac-sha256")
    assert prev_mac == legacy[-1][4], "checkpoint 1 chains to the newest legacy checkpoint"
    result = verify(deployment)
    assert result.status is ledger.VerifyStatus.VERIFIED and result.checkpoints == 3, result
    transparency.issue_checkpoint(deployment)  # the tree built by 0016, extended by the appends since
    assert transparency.verify_tree(deployment) == []


def test_deleting_the_newest_legacy_checkpoint_is_noticed(make_deployment: MakeDeployment) -> None:
    deployment = legacy_deployment(make_deployment)
    fill(deployment, 3)
    checkpoint_if_due(deployment)
    with deployment.engine.begin() as connection:
        connection.execute(text("DELETE FROM ledger_checkpoints WHERE seq = 10"))
    result = verify(deployment)
    assert result.status is ledger.VerifyStatus.TAMPERED and "signed checkpoint 1 does not follow" in result.problem


def test_a_forged_legacy_checkpoint_is_caught(make_deployment: MakeDeployment) -> None:
    deployment = legacy_deployment(make_deployment)
    with deployment.engine.begin() as connection:
        connection.execute(text("UPDATE ledger_checkpoints SET mac = :m WHERE seq = 5"), {"m": "0" * 64})
    result = verify(deployment)
    assert result.status is ledger.VerifyStatus.TAMPERED, result
    assert "signed checkpoint (legacy) at entry 5 has a bad signature" in result.problem
