"""Probe staging: every probe byte held between receiving it and storing it (an upload, a step-one upload
waiting for its face or track to be chosen, decoded video frames, a chosen still) lives under
`<data dir>/staging` (0700, files 0600), never in the system's temporary folder, so a kill leaves nothing
outside the data directory and the deletion scans see it all.

Two kinds of entry, both shared by every server process on the data directory:
- `work-<hex>/`: one request's scratch folder, held with an exclusive flock on its `.lock` for as long as
  the request runs and removed when it ends, whatever the outcome. The kernel drops the lock when its
  process dies (kill -9 included), so a folder whose lock can be taken is abandoned and is swept.
- `kept-<token>/`: a step-one upload waiting for step two: the file and `meta.json` (the uploading user,
  kind, name, creation time). The token is unguessable; only its uploader can claim it, once (an atomic
  rename into the claimer's scratch folder); it expires after `staged_upload_ttl_s`.

`sweep` runs when a deployment opens and on requests (at most every few seconds per process): no timer."""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from faceledger.errors import NotFound
from faceledger.policy.governance import ActorView

if TYPE_CHECKING:  # deployment.py sweeps staging when it opens, so it imports this module
    from faceledger.services.runtime.deployment import Deployment

STAGING = "staging"
_LOCK = ".lock"
_META = "meta.json"
_FILE = "file"
_WORK = "work-"
_KEPT = "kept-"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_SERVERS = ".servers"  # every running server holds a shared lock on it
_SWEEP_EVERY_S = 5.0
_last_sweep: dict[Path, float] = {}


class StagedKind(StrEnum):
    PROBE = "probe"
    VIDEO = "video"


@dataclass(frozen=True)
class SweepReport:
    abandoned_work: int
    expired_uploads: int


def staging_root(data_dir: Path) -> Path:
    """The staging folder, created 0700 (and put back to 0700 if someone widened it)."""
    root = data_dir / STAGING
    root.mkdir(mode=0o700, exist_ok=True)
    if root.stat().st_mode & 0o077:
        root.chmod(0o700)
    return root


def private_file(path: Path) -> int:
    """A new file only its owner can read: the descriptor, opened for writing."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)


@contextmanager
def scratch(data_dir: Path) -> Iterator[Path]:
    """A private folder in staging for one piece of work, removed on every outcome."""
    folder, lock = _locked_folder(staging_root(data_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(lock)


def _locked_folder(root: Path) -> tuple[Path, int]:
    """A new scratch folder and its held lock. A sweep may take a folder in the instant before its lock is
    held; then the lock file is gone once the lock is ours, and we start again (the lock-file idiom)."""
    while True:
        folder = root / f"{_WORK}{secrets.token_hex(16)}"
        folder.mkdir(mode=0o700)
        try:
            lock = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # swept before the lock existed
            continue
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.fstat(lock).st_nlink > 0 and folder.is_dir():
            return folder, lock
        os.close(lock)


def keep(deployment: Deployment, actor: ActorView, path: Path, kind: StagedKind) -> str:
    """Move an upload (a file in a scratch folder) to wait for step two; the token that claims it."""
    root = staging_root(deployment.data_dir)
    token = secrets.token_urlsafe(32)
    built = path.parent / f"{_KEPT}{token}"  # assembled inside the locked scratch folder, then moved whole
    (built / _FILE).mkdir(mode=0o700, parents=True)  # the upload's own name can be anything, even meta.json
    built.chmod(0o700)
    os.replace(path, built / _FILE / path.name)
    meta = {"user_id": actor.id, "kind": kind.value, "name": path.name, "created": _now(deployment)}
    with os.fdopen(private_file(built / _META), "w") as out:
        json.dump(meta, out)
    os.replace(built, root / built.name)
    return token


@contextmanager
def claimed(deployment: Deployment, actor: ActorView, token: str, kind: StagedKind) -> Iterator[Path]:
    """The upload a token names, taken exactly once by its uploader and deleted whatever happens. Any other
    user, a second claim, a malformed or an expired token all get the same NotFound (no oracle)."""
    gone = NotFound(f"that upload has expired; upload the {kind.value} again")
    if not _TOKEN.fullmatch(token):
        raise gone
    root = staging_root(deployment.data_dir)
    kept = root / f"{_KEPT}{token}"
    meta = _meta(kept)
    if meta is None or meta.get("user_id") != actor.id or meta.get("kind") != kind.value:
        raise gone
    with scratch(deployment.data_dir) as folder:
        try:
            os.rename(kept, folder / "claimed")  # atomic: of two claims, one wins
        except OSError:
            raise gone from None
        if _expired(meta, deployment.settings.staged_upload_ttl_s, _now(deployment)):
            raise gone
        yield folder / "claimed" / _FILE / Path(str(meta["name"])).name


def discard(deployment: Deployment, actor: ActorView, token: str) -> None:
    """Delete a waiting upload of this user's (the person went back instead of searching)."""
    if _TOKEN.fullmatch(token):
        kept = staging_root(deployment.data_dir) / f"{_KEPT}{token}"
        meta = _meta(kept)
        if meta is not None and meta.get("user_id") == actor.id:
            shutil.rmtree(kept, ignore_errors=True)


