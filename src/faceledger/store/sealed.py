"""Biometric data at rest (thumbnails, probes, embeddings, index files), sealed with AES-256-GCM.

A sealed blob is `FLS` + a format byte, a fresh 96-bit nonce, then the ciphertext with its tag. The
associated data binds each blob to what it is (its role and its name: a file's path under the data
directory, a face's thumbnail path), so a blob copied over another is refused, not shown as the wrong
face. The key is the deployment's `data.key`, kept outside the data directory (store/keys.py). A wrong
key, a changed byte or a swapped blob all fail the tag check, and are reported as a KeyProblem, never
returned as garbage. Plain (pre-encryption) data is refused too: services/runtime/at_rest.py seals it once."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faceledger.errors import KeyProblem

HEADER = b"FLS\x01"  # magic + format version 1 (AES-256-GCM, 12-byte nonce, 16-byte tag)
NONCE_BYTES = 12
TAG_BYTES = 16
OVERHEAD_BYTES = len(HEADER) + NONCE_BYTES + TAG_BYTES
FILE_MODE = 0o600
DIR_MODE = 0o700


class Role(StrEnum):
    """What a blob is; part of the associated data, so a thumbnail cannot pass for a probe."""

    THUMBNAIL = "thumbnail"
    PROBE = "probe"
    FACE_EMBEDDING = "face-embedding"
    OPTOUT_EMBEDDING = "optout-embedding"
    INDEX = "index"


def is_sealed(blob: bytes) -> bool:
    return blob[: len(HEADER)] == HEADER and len(blob) >= OVERHEAD_BYTES


def optout_embedding_name(request_id: int, model_key: str) -> str:
    return f"optout-request-{request_id}/{model_key}"


class Sealer:
    """Seals and opens blobs with one deployment's data key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise KeyProblem(f"the data key must be 32 bytes (AES-256), not {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, role: Role, name: str, data: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return HEADER + nonce + self._aead.encrypt(nonce, data, _associated(role, name))

    def open(self, role: Role, name: str, blob: bytes) -> bytes:
        if not is_sealed(blob):
            raise KeyProblem(
                f"the {role} {name!r} is not sealed (plain data from before encryption at rest, or not "
                "faceledger's); run: faceledger seal-data"
            )
        nonce, body = blob[len(HEADER) : len(HEADER) + NONCE_BYTES], blob[len(HEADER) + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, _associated(role, name))
        except InvalidTag as exc:
            raise KeyProblem(
                f"the {role} {name!r} cannot be decrypted: the data key is not the one it was sealed with, "
                "or the stored bytes were changed or swapped"
            ) from exc

    def write_file(self, path: Path, role: Role, name: str, data: bytes) -> None:
        """Seal `data` into `path` (0600, folders 0700), whole or not at all."""
        write_private(path, self.seal(role, name, data))

    def read_file(self, path: Path, role: Role, name: str) -> bytes:
        return self.open(role, name, path.read_bytes())


class IndexCodec:
    """The index layer's BlobCodec: index files sealed under the INDEX role, bound to their file name."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    def seal(self, name: str, data: bytes) -> bytes:
        return self._sealer.seal(Role.INDEX, name, data)

    def open(self, name: str, blob: bytes) -> bytes:
        return self._sealer.open(Role.INDEX, name, blob)

    def is_sealed(self, blob: bytes) -> bool:
        return is_sealed(blob)


def _associated(role: Role, name: str) -> bytes:
    return HEADER + role.value.encode() + b"\x00" + name.encode()


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, through a temporary name and a rename."""
    private_folder(path.parent)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, FILE_MODE)  # O_CREAT's mode does not apply to a leftover temporary file
    os.replace(temporary, path)


def private_folder(folder: Path) -> None:
    """Make `folder` and any missing parents 0700 (mkdir's `parents` would give those the default mode)."""
    if folder.is_dir():
        return
    private_folder(folder.parent)
    folder.mkdir(mode=DIR_MODE, exist_ok=True)
    os.chmod(folder, DIR_MODE)


def make_private(folder: Path) -> None:
    """Folders 0700 and files 0600 under `folder` (and itself): for data written before this rule."""
    if not folder.exists():
        return
    os.chmod(folder, DIR_MODE)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(Path(root) / name, DIR_MODE)
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                os.chmod(path, FILE_MODE)
