"""The hash-chained ledger, on SQLite and PostgreSQL: a clean chain verifies, and every kind of tampering an
attacker with database access could do (edit, delete, insert, reorder, truncate, rewrite the whole chain) is
named at the entry where it happened. Tampering is done with raw SQL, as such an attacker would."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from faceledger.errors import InvalidInput
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import checkpoints, ledger
from faceledger.store.db import transaction
from faceledger.store.events import EventName
from faceledger.store.ledger_anchor import Anchor

ALICE = ledger.Actor(1, "alice")
KEY = bytes(range(32))
N = 20
NO_ANCHOR = Anchor()
VERIFIED = ledger.VerifyStatus.VERIFIED

MakeDeployment = Callable[..., Deployment]


@pytest.fixture
def deployment(make_deployment: MakeDeployment) -> Deployment:
    return make_deployment()


def fill(deployment: Deployment, count: int, *, actor: ledger.Actor = ALICE, tag: str = "t") -> list[int]:
    """Append `count` entries in one transaction; their sequence numbers."""
    with transaction(deployment.sessions) as session:
        return [
            ledger.write_entry(
                session,
                actor,
                EventName.SEARCH,
                case_id=100 + i,
                subjects={"faces": [i, i + 1], "probe_sha256": f"{i:064x}"},
                details={"tag": tag, "n": i, "score": 0.25 + i / 100, "name": "Zoë"},
                reasons=[f"reason {i}"],
            ).seq
            for i in range(count)
        ]


def verify(deployment: Deployment, key: bytes | None = KEY) -> ledger.Verification:
    """The store's verification with an anchor that records nothing (the anchor has its own tests in
    tests/security) and no limit on the unsigned tail."""
    checks = checkpoints.Checks(checkpoints.HmacSigner(key) if key else None, NO_ANCHOR, every=10**9)
    with deployment.sessions() as session:
        return checkpoints.verify(session, checks)


def add_checkpoint(session: Session, key: bytes = KEY) -> ledger.LedgerCheckpoint | None:
    return checkpoints.add_checkpoint(session, checkpoints.HmacSigner(key), NO_ANCHOR)


def sql(deployment: Deployment, statement: str, **params: Any) -> None:
    """One raw statement in its own transaction, bypassing the ORM (the attacker's view of the database)."""
    with deployment.engine.begin() as connection:
        connection.execute(text(statement), params)


def insert_row(deployment: Deployment, row: dict[str, Any]) -> None:
    """Write a ledger row directly, as someone with database access would."""
    sql(
        deployment,
        "INSERT INTO ledger_entries (seq, at, actor_id, actor, action, case_id, outcome, subjects, details, reasons, "
        "prev_hash, hash) VALUES (:seq, :at, :actor_id, :actor, :action, :case_id, :outcome, :subjects, :details, "
        ":reasons, :prev_hash, :hash)",
        **row,
    )


def rows(deployment: Deployment) -> list[dict[str, Any]]:
    with deployment.engine.connect() as connection:
        return [dict(row) for row in connection.execute(text("SELECT * FROM ledger_entries ORDER BY seq")).mappings()]


def head(deployment: Deployment) -> tuple[int, str]:
    with deployment.engine.connect() as connection:
        seq, digest = connection.execute(text("SELECT seq, hash FROM ledger_head WHERE id = 1")).one()
    return seq, digest


def assert_fails(result: ledger.Verification, seq: int, words: str) -> None:
    assert not result.ok, result
    assert result.first_bad_seq == seq, result
    assert words in result.problem, result


def rewrite_chain(deployment: Deployment, seq: int, changes: dict[str, Any]) -> None:
    """The attacker who knows the hashing scheme: change entry `seq`, then recompute the hash and prev_hash of
    it and of every entry after it, and move the head, so that the chain itself is consistent again."""
    chain = rows(deployment)
    prev = chain[seq - 2]["hash"] if seq > 1 else ledger.GENESIS_HASH
    with deployment.engine.begin() as connection:
        for row in chain[seq - 1 :]:
            fields = {**row, **(changes if row["seq"] == seq else {}), "prev_hash": prev}
            fields["hash"] = ledger.entry_hash(fields)
            connection.execute(
                text(
                    "UPDATE ledger_entries SET actor = :actor, details = :details, outcome = :outcome, "
                    "prev_hash = :prev_hash, hash = :hash WHERE seq = :seq"
                ),
                fields,
            )
            prev = fields["hash"]
        connection.execute(text("UPDATE ledger_head SET hash = :hash WHERE id = 1"), {"hash": prev})


# --- a clean chain --------------------------------------------------------------------------------------


def test_empty_ledger_verifies(deployment: Deployment) -> None:
    result = verify(deployment, KEY)
    assert result == ledger.Verification(VERIFIED, 0, 0, None, "")
    assert head(deployment) == (0, ledger.GENESIS_HASH)


def test_clean_chain_verifies(deployment: Deployment) -> None:
    assert fill(deployment, N) == list(range(1, N + 1))
    result = verify(deployment)
    assert result.ok, result
    assert (result.entries, result.checkpoints, result.first_bad_seq, result.problem) == (N, 0, None, "")
    assert verify(deployment, KEY).ok


def test_entries_are_chained_and_hashed(deployment: Deployment) -> None:
    fill(deployment, 5)
    chain = rows(deployment)
    assert chain[0]["prev_hash"] == ledger.GENESIS_HASH
    for before, after in itertools.pairwise(chain):
        assert after["prev_hash"] == before["hash"]
    for row in chain:
        assert row["hash"] == ledger.entry_hash(row)
    assert len({row["hash"] for row in chain}) == 5
    assert head(deployment) == (5, chain[-1]["hash"])


def test_appended_entry_reads_back(deployment: Deployment) -> None:
    with transaction(deployment.sessions) as session:
        entry = ledger.write_entry(
            session,
            ALICE,
            EventName.SEARCH,
            outcome=ledger.REFUSED,
            case_id=7,
            subjects={"probe_sha256": "ab" * 32},
            details={"b": 1, "a": [1.5, None, "Zoë"]},
            reasons=["no authorisation in force"],
        )
    with deployment.sessions() as session:
        [stored] = ledger.entries(session)
        assert stored.to_dict() == {
            "seq": 1,
            "at": entry.at,
            "actor_id": 1,
            "actor": "alice",
            "action": "search",
            "case_id": 7,
            "outcome": "refused",
            "subjects": {"probe_sha256": "ab" * 32},
            "details": {"a": [1.5, None, "Zoë"], "b": 1},
            "reasons": ["no authorisation in force"],
            "prev_hash": ledger.GENESIS_HASH,
            "hash": entry.hash,
        }
        assert stored.details == '{"a":[1.5,null,"Zoë"],"b":1}'  # canonical: sorted, compact, UTF-8 kept


def test_system_actor_is_recorded_without_id(deployment: Deployment) -> None:
    with transaction(deployment.sessions) as session:
        ledger.write_entry(session, ledger.SYSTEM, EventName.GALLERY_INGEST)
    [row] = rows(deployment)
    assert (row["actor_id"], row["actor"], row["outcome"]) == (None, "system", ledger.DONE)
    assert (row["subjects"], row["details"], row["reasons"]) == ("{}", "{}", "[]")
    assert verify(deployment).ok


def test_rolled_back_append_leaves_no_trace(deployment: Deployment) -> None:
    fill(deployment, 3)
    before = head(deployment)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction(deployment.sessions) as session:
        ledger.write_entry(session, ALICE, EventName.SEARCH)
        raise Boom
    assert head(deployment) == before
    assert [row["seq"] for row in rows(deployment)] == [1, 2, 3]
    assert fill(deployment, 1) == [4]
    assert verify(deployment).ok


def test_entries_filters(deployment: Deployment) -> None:
    with transaction(deployment.sessions) as session:
        for i in range(12):
            ledger.write_entry(
                session,
                ALICE,
                EventName.SEARCH if i % 2 else EventName.REVIEW,
                case_id=i % 3,
                outcome=ledger.REFUSED if i % 4 == 0 else ledger.DONE,
            )
    with deployment.sessions() as session:

        def seqs(**filters: Any) -> list[int]:
            return [entry.seq for entry in ledger.entries(session, **filters)]

        assert seqs() == list(range(1, 13))
        assert seqs(limit=3) == [1, 2, 3]
        assert seqs(since=10) == [11, 12]
        assert seqs(action="search") == [2, 4, 6, 8, 10, 12]
        assert seqs(case_id=0) == [1, 4, 7, 10]
        assert seqs(outcome=ledger.REFUSED) == [1, 5, 9]
        assert seqs(action="review", case_id=0, outcome=ledger.REFUSED) == [1]
        assert seqs(action="search", since=6, limit=2) == [8, 10]


# --- tampering ------------------------------------------------------------------------------------------


EDITS = [
    ("details", '{"n":6,"score":0.99,"tag":"t"}'),
    ("actor", "mallory"),
    ("actor_id", 2),
    ("outcome", ledger.REFUSED),
    ("action", "review"),
    ("case_id", 999),
    ("subjects", "{}"),
    ("reasons", "[]"),
    ("at", "2020-01-01T00:00:00.000000+00:00"),
]


def test_edited_entry_is_named(deployment: Deployment) -> None:
    fill(deployment, N)
    original = rows(deployment)[6]
    for column, value in EDITS:  # one column at a time, put back after each (one database for them all)
        sql(deployment, f"UPDATE ledger_entries SET {column} = :value WHERE seq = 7", value=value)
        assert_fails(verify(deployment), 7, "entry 7 was altered: its contents do not match its hash")
        sql(deployment, f"UPDATE ledger_entries SET {column} = :value WHERE seq = 7", value=original[column])
        assert verify(deployment).ok, column


def test_edited_entry_with_its_own_hash_recomputed_breaks_the_next_link(deployment: Deployment) -> None:
    fill(deployment, N)
    row = rows(deployment)[6]
    forged = {**row, "details": '{"forged":true}'}
    sql(
        deployment,
        "UPDATE ledger_entries SET details = :details, hash = :hash WHERE seq = 7",
        details=forged["details"],
        hash=ledger.entry_hash(forged),
    )
    assert_fails(verify(deployment), 8, "entry 8 does not follow")


def test_edited_first_and_last_entries_are_named(deployment: Deployment) -> None:
    fill(deployment, N)
    sql(deployment, f"UPDATE ledger_entries SET actor = 'mallory' WHERE seq IN (1, {N})")
    assert_fails(verify(deployment), 1, "entry 1 was altered")
    sql(deployment, "UPDATE ledger_entries SET actor = 'alice' WHERE seq = 1")
    assert_fails(verify(deployment), N, f"entry {N} was altered")


def test_deleted_middle_entry_is_reported_missing(deployment: Deployment) -> None:
    fill(deployment, N)
    sql(deployment, "DELETE FROM ledger_entries WHERE seq = 10")
    result = verify(deployment)
    assert not result.ok
    assert result.problem == "entry 10 is missing (the next entry is 11): deleted"
    assert result.entries == 10  # stopped at the first entry after the gap
    assert result.first_bad_seq == 10


def test_deleted_middle_entry_is_named_by_first_bad_seq(deployment: Deployment) -> None:
    fill(deployment, N)
    sql(deployment, "DELETE FROM ledger_entries WHERE seq = 10")
    assert_fails(verify(deployment), 10, "entry 10 is missing")


def test_deleted_first_entry_is_reported_missing(deployment: Deployment) -> None:
    fill(deployment, N)
    sql(deployment, "DELETE FROM ledger_entries WHERE seq = 1")
    result = verify(deployment)
    assert not result.ok
    assert result.problem.startswith("entry 1 is missing")


def test_forged_entry_with_wrong_prev_hash_is_named(deployment: Deployment) -> None:
    """Entry 8 replaced by a self-consistent forgery that does not link to entry 7."""
    fill(deployment, N)
    original = rows(deployment)[7]
    forged = {**original, "details": '{"forged":true}', "prev_hash": "f" * 64}
    forged["hash"] = ledger.entry_hash(forged)
    sql(deployment, "DELETE FROM ledger_entries WHERE seq = 8")
    insert_row(deployment, forged)
    assert_fails(verify(deployment), 8, "entry 8 does not follow the entry before it")


def test_forged_entry_with_right_prev_hash_breaks_the_next_link(deployment: Deployment) -> None:
    """Entry 8 replaced by a forgery that links correctly to entry 7: entry 9 no longer follows it."""
    fill(deployment, N)
    chain = rows(deployment)
    forged = {**chain[7], "actor": "mallory", "details": '{"forged":true}'}
    assert forged["prev_hash"] == chain[6]["hash"]
    forged["hash"] = ledger.entry_hash(forged)
    sql(deployment, "DELETE FROM ledger_entries WHERE seq = 8")
    insert_row(deployment, forged)
    assert_fails(verify(deployment), 9, "entry 9 does not follow the entry before it")


def test_inserted_entry_shifting_later_ones_is_named(deployment: Deployment) -> None:
    """A forged entry slipped in at seq 8, with 8..N moved up by one (and the head moved too)."""
    fill(deployment, N)
    chain = rows(deployment)
    forged = {**chain[7], "actor": "mallory", "details": '{"forged":true}', "prev_hash": chain[6]["hash"]}
    forged["hash"] = ledger.entry_hash(forged)
    # Two steps, so no row collides with another's primary key mid-statement.
    sql(deployment, "UPDATE ledger_entries SET seq = seq + 1000 WHERE seq >= 8")
    sql(deployment, "UPDATE ledger_entries SET seq = seq - 999 WHERE seq >= 1000")
    insert_row(deployment, forged)
    sql(deployment, "UPDATE ledger_head SET seq = :seq WHERE id = 1", seq=N + 1)
    assert [row["seq"] for row in rows(deployment)] == list(range(1, N + 2))
    assert_fails(verify(deployment), 9, "entry 9 does not follow the entry before it")


def swap(deployment: Deployment, first: int, second: int) -> None:
    sql(deployment, "UPDATE ledger_entries SET seq = -1 WHERE seq = :seq", seq=first)
    sql(deployment, "UPDATE ledger_entries SET seq = :to WHERE seq = :seq", to=first, seq=second)
    sql(deployment, "UPDATE ledger_entries SET seq = :to WHERE seq = -1", to=second)


def test_swapped_entries_are_named(deployment: Deployment) -> None:
    fill(deployment, N)
    for first, second in [(5, 12), (5, 6), (1, N)]:
        swap(deployment, first, second)
        assert_fails(verify(deployment), first, f"entry {first} does not follow the entry before it")
        swap(deployment, first, second)
        assert verify(deployment).ok


@pytest.mark.parametrize("removed", [1, 3, N])
def test_truncated_tail_is_noticed_through_the_head(deployment: Deployment, removed: int) -> None:
    fill(deployment, N)
    sql(deployment, "DELETE FROM ledger_entries WHERE seq > :seq", seq=N - removed)
    result = verify(deployment)
    assert_fails(result, N - removed + 1, f"the ledger ends at entry {N - removed} but its head records entry {N}")
    assert result.entries == N - removed


def test_deleted_head_row_is_noticed(deployment: Deployment) -> None:
    fill(deployment, N)
    sql(deployment, "DELETE FROM ledger_head")
    assert_fails(verify(deployment), N + 1, "head records entry 0")


def test_truncation_with_the_head_moved_back_is_caught_by_a_checkpoint(deployment: Deployment) -> None:
    fill(deployment, N)
    with transaction(deployment.sessions) as session:
        checkpoint = add_checkpoint(session)
    assert checkpoint is not None
    assert checkpoint.seq == N
    keep = rows(deployment)[N - 4]
    sql(deployment, "DELETE FROM ledger_entries WHERE seq > :seq", seq=keep["seq"])
    sql(deployment, "UPDATE ledger_head SET seq = :seq, hash = :hash WHERE id = 1", seq=keep["seq"], hash=keep["hash"])
    assert_fails(verify(deployment, KEY), N, f"signed checkpoint 1 at entry {N} does not match the chain")


# --- whole-chain rewrites and signed checkpoints --------------------------------------------------------


def test_rewritten_chain_without_checkpoint_verifies(deployment: Deployment) -> None:
    """Why checkpoints exist: a consistent rewrite of the chain alone cannot be told from the real one."""
    fill(deployment, N)
    original = rows(deployment)
    rewrite_chain(deployment, 5, {"details": '{"rewritten":true}'})
    rewritten = rows(deployment)
    assert rewritten[:4] == original[:4]
    assert all(new["hash"] != old["hash"] for new, old in zip(rewritten[4:], original[4:], strict=True))
    assert rewritten[4]["details"] == '{"rewritten":true}'
    result = verify(deployment, KEY)
    assert result.ok, result
    assert result.entries == N


def test_rewrite_is_caught_by_checkpoint(deployment: Deployment) -> None:
    fill(deployment, 10)
    with transaction(deployment.sessions) as session:
        checkpoint = add_checkpoint(session)
    assert checkpoint is not None
    assert checkpoint.seq == 10
    fill(deployment, 5)
    assert verify(deployment, KEY) == ledger.Verification(VERIFIED, 15, 1, None, "")

    rewrite_chain(deployment, 5, {"details": '{"rewritten":true}', "actor": "mallory"})
    assert_fails(verify(deployment, KEY), 10, "signed checkpoint 1 at entry 10 does not match the chain")
    assert_fails(verify(deployment, None), 10, "does not match the chain")  # needs no key to notice this

    # The attacker moves the checkpoint to the rewritten chain too, but cannot make its MAC without the key.
    new_hash = rows(deployment)[9]["hash"]
    sql(deployment, "UPDATE ledger_checkpoints SET entry_hash = :hash WHERE seq = 10", hash=new_hash)
    result = verify(deployment, KEY)
    assert_fails(result, 10, "signed checkpoint 1 at entry 10 has a bad signature")
    assert result.checkpoints == 1
    assert_fails(verify(deployment, b"another key"), 10, "bad signature")
    # Without the key the MAC cannot be checked: never "verified", but "unverifiable".
    result = verify(deployment, None)
    assert (result.ok, result.status) == (False, ledger.VerifyStatus.UNVERIFIABLE), result
    assert "no ledger key" in result.problem


def test_rewrite_after_the_last_checkpoint_is_not_caught(deployment: Deployment) -> None:
    """Checkpoints protect what they cover: entries after the newest one can be rewritten unnoticed by the
    database alone (the anchor's head in the keys folder catches it: tests/security/test_ledger_rewrite.py)."""
    fill(deployment, 10)
    with transaction(deployment.sessions) as session:
        add_checkpoint(session)
    fill(deployment, 5)
    rewrite_chain(deployment, 12, {"details": '{"rewritten":true}'})
    assert verify(deployment, KEY).ok
    rewrite_chain(deployment, 10, {"details": '{"rewritten":true}'})
    assert_fails(verify(deployment, KEY), 10, "does not match the chain")


def test_every_checkpoint_is_checked(deployment: Deployment) -> None:
    with transaction(deployment.sessions) as session:
        assert add_checkpoint(session) is None  # nothing to sign yet
    for _ in range(3):
        fill(deployment, 4)
        with transaction(deployment.sessions) as session:
            add_checkpoint(session)
    assert verify(deployment, KEY) == ledger.Verification(VERIFIED, 12, 3, None, "")
    with deployment.engine.connect() as connection:
        made = connection.execute(text("SELECT * FROM ledger_checkpoints ORDER BY seq")).all()
    assert [(row.number, row.seq) for row in made] == [(1, 4), (2, 8), (3, 12)]
    chain = rows(deployment)
    prev_mac = checkpoints.GENESIS_MAC
    for row in made:
        assert row.entry_hash == chain[row.seq - 1]["hash"]
        assert (row.prev_mac, row.scheme) == (prev_mac, "hmac-sha256")
        message = checkpoints.message(row.scheme, row.number, row.seq, row.entry_hash, row.at, row.prev_mac)
        assert row.mac == checkpoints.HmacSigner(KEY).sign(message)
        prev_mac = row.mac
    # A forged MAC on the middle checkpoint only.
    sql(deployment, "UPDATE ledger_checkpoints SET mac = :mac WHERE seq = 8", mac="0" * 64)
    assert_fails(verify(deployment, KEY), 8, "signed checkpoint 2 at entry 8 has a bad signature")


def test_legacy_mac_binds_sequence_and_digest() -> None:
    digest = "a" * 64
    mac = checkpoints.legacy_mac(KEY, 5, digest)
    assert len(mac) == 64
    assert mac == checkpoints.legacy_mac(KEY, 5, digest)
    assert mac != checkpoints.legacy_mac(KEY, 6, digest)
    assert mac != checkpoints.legacy_mac(KEY, 5, "b" * 64)
    assert mac != checkpoints.legacy_mac(b"other", 5, digest)


def test_checkpoint_signature_binds_every_field() -> None:
    fields: dict[str, Any] = {
        "scheme": "hmac-sha256",
        "number": 2,
        "seq": 8,
        "digest": "a" * 64,
        "at": "2026-12-01T10:00:00+00:00",
        "prev_mac": "b" * 64,
    }
    signer = checkpoints.HmacSigner(KEY)
    mac = signer.sign(checkpoints.message(**fields))
    assert signer.check(checkpoints.message(**fields), mac)
    for name, value in fields.items():
        changed = {**fields, name: value + 1 if isinstance(value, int) else value + "x"}
        assert not signer.check(checkpoints.message(**changed), mac), name
    assert not checkpoints.HmacSigner(b"o" * 32).check(checkpoints.message(**fields), mac)


# --- canonical encoding and the hash --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, {"score": math.nan}, [object()], {"when": object()}, {"raw": b"bytes"}, {1, 2}],
    ids=["nan", "inf", "-inf", "nested-nan", "object", "nested-object", "bytes", "set"],
)
def test_canonical_refuses_what_json_cannot_hold(value: object) -> None:
    with pytest.raises(InvalidInput, match="a ledger field cannot be encoded"):
        ledger.canonical(value)


