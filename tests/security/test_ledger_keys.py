"""C1: the ledger key and the anchor live in the keys folder, outside the data directory: a keys folder
inside it is refused, a key or anchor others can read is refused with a clear message (and verification is
then unverifiable, never verified), and the anchor is written 0600 and atomically."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from faceledger.config import Settings
from faceledger.errors import KeyProblem, LedgerTampered, PolicyDenied
from faceledger.services.oversight import audit_ledger
from faceledger.services.runtime.deployment import Deployment, init_deployment
from faceledger.types import IndexBackend
from tests.office import Office, make_office

EVERY = 5
MakeDeployment = Callable[..., Deployment]


@pytest.fixture
def office(make_deployment: MakeDeployment) -> Office:
    return make_office(make_deployment(ledger_checkpoint_every=EVERY))


def refusals(office: Office, count: int) -> None:
    for _ in range(count):
        with pytest.raises(PolicyDenied):
            audit_ledger.show(office.deployment, office.analyst)


def test_keys_folder_inside_the_data_directory_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(KeyProblem, match="inside the data directory"):
        init_deployment(Settings(keys_dir=data / "keys"), data, IndexBackend.EXACT)
    assert not (data / "keys").exists()


def test_key_readable_by_others_is_refused_and_verification_is_unverifiable(office: Office) -> None:
    key = office.deployment.keys.directory / "ledger.key"
    key.chmod(0o644)
    with pytest.raises(KeyProblem, match=r"can be read by other users \(mode 644\); run: chmod 600"):
        office.deployment.keys.ledger_key()
    result = audit_ledger.verify(office.deployment, office.admin)  # the write still commits, signing refused
    assert not result.ok and result.status == "unverifiable", result
    assert "chmod 600" in result.problem


def test_anchor_is_private_and_records_the_newest_checkpoint(office: Office) -> None:
    refusals(office, EVERY)
    anchor = office.deployment.keys.directory / "ledger.anchor"
    assert stat.S_IMODE(anchor.stat().st_mode) == 0o600
    recorded = json.loads(anchor.read_text())
    with office.deployment.engine.connect() as connection:
        from sqlalchemy import text

        number, seq, mac = connection.execute(
            text("SELECT number, seq, mac FROM ledger_checkpoints ORDER BY number DESC LIMIT 1")
        ).one()
        head = connection.execute(text("SELECT seq FROM ledger_head")).scalar_one()
    assert (recorded["checkpoint_number"], recorded["checkpoint_seq"], recorded["checkpoint_mac"]) == (number, seq, mac)
    assert recorded["head_seq"] == head
    assert not [p for p in anchor.parent.iterdir() if p.name.endswith(".tmp")], "a temporary file was left"


def test_deleted_anchor_is_unverifiable_and_nothing_more_is_signed(office: Office) -> None:
    refusals(office, EVERY)
    os.unlink(office.deployment.keys.directory / "ledger.anchor")
    result = audit_ledger.verify(office.deployment, office.auditor)
    assert not result.ok and result.status in ("unverifiable", "tampered"), result
    assert "anchor" in result.problem
    with pytest.raises(LedgerTampered, match="anchor"):
        refusals(office, EVERY)


def test_api_reports_the_three_way_result(office: Office) -> None:
    from fastapi.testclient import TestClient

    from faceledger.api.app import create_app

    deployment = office.deployment
    headers = {"Authorization": f"Bearer {office.tokens['auditor']}"}
    with TestClient(create_app(deployment.settings, deployment.data_dir), raise_server_exceptions=False) as client:
        verified = client.post("/api/v1/ledger/verify", headers=headers)
        assert verified.status_code == 200 and verified.json()["status"] == "verified", verified.text
        (deployment.keys.directory / "ledger.key").unlink()
        unverifiable = client.post("/api/v1/ledger/verify", headers=headers).json()
        assert (unverifiable["status"], unverifiable["ok"]) == ("unverifiable", False), unverifiable
        with deployment.engine.begin() as connection:
            from sqlalchemy import text

            connection.execute(text("UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 2"))
        tampered = client.post("/api/v1/ledger/verify", headers=headers).json()
        assert (tampered["status"], tampered["first_bad_seq"]) == ("tampered", 2), tampered
