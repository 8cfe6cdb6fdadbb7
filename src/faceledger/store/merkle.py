"""The ledger's Merkle tree (RFC 9162), kept in the database as entries are appended.

Leaf i is SHA-256(0x00 || entry i+1's hash); a node is SHA-256(0x01 || left || right). Every complete
(power-of-two) subtree above the leaves is stored once, when its last leaf is appended, in
`ledger_tree_nodes` (level, index); the leaves themselves are the entries' hashes. The head row keeps the
roots of the complete subtrees along the right edge (at most log2 n), so an append costs one new leaf and,
on average, one stored node, and the current root needs no read at all. Any subtree the RFC's proofs ask
for is a stored node or is folded from O(log n) of them, so proofs cost O(log^2 n) lookups at any size.

Why not pymerkle: its trees keep subroots in a per-process memory cache and recompute them from every leaf
otherwise, which a command-line process or a fresh server worker would do at each proof (a million leaves
read from the database), and its proofs are in its own layout rather than RFC 9162's audit paths, which
an outside verifier (transparency/verify.py, standard library only) checks as the RFC specifies. The
tests check this tree's roots against pymerkle's and the proofs against a reference written in the test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from sqlalchemy import BigInteger, Integer, String, and_, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from faceledger.errors import InvalidInput, LedgerTampered
from faceledger.store.models import Base
from faceledger.transparency.verify import empty_root, leaf_hash, node_hash


class LedgerTreeNode(Base):
    """The root of the complete subtree of 2^level leaves starting at leaf index * 2^level (level >= 1)."""

    __tablename__ = "ledger_tree_nodes"
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))


def extend(frontier: list[bytes], size: int, leaf: bytes) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append `leaf` as leaf number `size` to a tree whose right edge is `frontier`: the new edge and the
    complete subtrees (level, index, hash) the leaf completes."""
    edge, carry, level, index, done = list(frontier), leaf, 0, size, []
    while index & 1:
        carry = node_hash(edge.pop(), carry)
        level, index = level + 1, index >> 1
        done.append((level, index, carry))
    edge.append(carry)
    return edge, done


def edge_root(frontier: list[bytes]) -> bytes:
    if not frontier:
        return empty_root()
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root


def encode_frontier(frontier: list[bytes]) -> str:
    return json.dumps([h.hex() for h in frontier])


def decode_frontier(text: str | None, size: int) -> list[bytes]:
    frontier = [bytes.fromhex(h) for h in json.loads(text)] if text else []
    if len(frontier) != bin(size).count("1"):
        raise LedgerTampered(
            f"the ledger head's tree edge has {len(frontier)} subtrees; {size} entries need {bin(size).count('1')}"
        )
    return frontier


def store_nodes(session: Session, nodes: Iterable[tuple[int, int, bytes]]) -> None:
    session.add_all(LedgerTreeNode(level=level, index=index, hash=digest.hex()) for level, index, digest in nodes)


def _largest_power_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