def test_canonical_is_sorted_compact_and_utf8() -> None:
    assert ledger.canonical({"b": 1, "a": {"d": [1, 2], "c": "Zoë"}}) == '{"a":{"c":"Zoë","d":[1,2]},"b":1}'
    assert ledger.canonical({"b": 1, "a": 2}) == ledger.canonical({"a": 2, "b": 1})


def test_append_refuses_nan_and_writes_nothing(deployment: Deployment) -> None:
    with pytest.raises(InvalidInput), transaction(deployment.sessions) as session:
        ledger.write_entry(session, ALICE, EventName.SEARCH, details={"score": math.nan})
    with pytest.raises(InvalidInput), transaction(deployment.sessions) as session:
        ledger.write_entry(session, ALICE, EventName.SEARCH, subjects={"who": object()})
    assert rows(deployment) == []
    assert head(deployment) == (0, ledger.GENESIS_HASH)


def sample_fields() -> dict[str, Any]:
    return {
        "seq": 3,
        "at": "2026-01-01T00:00:00.000000+00:00",
        "actor_id": 1,
        "actor": "alice",
        "action": "search",
        "case_id": 4,
        "outcome": ledger.DONE,
        "subjects": "{}",
        "details": '{"a":1}',
        "reasons": "[]",
        "prev_hash": "1" * 64,
    }


