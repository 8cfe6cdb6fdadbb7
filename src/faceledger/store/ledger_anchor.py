"""The ledger's anchor outside the database: a small file in the keys folder recording the newest signed
checkpoint (number, entry, hash, MAC) and the newest head the server has seen (entry, hash).

A database cannot prove its own length: whoever deletes the newest entries together with their
checkpoints (and moves the head back) leaves a shorter chain that checks out. The anchor lives with the
keys, out of reach of someone who can only write the database, so verification can tell that entries or
checkpoints it once recorded are gone. It only ever moves forward; an anchor behind the database (a crash
between a commit and the anchor's write, a keys folder restored from backup) is a weaker lower bound,
never a false alarm. Witnesses (co-signed checkpoints held by others) generalise this."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from faceledger.errors import KeyProblem
from faceledger.store.keys import KeyFiles

ANCHOR = "ledger.anchor"
_LOCK = "ledger.anchor.lock"
_FORMAT = 1
_MAX_BYTES = 4096


@dataclass(frozen=True)
class Anchor:
    """What the keys folder last recorded. checkpoint_number 0: no numbered checkpoint signed yet."""

    checkpoint_number: int = 0
    checkpoint_seq: int = 0
    checkpoint_hash: str = ""
    checkpoint_mac: str = ""
    head_seq: int = 0
    head_hash: str = ""

    def advanced(self, other: Anchor) -> Anchor:
        """The newer of each part: an anchor never moves back."""
        newer = self
        if other.checkpoint_number > self.checkpoint_number:
            newer = replace(
                newer,
                checkpoint_number=other.checkpoint_number,
                checkpoint_seq=other.checkpoint_seq,
                checkpoint_hash=other.checkpoint_hash,
                checkpoint_mac=other.checkpoint_mac,
            )
        if other.head_seq > self.head_seq:
            newer = replace(newer, head_seq=other.head_seq, head_hash=other.head_hash)
        return newer


def anchor_path(keys: KeyFiles) -> Path:
    return keys.directory / ANCHOR


def read_anchor(keys: KeyFiles) -> Anchor | None:
    """The anchor, or None when there is none yet; KeyProblem when it is unsafe or damaged."""
    keys.check_location()
    path = anchor_path(keys)
    if not path.is_file():
        return None
    _check_private(path)
    try:
        text = path.read_bytes()[:_MAX_BYTES].decode()
        found: dict[str, Any] = json.loads(text)
        if found.pop("format") != _FORMAT:
            raise ValueError("unknown format")
        anchor = Anchor(**found)
        if not all(isinstance(v, int) for v in (anchor.checkpoint_number, anchor.checkpoint_seq, anchor.head_seq)):
            raise ValueError("numbers expected")
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise KeyProblem(f"the ledger anchor {path} is damaged ({exc}); restore it from the keys backup") from exc
    return anchor


def write_anchor(keys: KeyFiles, anchor: Anchor, *, durable: bool = True) -> None:
    """Replace the anchor atomically (temporary file, rename), 0600; fsynced when `durable` (a new
    checkpoint). A head-only move may skip it: losing it leaves the anchor behind, which is safe."""
    path = anchor_path(keys)
    temporary = path.with_name(f".{ANCHOR}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps({"format": _FORMAT, **asdict(anchor)}, sort_keys=True) + "\n")
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def anchor_lock(keys: KeyFiles) -> Iterator[None]:
    """One process at a time reads, checks and advances the anchor. Taken before any database lock, and
    never while one is held, so it cannot deadlock with the ledger head's lock."""
    descriptor = os.open(keys.directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyProblem(f"{path} can be written or read by other users (mode {mode:o}); run: chmod 600 {path}")
