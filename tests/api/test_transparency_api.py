"""The ledger's checkpoints and proofs over HTTP: the latest checkpoint, the public key and consistency
proofs are public (a witness needs no account); an inclusion proof follows the ledger's rule. A witness
on its own follows a live server with `--url` and refuses it once the ledger is rewritten and re-signed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text

from faceledger.api.app import create_app
from faceledger.services import transparency
from faceledger.store import ledger
from faceledger.store.db import transaction
from faceledger.transparency.verify import Checkpoint, check_consistency_proof, check_inclusion_proof
from faceledger.transparency.witness import WitnessRefused, WitnessState, from_url
from tests.api.conftest import Api
from tests.databases import SQLITE_ONLY


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
    beyond = api.client.get("/api/v1/ledger/proofs/consistency", params={"old": 1, "new": new.size + 1})
    assert beyond.status_code == 422 and "no tree of size" in beyond.text


def test_an_inclusion_proof_needs_the_ledger_rule(api: Api) -> None:
    deployment = api.office.deployment
    signed = transparency.issue_checkpoint(deployment).checkpoint
    params = {"seq": 2, "checkpoint": signed.text()}
    assert api.client.get("/api/v1/ledger/proofs/inclusion", params=params).status_code == 401
    assert api.client.get("/api/v1/ledger/proofs/inclusion", params=params,
                          headers=api.headers("analyst")).status_code == 403  # fmt: skip
    answered = api.client.get("/api/v1/ledger/proofs/inclusion", params=params, headers=api.headers("auditor"))
    assert answered.status_code == 200, answered.text
    with deployment.sessions() as session:
        entry = session.get(ledger.LedgerEntry, 2)
        assert entry is not None
        check_inclusion_proof(answered.json(), signed, entry.hash)
    forged = signed.text().replace(f"\n{signed.size}\n", f"\n{signed.size - 1}\n")
    refused = api.client.get("/api/v1/ledger/proofs/inclusion", params={"seq": 2, "checkpoint": forged},
                             headers=api.headers("auditor"))  # fmt: skip
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
            ledger.append(session, ledger.SYSTEM, "search", details={"rewritten": i})
    transparency.issue_checkpoint(deployment)
    with pytest.raises(WitnessRefused, match=f"fork: the checkpoint of {grown.size + 2} entries does not extend "
                                             f"the one of {grown.size}"):  # fmt: skip
        from_url(state, key, live)