def test_hash_does_not_depend_on_key_order() -> None:
    fields = sample_fields()
    reordered = dict(reversed(list(fields.items())))
    assert list(reordered) != list(fields)
    assert ledger.entry_hash(reordered) == ledger.entry_hash(fields)
    # Extra keys (the stored hash itself, for one) are not part of what is hashed.
    assert ledger.entry_hash({**fields, "hash": "x", "other": 1}) == ledger.entry_hash(fields)


def test_details_key_order_does_not_change_the_stored_entry(deployment: Deployment) -> None:
    with transaction(deployment.sessions) as session:
        ledger.write_entry(
            session, ALICE, EventName.SEARCH, subjects={"y": 1, "x": 2}, details={"b": 1, "a": {"z": 1, "y": 2}}
        )
        ledger.write_entry(
            session, ALICE, EventName.SEARCH, subjects={"x": 2, "y": 1}, details={"a": {"y": 2, "z": 1}, "b": 1}
        )
    first, second = rows(deployment)
    assert first["details"] == second["details"] == '{"a":{"y":2,"z":1},"b":1}'
    assert first["subjects"] == second["subjects"] == '{"x":2,"y":1}'
    # The same entry at the same place in the chain would hash the same, whatever order the caller used.
    assert ledger.entry_hash({**second, "seq": 1, "at": first["at"], "prev_hash": ledger.GENESIS_HASH}) == first["hash"]
    assert verify(deployment).ok