def _meta(kept: Path) -> dict[str, object] | None:
    try:
        loaded = json.loads((kept / _META).read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _now(deployment: Deployment) -> float:
    """The deployment's time in epoch seconds, what `created` and `sweep` count in."""
    return deployment.clock.now().timestamp()


def _expired(meta: dict[str, object], ttl_s: float, now: float) -> bool:
    created = meta.get("created")
    return not isinstance(created, int | float) or now - created > ttl_s


def sweep(data_dir: Path, ttl_s: float, *, now: float, everything: bool = False) -> SweepReport:
    """Remove abandoned scratch folders (their process died) and step-one uploads expired at `now` (the
    deployment's time, epoch seconds; with `everything`, every step-one upload: no server that could be
    asked to claim one is running)."""
    root = data_dir / STAGING
    if not root.is_dir():
        return SweepReport(0, 0)
    abandoned = expired = 0
    for entry in root.iterdir():
        if entry.name.startswith(_WORK):
            abandoned += _sweep_work(entry)
        elif entry.name.startswith(_KEPT):
            meta = _meta(entry)  # a kept folder appears whole (a rename), so one without meta is damaged
            if everything or meta is None or _expired(meta, ttl_s, now):
                shutil.rmtree(entry, ignore_errors=True)
                expired += 1
        elif entry.name != _SERVERS:  # nothing else belongs here
            _remove(entry)
    return SweepReport(abandoned, expired)


def sweep_if_due(deployment: Deployment) -> None:
    """`sweep`, at most every few seconds per process: cheap enough to call on every request."""
    now = time.monotonic()
    if now - _last_sweep.get(deployment.data_dir, -_SWEEP_EVERY_S) >= _SWEEP_EVERY_S:
        _last_sweep[deployment.data_dir] = now
        sweep(deployment.data_dir, deployment.settings.staged_upload_ttl_s, now=_now(deployment))


def _sweep_work(folder: Path) -> int:
    """A scratch folder whose lock nobody holds (or that has none) belongs to no running request."""
    try:
        lock = os.open(folder / _LOCK, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        shutil.rmtree(folder, ignore_errors=True)
        return 1
    except OSError:
        return 0
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: its request is still running
        os.close(lock)
        return 0
    try:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(lock)
    return 1


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def serving(deployment: Deployment) -> Iterator[SweepReport]:
    """Held by a server process for its lifetime. The first one to start on a data directory (no other
    holds the lock) also drops every step-one upload left by servers that were stopped or killed;
    a server process started beside running ones (another worker) leaves theirs alone."""
    root = staging_root(deployment.data_dir)
    lock = os.open(root / _SERVERS, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except OSError:
            alone = False
        ttl_s = deployment.settings.staged_upload_ttl_s
        report = sweep(deployment.data_dir, ttl_s, now=_now(deployment), everything=alone)
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield report
    finally:
        os.close(lock)
