"""What lets someone other than the operator check the ledger: Ed25519-signed checkpoints of its Merkle
tree (C2SP checkpoint format), inclusion and consistency proofs (RFC 9162), and the log's public key.

The signing key is not the HMAC ledger key: it is an Ed25519 key kept outside the data directory
(Settings.ledger_signing_key), whose public half the council publishes and witnesses pin. The operator
can still sign anything with it; what it cannot do is sign two checkpoints that no consistency proof
joins without every witness holding the earlier one noticing (faceledger witness check)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.errors import InvalidInput, KeyProblem, LedgerTampered, NotFound
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import merkle, tree_heads
from faceledger.store.db import transaction
from faceledger.store.ledger import GENESIS_HASH, LedgerEntry, LedgerHead, entries_after
from faceledger.transparency import keyfile
from faceledger.transparency.verify import (
    Checkpoint,
    VerificationFailed,
    VerifierKey,
    leaf_hash,
    sign_checkpoint,
    verifier_key,
)


def signing_key_path(deployment: Deployment) -> Path:
    return deployment.keys.signing_key_path(deployment.settings.ledger_signing_key)


def signing_key(deployment: Deployment, *, create: bool) -> Ed25519PrivateKey:
    path = signing_key_path(deployment)
    try:
        if create:
            return keyfile.load_or_create_key(path, deployment.data_dir)[0]
        key = keyfile.load_key(path, deployment.data_dir)
    except keyfile.KeyFileProblem as exc:
        raise KeyProblem(str(exc)) from None
    if key is None:
        raise KeyProblem(
            f"there is no checkpoint signing key at {path} yet; `faceledger ledger checkpoint` makes one "
            "(or restore it from the keys backup: witnesses know its public key)"
        )
    return key


def origin(deployment: Deployment) -> str:
    """The log's name in its checkpoints: the setting, else the one recorded in the config (made once)."""
    if deployment.settings.ledger_origin:
        return deployment.settings.ledger_origin
    if "ledger_origin" in deployment.config:
        return str(deployment.config["ledger_origin"])
    # A deployment made before origins: one derived from what it was created with, the same in every
    # process (writing one down lazily would let two server workers pick two).
    made = hashlib.sha256(f"{deployment.config.get('created_at')}|{deployment.config.get('model')}".encode())
    return f"faceledger.invalid/{made.hexdigest()[:16]}"


def public_key(deployment: Deployment) -> VerifierKey:
    return verifier_key(origin(deployment), signing_key(deployment, create=False))


@dataclass(frozen=True)
class Issued:
    checkpoint: Checkpoint
    key: VerifierKey
    key_created: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint.text(),
            "origin": self.checkpoint.origin,
            "size": self.checkpoint.size,
            "root_hash": self.checkpoint.root.hex(),
            "time": self.checkpoint.time,
            "public_key": self.key.text(),
            "key_created": self.key_created,
        }


def issue_checkpoint(deployment: Deployment) -> Issued:
    """Sign the tree as it stands, in a transaction of its own (see sign_tree)."""
    existed = signing_key_path(deployment).is_file()
    private = signing_key(deployment, create=True)
    with transaction(deployment.sessions) as session:
        issued = sign_tree(session, deployment, private)
    return replace(issued, key_created=not existed)


def sign_tree(session: Session, deployment: Deployment, private: Ed25519PrivateKey | None = None) -> Issued:
    """Sign the tree as it stands in `session`'s transaction, after checking that it extends the last signed
    one: the entries since then chain on and give exactly the tree edge the head holds (a log never signs a
    tree inconsistent with one it signed before). Locks the head, so no entry lands in between."""
    private = private or signing_key(deployment, create=False)
    key = verifier_key(origin(deployment), private)
    head = session.get(LedgerHead, 1, with_for_update=True, populate_existing=True)
    size = head.seq if head else 0
    edge = merkle.decode_frontier(head.tree if head else None, size)
    _check_edge_since_last(session, key, size, edge)
    stamp = deployment.clock.now().isoformat(timespec="seconds").replace("+00:00", "Z")
    checkpoint = sign_checkpoint(Checkpoint(key.name, size, merkle.edge_root(edge), stamp), key, private)
    session.add(
        tree_heads.SignedCheckpoint(
            size=size,
            root_hash=checkpoint.root.hex(),
            signed_at=stamp,
            key_id=key.id.hex(),
            note=checkpoint.text(),
            edge=merkle.encode_frontier(edge),
        )
    )
    session.flush()
    return Issued(checkpoint, key, key_created=False)


