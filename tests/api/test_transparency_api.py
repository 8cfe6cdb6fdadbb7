"""The ledger's checkpoints and proofs over HTTP: the latest checkpoint, the public key and consistency
proofs are public (a witness needs no account); an inclusion proof follows the ledger's rule. A witness
on its own follows a live server with `--url` and refuses it once the ledger is rewritten and re-signed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text

from faceledger.api.app import create_app
from faceledger.services.oversight import transparency
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from faceledger.store.db import transaction
from faceledger.store.events import EventName
from faceledger.transparency.verify import Checkpoint, check_consistency_proof, check_inclusion_proof
from faceledger.transparency.witness import WitnessRefused, WitnessState, check, from_url
from tests.api.conftest import Api
from tests.databases import SQLITE_ONLY
from tests.office import make_office


def test_public_checkpoint_and_consistency_proof(api: Api) -> None:
    deployment = api.office.deployment
    assert api.client.get("/api/v1/ledger/checkpoints/latest").status_code == 404  # nothing signed yet
    old = transparency.issue_checkpoint(deployment).checkpoint
    api.office.open_case("C-9")  # more entries
    new = transparency.issue_checkpoint(deployment).checkpoint
    latest = api.client.get("/api/v1/ledger/checkpoints/latest")  # no credentials at all
    assert latest.status_code == 200 and latest.headers["content-type"].startswith("text/plain")
    published = Checkpoint.parse(latest.text)
    assert published == new
    key = api.client.get("/api/v1/ledger/public-key").text
    published.require_signature(type(transparency.public_key(deployment)).parse(key))
    proof = api.client.get("/api/v1/ledger/proofs/consistency", params={"old": old.size, "new": new.size})
    assert proof.status_code == 200, proof.text
    check_consistency_proof(proof.json(), old, new)
    for old_size, new_size in ((1, new.size), (old.size, new.size + 1), (old.size, 2**31 - 1)):
        unsigned = api.client.get("/api/v1/ledger/proofs/consistency", params={"old": old_size, "new": new_size})
        assert unsigned.status_code == 404 and "was signed" in unsigned.text, unsigned.text  # no live size, no oracle
        assert str(deployment_size(api)) not in unsigned.json()["error"]["message"]
    beyond = api.client.get("/api/v1/ledger/proofs/consistency", params={"old": old.size, "new": 10**12})
    assert beyond.status_code == 422, beyond.text


def deployment_size(api: Api) -> int:
    with api.office.deployment.sessions() as session:
        head = session.get(ledger.LedgerHead, 1)
        return head.seq if head else 0


def test_an_inclusion_proof_needs_the_ledger_rule(api: Api) -> None:
    deployment = api.office.deployment
    signed = transparency.issue_checkpoint(deployment).checkpoint
    params = {"seq": 2, "checkpoint": signed.text()}
    assert api.client.get("/api/v1/ledger/proofs/inclusion", params=params).status_code == 401
    assert (
        api.client.get("/api/v1/ledger/proofs/inclusion", params=params, headers=api.headers("analyst")).status_code
        == 403
    )
    answered = api.client.get("/api/v1/ledger/proofs/inclusion", params=params, headers=api.headers("auditor"))
    assert answered.status_code == 200, answered.text
    with deployment.sessions() as session:
        entry = session.get(ledger.LedgerEntry, 2)
        assert entry is not None
        check_inclusion_proof(answered.json(), signed, entry.hash)
    forged = signed.text().replace(f"\n{signed.size}\n", f"\n{signed.size - 1}\n")
    refused = api.client.get(
        "/api/v1/ledger/proofs/inclusion", params={"seq": 2, "checkpoint": forged}, headers=api.headers("auditor")
    )
    assert refused.status_code == 422 and "does not verify" in refused.text


@pytest.fixture
def live(api: Api) -> Iterator[str]:
    app = create_app(api.office.deployment.settings, api.office.deployment.data_dir)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    running = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    running.should_exit = True
    thread.join(10)


@SQLITE_ONLY
def test_a_witness_follows_the_server_by_url(api: Api, live: str, tmp_path: Path) -> None:
    deployment = api.office.deployment
    state, key = WitnessState(tmp_path / "w"), transparency.public_key(deployment)
    transparency.issue_checkpoint(deployment)
    assert from_url(state, key, live, "council.example/w1").previous_size is None
    api.office.open_case("C-7")
    grown = transparency.issue_checkpoint(deployment).checkpoint
    accepted = from_url(state, key, live)
    assert accepted.checkpoint.size == grown.size and accepted.previous_size is not None
    with transaction(deployment.sessions) as session:  # the operator rewrites history and signs it again
        for table in ("ledger_entries", "ledger_tree_nodes", "ledger_head", "ledger_signed_checkpoints"):
            session.execute(text(f"DELETE FROM {table}"))
        for i in range(grown.size + 2):
            ledger.write_entry(session, ledger.SYSTEM, EventName.SEARCH, details={"rewritten": i})
    transparency.issue_checkpoint(deployment)
    with pytest.raises(
        WitnessRefused,
        match=f"no consistency proof from the {grown.size} entries accepted before to its {grown.size + 2}",
    ):
        from_url(state, key, live)
    with pytest.raises(
        WitnessRefused,
        match=f"fork: the checkpoint of {grown.size + 2} entries does not extend the one of {grown.size}",
    ):
        check(
            state,
            key,
            Checkpoint.parse(transparency.latest_checkpoint(deployment)),
            transparency.consistency_proof(deployment, grown.size, grown.size + 2),
        )


def test_the_server_signs_for_witnesses_as_it_signs_its_own_checkpoints(
    make_deployment: Callable[..., Deployment],
) -> None:
    """Every `ledger_checkpoint_every` entries the server's HMAC checkpoint comes with an Ed25519 one, so a
    witness polling /checkpoints/latest sees the ledger grow without anyone running `ledger checkpoint`."""
    office = make_office(make_deployment(ledger_checkpoint_every=5))
    deployment = office.deployment
    for n in range(4):
        office.open_case(f"C-{10 + n}")
    first = Checkpoint.parse(transparency.latest_checkpoint(deployment))
    for n in range(6):
        office.open_case(f"C-{20 + n}")
    later = Checkpoint.parse(transparency.latest_checkpoint(deployment))
    assert later.size >= first.size + 5
    check_consistency_proof(transparency.consistency_proof(deployment, first.size, later.size), first, later)