@pytest.mark.parametrize("name", list(sample_fields()))
def test_every_field_is_covered_by_the_hash(name: str) -> None:
    fields = sample_fields()
    changed = {**fields, name: 99 if isinstance(fields[name], int) else fields[name] + "x"}
    assert ledger.entry_hash(changed) != ledger.entry_hash(fields)


# --- concurrent writers ---------------------------------------------------------------------------------

THREADS = 4
PER_THREAD = 25


def test_concurrent_appends_make_one_gapless_chain(deployment: Deployment) -> None:
    start = threading.Barrier(THREADS)

    def writer(number: int) -> list[int]:
        actor = ledger.Actor(number, f"writer-{number}")
        start.wait(timeout=30)
        seqs = []
        for i in range(PER_THREAD):
            with transaction(deployment.sessions) as session:
                seqs.append(
                    ledger.write_entry(session, actor, EventName.SEARCH, details={"writer": number, "i": i}).seq
                )
        return seqs

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(writer, range(THREADS)))

    total = THREADS * PER_THREAD
    assert sorted(seq for seqs in results for seq in seqs) == list(range(1, total + 1))
    for seqs in results:
        assert seqs == sorted(seqs)  # each writer's entries are in the order it wrote them
    chain = rows(deployment)
    assert [row["seq"] for row in chain] == list(range(1, total + 1))
    assert head(deployment) == (total, chain[-1]["hash"])
    for number, seqs in enumerate(results):
        assert [row["seq"] for row in chain if row["actor"] == f"writer-{number}"] == seqs
    assert verify(deployment, KEY) == ledger.Verification(VERIFIED, total, 0, None, "")


