"""C1: an attacker with write access to the database, but not to the keys folder, rewrites or truncates the
ledger. Every attack is done with raw SQL on a real deployment (an office, governed writes, checkpoints
signed by the server as it runs) and must be reported as tampered or unverifiable, never as verified; and
the server must not sign a head it has not verified from the previous signed checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from faceledger.cli.oversight import ledger_app
from faceledger.errors import LedgerTampered, PolicyDenied
from faceledger.services.casework import cases
from faceledger.services.governance.ledger_key import checkpoint_if_due
from faceledger.services.oversight import audit_ledger
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from faceledger.store.db import transaction
from faceledger.store.events import EventName
from tests.office import PURPOSE, Office, make_office

EVERY = 5  # entries between signed checkpoints, small so that an office has several

MakeDeployment = Callable[..., Deployment]


pytestmark = pytest.mark.both_databases


@pytest.fixture
def office(make_deployment: MakeDeployment) -> Office:
    return make_office(make_deployment(ledger_checkpoint_every=EVERY))


def refusals(office: Office, count: int) -> None:
    """Governed writes: an analyst asking to read the ledger is refused, and the refusal is ledgered."""
    for _ in range(count):
        with pytest.raises(PolicyDenied):
            audit_ledger.show(office.deployment, office.analyst)


def sql(deployment: Deployment, statement: str, **params: Any) -> None:
    with deployment.engine.begin() as connection:
        connection.execute(text(statement), params)


def query(deployment: Deployment, statement: str, **params: Any) -> list[Any]:
    with deployment.engine.connect() as connection:
        return list(connection.execute(text(statement), params).all())


def rows(deployment: Deployment) -> list[dict[str, Any]]:
    with deployment.engine.connect() as connection:
        return [dict(row) for row in connection.execute(text("SELECT * FROM ledger_entries ORDER BY seq")).mappings()]


def checkpoint_seqs(deployment: Deployment) -> list[int]:
    return [row[0] for row in query(deployment, "SELECT seq FROM ledger_checkpoints ORDER BY seq")]


def head_seq(deployment: Deployment) -> int:
    return int(query(deployment, "SELECT seq FROM ledger_head WHERE id = 1")[0][0])


def rewrite_from(deployment: Deployment, seq: int, changes: dict[str, Any]) -> None:
    """Edit entry `seq`, recompute the hash and link of it and every entry after it, fix the head."""
    chain = rows(deployment)
    prev = chain[seq - 2]["hash"] if seq > 1 else ledger.GENESIS_HASH
    with deployment.engine.begin() as connection:
        for row in chain[seq - 1 :]:
            fields = {**row, **(changes if row["seq"] == seq else {}), "prev_hash": prev}
            fields["hash"] = ledger.entry_hash(fields)
            connection.execute(
                text(
                    "UPDATE ledger_entries SET details = :details, actor = :actor, "
                    "prev_hash = :prev_hash, hash = :hash WHERE seq = :seq"
                ),
                fields,
            )
            prev = fields["hash"]
        connection.execute(text("UPDATE ledger_head SET hash = :hash WHERE id = 1"), {"hash": prev})


def truncate_to(deployment: Deployment, keep: int) -> None:
    """Delete every entry after `keep` and every checkpoint over them; move the head back."""
    kept = rows(deployment)[keep - 1]
    sql(deployment, "DELETE FROM ledger_entries WHERE seq > :seq", seq=keep)
    sql(deployment, "DELETE FROM ledger_checkpoints WHERE seq > :seq", seq=keep)
    sql(deployment, "UPDATE ledger_head SET seq = :seq, hash = :hash WHERE id = 1", seq=keep, hash=kept["hash"])


def verify(office: Office) -> Any:
    return audit_ledger.verify(office.deployment, office.auditor)


def assert_status(result: Any, status: str, words: str) -> None:
    assert not result.ok, result
    assert result.status == status, result
    assert words in result.problem, result


def test_the_office_ledger_verifies_with_signed_checkpoints(office: Office) -> None:
    refusals(office, 3)
    result = verify(office)
    assert result.ok and result.status == "verified", result
    assert result.checkpoints >= 2


def test_full_rewrite_with_checkpoints_deleted_and_head_fixed(office: Office) -> None:
    refusals(office, 2 * EVERY)
    rewrite_from(office.deployment, 3, {"details": '{"forged":true}', "actor": "mallory"})
    sql(office.deployment, "DELETE FROM ledger_checkpoints")
    assert_status(verify(office), "tampered", "checkpoints after entry 0 were deleted")


def test_the_server_does_not_sign_a_rewritten_head(office: Office) -> None:
    """After the rewrite, the next governed writes commit (their entries stay) but surface the tamper, and
    no checkpoint is signed over the forged head, however many writes follow."""
    deployment = office.deployment
    refusals(office, 2 * EVERY)
    rewrite_from(deployment, 3, {"details": '{"forged":true}', "actor": "mallory"})
    sql(deployment, "DELETE FROM ledger_checkpoints")
    before = head_seq(deployment)
    for number in range(2 * EVERY):
        with pytest.raises(LedgerTampered, match="nothing was signed"):
            cases.open_case(deployment, office.supervisor, f"C-{100 + number}", purpose=PURPOSE, offence_type="theft")
    assert checkpoint_seqs(deployment) == [], "a checkpoint was signed over the forged head"
    assert head_seq(deployment) == before + 2 * EVERY, "the governed writes' own entries were lost"
    assert [e.action for e in office.entries()][-1] == "open_case"
    assert_status(verify(office), "tampered", "checkpoints after entry 0 were deleted")


def test_rewrite_after_the_last_checkpoint_is_not_signed(office: Office) -> None:
    deployment = office.deployment
    refusals(office, EVERY)
    while head_seq(deployment) - max(checkpoint_seqs(deployment)) < 2:
        refusals(office, 1)
    rewrite_from(deployment, max(checkpoint_seqs(deployment)) + 1, {"details": '{"forged":true}'})
    with pytest.raises(LedgerTampered):
        refusals(office, EVERY)
    assert_status(verify(office), "tampered", "rewritten")


def test_tail_truncated_after_the_last_checkpoint(office: Office) -> None:
    deployment = office.deployment
    refusals(office, EVERY)
    while head_seq(deployment) - max(checkpoint_seqs(deployment)) < 2:
        refusals(office, 1)
    last = max(checkpoint_seqs(deployment))
    truncate_to(deployment, last)
    assert_status(verify(office), "tampered", f"entries after {last} were deleted")


def test_thousands_of_rows_truncated_with_their_checkpoints(office: Office) -> None:
    deployment = office.deployment
    for batch in range(30):  # 3,000 entries, each hundred followed by the server's checkpoint
        with transaction(deployment.sessions) as session:
            for i in range(100):
                ledger.write_entry(session, ledger.SYSTEM, EventName.SEARCH, details={"batch": batch, "i": i})
        checkpoint_if_due(deployment)
    signed = checkpoint_seqs(deployment)
    assert len(signed) >= 30
    keep = signed[5]
    truncate_to(deployment, keep)
    assert head_seq(deployment) == keep
    assert_status(verify(office), "tampered", f"entries and checkpoints after entry {keep} were deleted")
    with pytest.raises(LedgerTampered):
        refusals(office, EVERY)
    assert checkpoint_seqs(deployment) == signed[:6], "a checkpoint was signed over the truncated ledger"


def test_deleted_middle_checkpoint_is_named(office: Office) -> None:
    refusals(office, 3 * EVERY)
    second = checkpoint_seqs(office.deployment)[1]
    sql(office.deployment, "DELETE FROM ledger_checkpoints WHERE seq = :seq", seq=second)
    assert_status(verify(office), "tampered", "signed checkpoint 2 is missing")


def test_reordered_checkpoints_are_named(office: Office) -> None:
    """Two checkpoints' contents swapped: each is still a valid signature over a real entry."""
    deployment = office.deployment
    refusals(office, 3 * EVERY)
    first, second = query(deployment, "SELECT id, seq, entry_hash, at, mac FROM ledger_checkpoints ORDER BY seq")[1:3]
    for target, source in ((first, second), (second, first)):
        statement = "UPDATE ledger_checkpoints SET seq = :seq, entry_hash = :h, at = :at, mac = :mac WHERE id = :id"
        sql(deployment, statement, seq=source.seq, h=source.entry_hash, at=source.at, mac=source.mac, id=target.id)
    assert_status(verify(office), "tampered", "signed checkpoint 2 at entry")


