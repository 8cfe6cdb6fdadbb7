"""The ledger's Merkle tree against an independent reference written here (RFC 9162's recursive
definitions, leaf by leaf) and against pymerkle's roots, on SQLite and PostgreSQL: every tree size 1..200,
inclusion and consistency proofs, and the verifier refusing tampered proofs."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

import pytest
from sqlalchemy import text

from faceledger.errors import InvalidInput
from faceledger.services.oversight import transparency
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger, merkle
from faceledger.store.db import transaction
from faceledger.store.events import EventName
from faceledger.store.ledger import LedgerHead
from faceledger.transparency.verify import (
    VerificationFailed,
    check_inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

SIZES = 200


# --- the reference: RFC 9162 section 2.1, straight from its recursive definitions -----------------------
def ref_leaf(entry_hash: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash)).digest()


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = ref_k(len(leaves))
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = ref_k(len(leaves))
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [ref_mth(leaves)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], whole), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


# --- a real ledger of SIZES entries ----------------------------------------------------------------------
@pytest.fixture
def filled(make_deployment: Callable[..., Deployment]) -> tuple[Deployment, list[str]]:
    deployment = make_deployment()
    with transaction(deployment.sessions) as session:
        for i in range(SIZES):
            ledger.write_entry(session, ledger.SYSTEM, EventName.SEARCH, details={"i": i})
    with deployment.sessions() as session:
        hashes = [e.hash for e in ledger.entries(session, limit=SIZES + 10)]
    assert len(hashes) == SIZES
    return deployment, hashes


def _checked(n: int) -> list[int]:
    """Which leaves (or old sizes) to check in a tree of n: all of them in small trees, a spread in large."""
    if n <= 40:
        return list(range(n))
    picks = {0, 1, n // 2, n - 2, n - 1, *random.Random(n).sample(range(n), 6)}
    return sorted(picks)


def test_roots_and_proofs_of_every_size_match_the_reference(filled: tuple[Deployment, list[str]]) -> None:
    deployment, hashes = filled
    leaves = [ref_leaf(h) for h in hashes]
    with deployment.sessions() as session:
        reader = merkle.TreeReader(session, SIZES)
        for n in range(1, SIZES + 1):
            root = reader.root(n)
            assert root == ref_mth(leaves[:n]), f"root of size {n}"
            for m in _checked(n):
                path = reader.inclusion_path(m, n)
                assert path == ref_path(m, leaves[:n]), f"inclusion path of leaf {m} in size {n}"
                verify_inclusion(m, n, leaf_hash(hashes[m]), path, root)
            for old in _checked(n):
                if old == 0:
                    continue
                proof = reader.consistency_path(old, n)
                assert proof == (ref_subproof(old, leaves[:n], True) if old < n else []), (old, n)
                verify_consistency(old, n, ref_mth(leaves[:old]), root, proof)
        head = session.get(LedgerHead, 1)
        assert head is not None
        assert merkle.edge_root(merkle.decode_frontier(head.tree, head.seq)) == ref_mth(leaves)


def test_roots_agree_with_pymerkle(filled: tuple[Deployment, list[str]]) -> None:
    from pymerkle import InmemoryTree

    deployment, hashes = filled
    other = InmemoryTree(algorithm="sha256")
    with deployment.sessions() as session:
        reader = merkle.TreeReader(session, SIZES)
        for n, digest in enumerate(hashes, start=1):
            other.append_entry(bytes.fromhex(digest))
            assert reader.root(n) == other.get_root(n), f"size {n}"


def test_a_tampered_proof_or_entry_fails(filled: tuple[Deployment, list[str]]) -> None:
    deployment, hashes = filled
    proof = transparency.inclusion_proof(deployment, 77, 150)
    root = bytes.fromhex(proof["root_hash"])
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    verify_inclusion(76, 150, leaf_hash(hashes[76]), path, root)
    for i in range(len(path)):  # any flipped bit anywhere in the path
        bad = list(path)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(VerificationFailed):
            verify_inclusion(76, 150, leaf_hash(hashes[76]), bad, root)
    with pytest.raises(VerificationFailed):  # another entry's hash, or the right one at the wrong place
        verify_inclusion(76, 150, leaf_hash(hashes[77]), path, root)
    with pytest.raises(VerificationFailed):
        verify_inclusion(77, 150, leaf_hash(hashes[76]), path, root)
    with pytest.raises(VerificationFailed):  # a path cut short or padded
        verify_inclusion(76, 150, leaf_hash(hashes[76]), path[:-1], root)
    consistency = transparency.consistency_proof(deployment, 61, 190)
    old, new = bytes.fromhex(consistency["old_root"]), bytes.fromhex(consistency["new_root"])
    steps = [bytes.fromhex(h) for h in consistency["path"]]
    verify_consistency(61, 190, old, new, steps)
    with pytest.raises(VerificationFailed, match="rewritten or forked"):
        verify_consistency(61, 190, old, new, [steps[0], bytes(32), *steps[2:]])
    with pytest.raises(VerificationFailed, match="rolled back"):
        verify_consistency(190, 61, new, old, steps)
    with pytest.raises(VerificationFailed, match="forked"):
        verify_consistency(61, 61, old, new, [])


def test_a_rewritten_entry_no_longer_has_its_place_in_the_tree(filled: tuple[Deployment, list[str]]) -> None:
    """An entry rewritten in the database gives another leaf: its proof no longer reaches the signed root,
    and the tree recomputed from the entries names the checkpoint it breaks."""
    deployment, _ = filled
    signed = transparency.issue_checkpoint(deployment).checkpoint
    assert transparency.verify_tree(deployment) == []
    with transaction(deployment.sessions) as session:
        session.execute(text("UPDATE ledger_entries SET hash = :h WHERE seq = 5"), {"h": "ab" * 32})
    proof = transparency.inclusion_proof(deployment, 5, signed.size)
    with pytest.raises(VerificationFailed, match="does not lead to the root"):
        check_inclusion_proof(proof, signed, "ab" * 32)
    problems = transparency.verify_tree(deployment)
    assert problems and f"the checkpoint of {SIZES} entries" in problems[0], problems


def test_bad_requests_are_named(filled: tuple[Deployment, list[str]]) -> None:
    deployment, _ = filled
    with pytest.raises(InvalidInput, match="no tree of size 201"):
        transparency.inclusion_proof(deployment, 3, 201)
    with pytest.raises(InvalidInput, match="entry 9 is not in the tree of 8"):
        transparency.inclusion_proof(deployment, 9, 8)
    with pytest.raises(InvalidInput, match="cannot extend"):
        transparency.consistency_proof(deployment, 9, 8)