class TreeReader:
    """Subtree hashes of the stored tree, read as the proofs need them (cached for one proof)."""

    def __init__(self, session: Session, size: int) -> None:
        self._session, self.size, self._cache = session, size, dict[tuple[int, int], bytes]()

    def _node(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._cache:
            if level == 0:
                self._cache[key] = self._leaves([index])[index]
            else:
                row = self._session.get(LedgerTreeNode, (level, index))
                if row is None:
                    raise LedgerTampered(f"the ledger's Merkle tree lacks the node at level {level}, index {index}")
                self._cache[key] = bytes.fromhex(row.hash)
        return self._cache[key]

    def _leaves(self, indexes: list[int]) -> dict[int, bytes]:
        from faceledger.store.ledger import LedgerEntry  # the entries' own module imports this one

        rows = self._session.execute(
            select(LedgerEntry.seq, LedgerEntry.hash).where(LedgerEntry.seq.in_([i + 1 for i in indexes]))
        ).all()
        found = {seq - 1: leaf_hash(digest) for seq, digest in rows}
        missing = sorted(set(indexes) - set(found))
        if missing:
            raise LedgerTampered(f"ledger entry {missing[0] + 1} is missing from the tree's leaves")
        return found

    def prefetch(self, spans: Iterable[tuple[int, int]]) -> None:
        """Read the stored nodes of many complete subtrees (start, width) in one query."""
        wanted = {(w.bit_length() - 1, s >> (w.bit_length() - 1)) for s, w in spans if w & (w - 1) == 0}
        wanted -= set(self._cache)
        inner = [key for key in wanted if key[0] > 0]
        if inner:  # an OR of primary-key lookups: SQLite would scan the table for a row-value IN list
            matches = or_(*(and_(LedgerTreeNode.level == lv, LedgerTreeNode.index == ix) for lv, ix in inner))
            for row in self._session.scalars(select(LedgerTreeNode).where(matches)):
                self._cache[(row.level, row.index)] = bytes.fromhex(row.hash)
        leaves = [index for level, index in wanted if level == 0]
        if leaves:
            self._cache.update({(0, i): digest for i, digest in self._leaves(leaves).items()})

    def subtree(self, start: int, width: int) -> bytes:
        """MTH(D[start:start+width]); RFC 9162's recursion only ever asks for aligned spans."""
        if width & (width - 1) == 0:
            level = width.bit_length() - 1
            return self._node(level, start >> level)
        k = _largest_power_below(width)
        return node_hash(self.subtree(start, k), self.subtree(start + k, width - k))

    def root(self, size: int) -> bytes:
        self._check_size(size)
        return self.subtree(0, size) if size else empty_root()

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise InvalidInput(f"the ledger has {self.size} entries; there is no tree of size {size}")

    def inclusion_path(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 2.1.3.1 PATH(index, D[0:size])."""
        self._check_size(size)
        if not 0 <= index < size:
            raise InvalidInput(f"entry {index + 1} is not in the tree of {size} entries")
        spans = _inclusion_spans(index, 0, size)
        self.prefetch(_covering(spans))
        return [self.subtree(start, width) for start, width in spans]

    def consistency_path(self, old: int, new: int) -> list[bytes]:
        """RFC 9162 2.1.4.1 PROOF(old, D[0:new]); empty when old is 0 or old == new."""
        self._check_size(new)
        if not 0 <= old <= new:
            raise InvalidInput(f"a tree of {new} entries cannot extend one of {old}")
        if old in (0, new):
            return []
        spans = _consistency_spans(old, 0, new, True)
        self.prefetch(_covering(spans))
        return [self.subtree(start, width) for start, width in spans]


def _inclusion_spans(m: int, start: int, n: int) -> list[tuple[int, int]]:
    if n == 1:
        return []
    k = _largest_power_below(n)
    if m < k:
        return [*_inclusion_spans(m, start, k), (start + k, n - k)]
    return [*_inclusion_spans(m - k, start + k, n - k), (start, k)]


def _consistency_spans(m: int, start: int, n: int, whole: bool) -> list[tuple[int, int]]:
    if m == n:
        return [] if whole else [(start, n)]
    k = _largest_power_below(n)
    if m <= k:
        return [*_consistency_spans(m, start, k, whole), (start + k, n - k)]
    return [*_consistency_spans(m - k, start + k, n - k, False), (start, k)]


def _covering(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The complete subtrees the spans fold from (a span of 2^j is itself one)."""
    out: list[tuple[int, int]] = []
    for first, span in spans:
        at, left = first, span
        while left:
            part = left if left & (left - 1) == 0 else _largest_power_below(left)
            out.append((at, part))
            at, left = at + part, left - part
    return out


def rebuild(
    entry_hashes: Iterable[str], store: Callable[[list[tuple[int, int, bytes]]], None], batch: int = 5_000
) -> tuple[list[bytes], int]:
    """Build the tree over existing entries (the migration, and `ledger verify`'s recomputation): the
    right edge and the size; `store` receives the completed nodes in batches."""
    frontier: list[bytes] = []
    size, pending = 0, []
    for digest in entry_hashes:
        frontier, done = extend(frontier, size, leaf_hash(digest))
        size += 1
        pending.extend(done)
        if len(pending) >= batch:
            store(pending)
            pending = []
    if pending:
        store(pending)
    return frontier, size