def test_edited_checkpoint_time_is_named(office: Office) -> None:
    refusals(office, 2 * EVERY)
    second = checkpoint_seqs(office.deployment)[1]
    sql(office.deployment, "UPDATE ledger_checkpoints SET at = '2020-01-01T00:00:00+00:00' WHERE seq = :s", s=second)
    assert_status(verify(office), "tampered", "bad signature")


def test_unsigned_tail_longer_than_the_checkpoint_interval_is_not_verified(office: Office) -> None:
    """Entries appended straight into the database, more than `ledger_checkpoint_every` past the last
    checkpoint: nothing signed vouches for them."""
    deployment = office.deployment
    last = max(checkpoint_seqs(deployment))
    with transaction(deployment.sessions) as session:
        for i in range(head_seq(deployment) - last, 2 * EVERY):
            ledger.write_entry(session, ledger.Actor(99, "mallory"), EventName.SEARCH, details={"i": i})
    result = verify(office)
    assert_status(result, "unverifiable", "not covered by a signed checkpoint")
    assert result.first_bad_seq == last + 1


def test_deleted_key_is_unverifiable_and_the_cli_exits_non_zero(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = office.deployment
    refusals(office, EVERY)
    (deployment.keys.directory / "ledger.key").unlink()
    assert_status(verify(office), "unverifiable", "ledger.key is missing")
    if deployment.settings.database_url:  # the command opens the deployment itself, as a user would
        monkeypatch.setenv("FACELEDGER_DATABASE_URL", deployment.settings.database_url)
    app = typer.Typer()
    app.add_typer(ledger_app, name="ledger")
    command = ["ledger", "verify", "--data-dir", str(deployment.data_dir), "--token", office.tokens["auditor"]]
    done = CliRunner().invoke(app, command)
    assert done.exit_code == 20, done.output
    assert "unverifiable" in done.output and "verified:" not in done.output
    json_done = CliRunner().invoke(app, [*command, "--json"])
    assert json_done.exit_code == 20 and '"status": "unverifiable"' in json_done.output