def test_concurrent_appends_and_checkpoints(deployment: Deployment) -> None:
    """Writers and a checkpointer racing: every checkpoint signs an entry the chain really has."""
    done = threading.Event()

    def writer(number: int) -> None:
        for i in range(PER_THREAD):
            with transaction(deployment.sessions) as session:
                ledger.write_entry(
                    session, ledger.Actor(number, f"writer-{number}"), EventName.SEARCH, details={"i": i}
                )

    def checkpointer() -> int:
        made = 0
        while not done.is_set():
            with transaction(deployment.sessions) as session:
                made += add_checkpoint(session) is not None
            time.sleep(0.005)  # let the writers in: SQLite's busy handler is not fair
        return made

    with ThreadPoolExecutor(THREADS + 1) as pool:
        signing = pool.submit(checkpointer)
        for future in [pool.submit(writer, number) for number in range(THREADS)]:
            future.result()
        done.set()
        made = signing.result()
    result = verify(deployment, KEY)
    assert result.ok, result
    assert (result.entries, result.checkpoints) == (THREADS * PER_THREAD, made)
    assert made >= 1


@pytest.fixture
def appender_during_verify(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Thread]:
    """Make another writer append (and commit, if the database lets it) right after verify has read the last
    entry and before it reads the head: the window in which a concurrent search is ledgered."""
    original = ledger.entries_after
    thread = threading.Thread(target=fill, args=(deployment, 1))

    def entries_then_append(session: Session, last: int = 0) -> Iterator[ledger.LedgerEntry]:
        yield from original(session, last)
        if thread.ident is None:  # only the first verification
            thread.start()
            thread.join(timeout=1.0)  # SQLite: blocked by the verifier's BEGIN IMMEDIATE until it commits

    monkeypatch.setattr(ledger, "entries_after", entries_then_append)
    yield thread
    thread.join(timeout=60)