def _check_edge_since_last(session: Session, key: VerifierKey, size: int, edge: list[bytes]) -> None:
    previous = tree_heads.latest(session)
    start, recomputed, prev_hash = 0, [], GENESIS_HASH
    if previous is not None:
        try:
            signed = Checkpoint.parse(previous.note)
            signed.require_signature(key)
        except VerificationFailed as exc:
            raise LedgerTampered(f"the last signed checkpoint does not verify: {exc}") from None
        recomputed = merkle.decode_frontier(previous.edge, previous.size)
        if (signed.size, signed.root) != (previous.size, merkle.edge_root(recomputed)):
            raise LedgerTampered(
                f"the stored tree edge of the checkpoint at size {previous.size} is not the tree it signed"
            )
        if size < previous.size:
            raise LedgerTampered(
                f"the ledger has {size} entries but a checkpoint signed {previous.size}: entries were deleted"
            )
        start = previous.size
        if start:
            last = session.get(LedgerEntry, start)
            if last is None:
                raise LedgerTampered(f"entry {start}, the last a checkpoint signed, is missing")
            prev_hash = last.hash
    # The links and the leaves only: each entry's contents against its hash are what the HMAC anchor checks
    # on every write and `ledger verify` checks whole, and re-hashing a million entries here would hold
    # the head's lock for minutes the first time a long ledger is signed.
    for entry in _hashes_after(session, start, size):
        seq, digest, prev = entry
        if seq != start + 1:
            raise LedgerTampered(f"not signed: entry {start + 1} is missing (the next is {seq})")
        if prev != prev_hash:
            raise LedgerTampered(f"not signed: entry {seq} does not follow the entry before it")
        recomputed, _ = merkle.extend(recomputed, start, leaf_hash(digest))
        start, prev_hash = seq, digest
    if start != size or recomputed != edge:
        raise LedgerTampered(f"not signed: the head's Merkle tree edge at {size} entries does not match the entries")


def _hashes_after(session: Session, start: int, size: int) -> Iterator[tuple[int, str, str]]:
    """(seq, hash, prev_hash) of entries start+1 .. size, in order, read in chunks."""
    while start < size:
        rows = session.execute(
            select(LedgerEntry.seq, LedgerEntry.hash, LedgerEntry.prev_hash)
            .where(LedgerEntry.seq > start, LedgerEntry.seq <= size)
            .order_by(LedgerEntry.seq)
            .limit(10_000)
        ).all()
        if not rows:
            return
        yield from ((int(seq), digest, prev) for seq, digest, prev in rows)
        start = int(rows[-1][0])


def _reader(session: Session) -> merkle.TreeReader:
    head = session.get(LedgerHead, 1)
    return merkle.TreeReader(session, head.seq if head else 0)


def inclusion_proof(deployment: Deployment, seq: int, size: int | None = None) -> dict[str, Any]:
    """RFC 9162 audit path of entry `seq` in the tree of `size` entries (default: all of them)."""
    with deployment.sessions() as session:
        reader = _reader(session)
        size = reader.size if size is None else size
        entry = session.get(LedgerEntry, seq)
        if entry is None:
            raise NotFound(f"no ledger entry {seq}")
        path = reader.inclusion_path(seq - 1, size)
        return {
            "seq": seq,
            "leaf_index": seq - 1,
            "tree_size": size,
            "entry_hash": entry.hash,
            "root_hash": reader.root(size).hex(),
            "audit_path": [h.hex() for h in path],
        }


def consistency_proof(deployment: Deployment, old: int, new: int | None = None) -> dict[str, Any]:
    """RFC 9162 proof that the tree of `new` entries extends the one of `old` entries."""
    with deployment.sessions() as session:
        reader = _reader(session)
        new = reader.size if new is None else new
        path = reader.consistency_path(old, new)
        return {
            "old_size": old,
            "new_size": new,
            "old_root": reader.root(old).hex(),
            "new_root": reader.root(new).hex(),
            "path": [h.hex() for h in path],
        }


def published_consistency_proof(deployment: Deployment, old: int, new: int) -> dict[str, Any]:
    """For anyone: a proof only between the sizes of checkpoints this log signed (what witnesses hold), so
    that the public learns nothing the published checkpoints do not already say (not the live size, not
    the root at every size, and so not every leaf)."""
    with deployment.sessions() as session:
        for size in {old, new} - {0}:
            if tree_heads.at_size(session, size) is None:
                raise NotFound(f"no checkpoint of {size} entries was signed; ask for a proof between signed ones")
    return consistency_proof(deployment, old, new)


def latest_checkpoint(deployment: Deployment) -> str:
    with deployment.sessions() as session:
        row = tree_heads.latest(session)
        if row is None:
            raise NotFound("no checkpoint has been signed yet (faceledger ledger checkpoint)")
        return row.note


