"""Ed25519 private keys on disk, for the log's checkpoint signer and for a witness: PEM (PKCS #8), created
0600 with O_EXCL, and refused when other users could read them or when they sit inside a folder whose
copies must not carry them (the data directory)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)


class KeyFileProblem(Exception):
    """A key file that must not be used, and why."""


def check_key_location(path: Path, forbidden: Path | None) -> None:
    if forbidden is None:
        return
    where, inside = path.absolute().resolve(), forbidden.absolute().resolve()
    if where == inside or where.is_relative_to(inside):
        raise KeyFileProblem(
            f"the signing key {path} is inside the data directory {forbidden}; keep it elsewhere "
            "(FACELEDGER_LEDGER_SIGNING_KEY), so that a copy of the data directory cannot "
            "sign"
        )


def load_key(path: Path, forbidden: Path | None = None) -> Ed25519PrivateKey | None:
    """The key at `path`, or None when there is no file there."""
    check_key_location(path, forbidden)
    if not path.is_file():
        return None
    if os.stat(path, follow_symlinks=False).st_nlink > 1:
        _clear_interrupted(path)  # a kill between linking the key into place and removing its temporary name
    try:  # checked on the open file itself, not on a name that could be swapped in between
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise KeyFileProblem(f"cannot open the signing key {path} (a symbolic link is refused): {exc}") from None
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        mode = stat.S_IMODE(status.st_mode)
        if mode & 0o077:
            raise KeyFileProblem(
                f"the signing key {path} can be read by other users (mode {mode:o}); run: chmod 600 {path}"
            )
        if status.st_uid != os.geteuid():
            raise KeyFileProblem(f"the signing key {path} belongs to another user (uid {status.st_uid})")
        if status.st_nlink != 1:
            raise KeyFileProblem(
                f"the signing key {path} has {status.st_nlink} names (hard links): a copy could "
                "sit inside the data directory; keep one"
            )
        data = handle.read()
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileProblem(f"the signing key {path} is damaged or not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileProblem(f"the signing key {path} is not an Ed25519 key")
    return key


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.new-"


def _clear_interrupted(path: Path) -> None:
    """Remove what a creation killed part-way left: a temporary file never linked (a key nothing signed
    with), or the temporary name of a key linked but not yet unlinked (the key itself stays)."""
    for leftover in path.parent.glob(_temp_prefix(path) + "*"):
        if leftover.is_file() and not leftover.is_symlink():
            leftover.unlink()


def create_key(path: Path, forbidden: Path | None = None) -> Ed25519PrivateKey:
    """A new key at `path` (its folder made 0700 if missing); an existing file is never overwritten.
    Written whole to a temporary file first and linked into place, so that a kill at any point leaves
    either no key or the whole key, never an empty or half-written one."""
    check_key_location(path, forbidden)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _clear_interrupted(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    descriptor, temp = tempfile.mkstemp(prefix=_temp_prefix(path), dir=path.parent)  # created 0600
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)  # fails rather than replace an existing key
        except FileExistsError:
            raise KeyFileProblem(f"{path} exists already; it is never overwritten") from None
    finally:
        Path(temp).unlink(missing_ok=True)
    _sync_folder(path.parent)
    return key


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load_or_create_key(path: Path, forbidden: Path | None = None) -> tuple[Ed25519PrivateKey, bool]:
    """The key at `path`, made first if there is none; whether it was made now."""
    existing = load_key(path, forbidden)
    return (existing, False) if existing is not None else (create_key(path, forbidden), True)