def test_verify_is_not_fooled_by_a_concurrent_append(
    deployment: Deployment, appender_during_verify: threading.Thread
) -> None:
    fill(deployment, N)
    # As the auditor's `ledger verify` runs it: inside one transaction of its own.
    with transaction(deployment.sessions) as session:
        result = checkpoints.verify(session, checkpoints.Checks(checkpoints.HmacSigner(KEY), NO_ANCHOR, 10**9))
    appender_during_verify.join(timeout=60)
    assert not appender_during_verify.is_alive()
    assert result.ok, result
    assert result.entries == N
    assert verify(deployment, KEY) == ledger.Verification(VERIFIED, N + 1, 0, None, "")


def test_the_check_after_each_write_is_not_fooled_by_a_concurrent_append(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After every governed write the new entries are checked against the anchor. Another request's entry
    committed between reading the head and walking the entries looked like a deleted tail on PostgreSQL:
    bench/load.py saw 409 'entries after N were deleted' on one search in eight with 8 clients."""
    from faceledger.services.governance.ledger_key import checkpoint_if_due

    fill(deployment, 5)
    checkpoint_if_due(deployment)  # the anchor now records the head
    fill(deployment, 3)
    original, appender = checkpoints.walk, threading.Thread(target=fill, args=(deployment, 1))

    def append_then_walk(session: Session, seq: int, digest: str, **kept: Any) -> ledger.Walk:
        if appender.ident is None:
            appender.start()
            appender.join(timeout=1.0)  # it commits at once unless the check holds the head
        return original(session, seq, digest, **kept)

    monkeypatch.setattr(checkpoints, "walk", append_then_walk)
    checkpoint_if_due(deployment)  # raised LedgerTampered before the head was locked
    appender.join(timeout=60)
    assert not appender.is_alive()
    monkeypatch.undo()
    assert verify(deployment, KEY).ok
