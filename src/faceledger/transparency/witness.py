"""A witness: keeps the last checkpoint of a log it accepted and accepts a new one only if the log's key
signed it and a consistency proof joins the two; then cosigns it (C2SP tlog-cosignature v1) with its own
Ed25519 key. A rollback, a fork or a bad signature is refused and the state is left as it was.

It needs no deployment and nothing but this package (standard library, `cryptography`): a council
clerk, an auditor or a newspaper can run one on their own machine, from files or from the log's API."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceledger.transparency.keyfile import KeyFileProblem, load_or_create_key
from faceledger.transparency.verify import (
    ED25519_COSIGNATURE,
    Checkpoint,
    VerificationFailed,
    VerifierKey,
    check_consistency_proof,
    cosign,
    verifier_key,
)

KEY_FILE = "witness.ed25519"
NAME_FILE = "name.txt"
LAST_FILE = "last-checkpoint.txt"
LOCK_FILE = ".lock"
_MAX_RESPONSE = 1024 * 1024  # a checkpoint or a proof is a few kilobytes


class WitnessRefused(Exception):
    """The new checkpoint was not accepted; the message says why in one line."""


@dataclass(frozen=True)
class Accepted:
    checkpoint: Checkpoint  # the new checkpoint with the witness's cosignature added
    previous_size: int | None  # None: the first checkpoint this witness saw of the log
    witness_key: VerifierKey


@dataclass(frozen=True)
class WitnessState:
    folder: Path

    def key(self, name: str | None) -> tuple[VerifierKey, Any]:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        name_file = self.folder / NAME_FILE
        if name_file.is_file():
            stored = name_file.read_text().strip()
            if name is not None and name != stored:
                raise WitnessRefused(f"this witness is named {stored!r}; a state folder holds one witness")
            name = stored
        else:
            name = name or f"witness.invalid/{socket.gethostname()}"
            name_file.write_text(name + "\n")
        try:
            private, _ = load_or_create_key(self.folder / KEY_FILE)
        except KeyFileProblem as exc:
            raise WitnessRefused(str(exc)) from None
        return verifier_key(name, private, ED25519_COSIGNATURE), private

    def last(self) -> Checkpoint | None:
        path = self.folder / LAST_FILE
        if not path.is_file():
            return None
        try:
            return Checkpoint.parse(path.read_text())
        except VerificationFailed as exc:
            raise WitnessRefused(f"the witness's own last checkpoint {path} is damaged: {exc}") from None

    def keep(self, checkpoint: Checkpoint) -> None:
        path = self.folder / LAST_FILE
        temporary = path.with_suffix(".tmp")
        with temporary.open("w") as handle:
            handle.write(checkpoint.text())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)  # a crash leaves the old state or the new, never half of one

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One check at a time: two runs reading the same last checkpoint could each cosign one side of a fork."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (self.folder / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def check(
    state: WitnessState,
    log_key: VerifierKey,
    new: Checkpoint,
    proof: dict[str, Any] | None,
    name: str | None = None,
    now: int | None = None,
) -> Accepted:
    """Accept `new` after the last accepted checkpoint (with `proof` from its size to the new one)."""
    with state.locked():
        return _check(state, log_key, new, proof, name, now)


def _check(
    state: WitnessState,
    log_key: VerifierKey,
    new: Checkpoint,
    proof: dict[str, Any] | None,
    name: str | None,
    now: int | None,
) -> Accepted:
    witness_key, private = state.key(name)
    try:
        new.require_signature(log_key)
    except VerificationFailed as exc:
        raise WitnessRefused(f"refused: bad signature: {exc}") from None
    last = state.last()
    if last is not None:
        if last.origin != new.origin:
            raise WitnessRefused(f"refused: this witness follows the log {last.origin!r}, not {new.origin!r}")
        if new.size < last.size:
            raise WitnessRefused(
                f"refused: rollback: the new checkpoint has {new.size} entries, the one accepted before has {last.size}"
            )
        if new.size == last.size and new.root != last.root:
            raise WitnessRefused(f"refused: fork: two different trees of {new.size} entries")
        if new.size > last.size:
            if proof is None:
                raise WitnessRefused(f"refused: no consistency proof from {last.size} to {new.size} entries")
            try:
                check_consistency_proof(proof, last, new)
            except VerificationFailed as exc:
                raise WitnessRefused(
                    f"refused: fork: the checkpoint of {new.size} entries does not extend the "
                    f"one of {last.size} accepted before ({exc})"
                ) from None
    stamp = int(time.time()) if now is None else now
    cosigned = cosign(new, witness_key, private, stamp)
    state.keep(cosigned)
    return Accepted(cosigned, None if last is None else last.size, witness_key)


def fetch(url: str, path: str, query: dict[str, int] | None = None, token: str | None = None) -> bytes:
    """GET `path` under the log's API base URL (http or https only), at most _MAX_RESPONSE bytes."""
    base = url.rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        raise WitnessRefused(f"{url}: the log's URL must be http:// or https://")
    full = f"{base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    request = urllib.request.Request(full, headers={"Authorization": f"Bearer {token}"} if token else {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the scheme is checked above
            body: bytes = response.read(_MAX_RESPONSE + 1)
    except OSError as exc:
        raise WitnessRefused(f"cannot reach the log at {full}: {exc}") from None
    if len(body) > _MAX_RESPONSE:
        raise WitnessRefused(f"{full}: the answer is larger than any checkpoint or proof")
    return body


def from_url(state: WitnessState, log_key: VerifierKey, url: str, name: str | None = None) -> Accepted:
    """Fetch the log's latest checkpoint and the proof from the last accepted one, then check (all under
    the state's lock, so the proof is from the checkpoint that is still the last one)."""
    with state.locked():
        try:
            new = Checkpoint.parse(fetch(url, "/api/v1/ledger/checkpoints/latest").decode())
        except (VerificationFailed, UnicodeDecodeError) as exc:
            raise WitnessRefused(f"the log's latest checkpoint is not a checkpoint: {exc}") from None
        last = state.last()
        proof = None
        if last is not None and new.size > last.size:
            query = {"old": last.size, "new": new.size}
            try:
                proof = json.loads(fetch(url, "/api/v1/ledger/proofs/consistency", query))
            except (WitnessRefused, json.JSONDecodeError) as exc:
                raise WitnessRefused(
                    f"refused: the log gives no consistency proof from the {last.size} entries "
                    f"accepted before to its {new.size}: a log that was rewritten has none "
                    f"({exc})"
                ) from None
        return _check(state, log_key, new, proof, name, None)