def read_own_checkpoint(deployment: Deployment, text: str) -> Checkpoint:
    """A checkpoint someone holds, checked against this log's key and against the tree as stored now: if the
    tree at that size no longer has the root the checkpoint signed, the ledger was rewritten since."""
    try:
        checkpoint = Checkpoint.parse(text)
        checkpoint.require_signature(public_key(deployment))
    except VerificationFailed as exc:
        raise InvalidInput(f"the checkpoint does not verify: {exc}") from None
    with deployment.sessions() as session:
        reader = _reader(session)
        if checkpoint.size > reader.size:
            raise LedgerTampered(
                f"the checkpoint signed {checkpoint.size} entries; the ledger now has {reader.size}: "
                "entries were deleted"
            )
        if reader.root(checkpoint.size) != checkpoint.root:
            raise LedgerTampered(
                f"the ledger's first {checkpoint.size} entries no longer have the root this "
                "checkpoint signed: they were rewritten"
            )
    return checkpoint


def verify_tree(deployment: Deployment) -> list[str]:
    """The tree recomputed from the entries themselves, against every signed checkpoint (its signature and
    its root at its size) and the head's edge: what does not hold, in words (empty: all of it holds)."""
    try:
        key: VerifierKey | None = public_key(deployment)
    except KeyProblem:  # no key here: the roots are still checked; a witness checks the signatures
        key = None
    with deployment.sessions() as session:
        return tree_problems(session, key)


def tree_problems(session: Session, key: VerifierKey | None) -> list[str]:
    problems: list[str] = []
    signed = session.scalars(select(tree_heads.SignedCheckpoint).order_by(tree_heads.SignedCheckpoint.size))
    due = {row.size: row for row in signed}
    edge: list[bytes] = []
    size = 0
    for entry in entries_after(session, 0):
        if entry.seq != size + 1:
            break  # a gap: the hash chain check names it
        edge, _ = merkle.extend(edge, size, leaf_hash(entry.hash))
        size = entry.seq
        if size in due:
            problems.extend(_against(due.pop(size), edge, key))
    for row in due.values():
        problems.append(f"the checkpoint of {row.size} entries signs more entries than the ledger holds ({size})")
    head = session.get(LedgerHead, 1)
    if head is not None and head.seq == size and merkle.decode_frontier(head.tree, head.seq) != edge:
        problems.append("the head's Merkle tree edge does not match the entries")
    return problems


def _against(row: tree_heads.SignedCheckpoint, edge: list[bytes], key: VerifierKey | None) -> list[str]:
    root = merkle.edge_root(edge)
    try:
        checkpoint = Checkpoint.parse(row.note)
        if key is not None:
            checkpoint.require_signature(key)
    except VerificationFailed as exc:
        return [f"the checkpoint of {row.size} entries does not verify: {exc}"]
    if checkpoint.size != row.size or checkpoint.root != root:
        return [
            f"the checkpoint of {row.size} entries signed another tree than its entries give now: entries up "
            f"to {row.size} were rewritten since it was signed"
        ]
    return []


def sign_within(session: Session, deployment: Deployment) -> Issued | str:
    """A checkpoint signed inside the caller's transaction (a report or a disclosure that carries one, covering
    its own ledger entry), or why none could be signed; a refusal leaves the caller's transaction as it was."""
    try:
        with session.begin_nested():
            return sign_tree(session, deployment, signing_key(deployment, create=True))
    except (LedgerTampered, KeyProblem) as exc:
        return f"no signed checkpoint: {exc}"


def report_section(signed: Issued | str) -> dict[str, Any]:
    """What a published report says about the ledger it was made from."""
    if isinstance(signed, str):
        return {"problem": signed}
    return {
        "checkpoint": signed.checkpoint.text(),
        "size": signed.checkpoint.size,
        "root_hash": signed.checkpoint.root.hex(),
        "public_key": signed.key.text(),
        "how_to_check": "faceledger witness check --public-key KEY --checkpoint FILE (with the council's "
        "copy of the key); faceledger ledger consistency OLD NEW proves a later one extends "
        "it",
    }


def add_cosignatures(session: Session, deployment: Deployment, text: str) -> tuple[Checkpoint, list[str]]:
    """Keep the witnesses' cosignatures on a checkpoint this log signed, so that /checkpoints/latest and
    later reports serve it with them. The log cannot check a witness's line (it does not choose whose key
    to trust); a reader checks the lines of the witnesses it trusts. Returns the merged checkpoint and the
    names added."""
    try:
        given = Checkpoint.parse(text)
        given.require_signature(public_key(deployment))
    except VerificationFailed as exc:
        raise InvalidInput(f"the cosigned checkpoint does not verify: {exc}") from None
    row = tree_heads.at_size(session, given.size)
    if row is None or row.root_hash != given.root.hex():
        raise InvalidInput(f"this log signed no checkpoint of {given.size} entries with that root")
    stored = Checkpoint.parse(row.note)
    names = {name for name, _ in stored.signatures}
    added = [(name, sig) for name, sig in given.signatures if name not in names and len(sig) == 76]
    merged = stored
    for name, sig in added:
        merged = merged.with_signature(name, sig)
    row.note = merged.text()
    return merged, [name for name, _ in added]
