"""The attack that an HMAC checkpoint cannot stop: an operator with write access to the database AND the
signing key rewrites the whole ledger and signs it again. A witness holding an earlier checkpoint refuses
the new one and names the sizes; truncation and reordering are caught the same way. On SQLite and
PostgreSQL, through the functions and through `faceledger witness check` (exit code, one line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from faceledger.services.oversight import transparency
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from faceledger.store.db import transaction
from faceledger.store.events import EventName
from faceledger.transparency.verify import Checkpoint, VerificationFailed, sign_checkpoint
from faceledger.transparency.witness import WitnessRefused, WitnessState, check

MakeDeployment = Callable[..., Deployment]


def write(deployment: Deployment, details: list[dict[str, object]]) -> None:
    with transaction(deployment.sessions) as session:
        for d in details:
            ledger.write_entry(session, ledger.SYSTEM, EventName.SEARCH, details=d)


def rewrite_everything(deployment: Deployment, details: list[dict[str, object]]) -> None:
    """What a database administrator can do: empty the ledger, its tree and its checkpoints, and write
    another history from entry 1, every hash and node consistent again."""
    with transaction(deployment.sessions) as session:
        for table in (
            "ledger_entries",
            "ledger_tree_nodes",
            "ledger_head",
            "ledger_signed_checkpoints",
            "ledger_checkpoints",
        ):
            session.execute(text(f"DELETE FROM {table}"))
    write(deployment, details)


def witness_sees(deployment: Deployment, state: WitnessState, accepted: Checkpoint | None) -> Checkpoint:
    """The log's next checkpoint, with the proof from what the witness holds, as the witness checks it."""
    new = transparency.issue_checkpoint(deployment).checkpoint
    proof = None
    if accepted is not None and new.size >= accepted.size:
        proof = transparency.consistency_proof(deployment, accepted.size, new.size)
    return check(state, transparency.public_key(deployment), new, proof).checkpoint


def test_a_rewritten_and_re_signed_ledger_is_refused(make_deployment: MakeDeployment, tmp_path: Path) -> None:
    deployment = make_deployment()
    state = WitnessState(tmp_path / "witness")
    write(deployment, [{"i": i} for i in range(30)])
    first = witness_sees(deployment, state, None)
    write(deployment, [{"i": i} for i in range(30, 40)])
    second = witness_sees(deployment, state, first)
    assert second.size > first.size and second.cosigned_at(state.key(None)[0]) is not None

    rewritten = [{"i": i} for i in range(60)]
    rewritten[7] = {"i": 7, "note": "this search never happened"}
    rewrite_everything(deployment, rewritten)  # a longer ledger, signed with the same key
    with pytest.raises(
        WitnessRefused,
        match=rf"fork: the checkpoint of 60 entries does not extend the one of "
        rf"{second.size} accepted before",
    ):
        witness_sees(deployment, state, second)
    assert Checkpoint.parse((tmp_path / "witness" / "last-checkpoint.txt").read_text()).root == second.root


def test_truncation_and_reordering_are_refused(make_deployment: MakeDeployment, tmp_path: Path) -> None:
    deployment = make_deployment()
    state = WitnessState(tmp_path / "witness")
    write(deployment, [{"i": i} for i in range(20)])
    held = witness_sees(deployment, state, None)

    rewrite_everything(deployment, [{"i": i} for i in range(held.size - 5)])  # the last five removed
    with pytest.raises(
        WitnessRefused,
        match=rf"rollback: the new checkpoint has {held.size - 5} entries, the one "
        rf"accepted before has {held.size}",
    ):
        witness_sees(deployment, state, held)

    swapped: list[dict[str, object]] = [{"i": i} for i in range(held.size)]
    swapped[3], swapped[4] = swapped[4], swapped[3]  # as many entries, two of them in the other order
    rewrite_everything(deployment, swapped)
    with pytest.raises(WitnessRefused, match=rf"fork: two different trees of {held.size} entries"):
        witness_sees(deployment, state, held)


def test_a_checkpoint_signed_by_another_key_is_refused(make_deployment: MakeDeployment, tmp_path: Path) -> None:
    deployment = make_deployment()
    state = WitnessState(tmp_path / "witness")
    write(deployment, [{"i": 1}])
    held = witness_sees(deployment, state, None)
    office = transparency.public_key(deployment)
    other = Ed25519PrivateKey.generate()  # someone without the office's key, using the office's name
    forged = sign_checkpoint(Checkpoint(held.origin, held.size + 1, bytes(32), held.time), office, other)
    with pytest.raises(WitnessRefused, match="bad signature"):
        check(state, office, forged, None)
    body_changed = Checkpoint(held.origin, held.size + 1, held.root, held.time, held.signatures)
    with pytest.raises(VerificationFailed, match="not signed by"):
        body_changed.require_signature(office)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_command_refuses_with_one_line_and_exit_1(make_deployment: MakeDeployment, tmp_path: Path) -> None:
    """`faceledger witness check` from files, as a witness on another machine runs it: no data directory."""
    deployment = make_deployment()
    write(deployment, [{"i": i} for i in range(12)])
    key_file, old, new, proof = (tmp_path / n for n in ("log.pub", "old.txt", "new.txt", "proof.json"))
    key_file.write_text(transparency.public_key(deployment).text() + "\n")
    held = transparency.issue_checkpoint(deployment).checkpoint
    old.write_text(held.text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACELEDGER_")}

    def witness(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "faceledger",
                "witness",
                "check",
                "--state",
                str(tmp_path / "w"),
                "--public-key",
                str(key_file),
                *args,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    first = witness("--checkpoint", str(old), "--name", "council.example/w1")
    assert first.returncode == 0, first.stderr
    assert "— council.example/w1 " in first.stdout and "first checkpoint seen" in first.stderr
    rewrite_everything(deployment, [{"i": -i} for i in range(held.size + 3)])
    forged = transparency.issue_checkpoint(deployment).checkpoint
    new.write_text(forged.text())
    proof.write_text(json.dumps(transparency.consistency_proof(deployment, held.size, forged.size)))
    refused = witness("--checkpoint", str(new), "--proof", str(proof))
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "refused: fork" in refused.stderr, refused.stderr
    assert f"of {forged.size} entries does not extend the one of {held.size}" in refused.stderr


def test_the_log_keeps_the_witnesses_cosignatures(make_deployment: MakeDeployment, tmp_path: Path) -> None:
    from faceledger.errors import InvalidInput
    from faceledger.services.oversight import audit_ledger
    from tests.office import make_office

    office = make_office(make_deployment())
    deployment = office.deployment
    state = WitnessState(tmp_path / "witness")
    cosigned = witness_sees(deployment, state, None)
    assert audit_ledger.keep_cosignatures(deployment, office.auditor, cosigned.text()) == [state.key(None)[0].name]
    served = Checkpoint.parse(transparency.latest_checkpoint(deployment))
    assert served.cosigned_at(state.key(None)[0]) is not None and served.signed_by(transparency.public_key(deployment))
    assert audit_ledger.keep_cosignatures(deployment, office.auditor, cosigned.text()) == []  # already kept
    other = Checkpoint(cosigned.origin, cosigned.size, bytes(32), cosigned.time, cosigned.signatures)
    with pytest.raises(InvalidInput, match="does not verify"):
        audit_ledger.keep_cosignatures(deployment, office.auditor, other.text())
    assert office.entries(action="ledger_cosigned"), "keeping them is ledgered"
