"""A kill while the signing key is being made leaves no key or the whole key, never an empty one (which
used to stop all signing until someone removed it by hand)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from faceledger.transparency import keyfile


def _pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


class Killed(BaseException):
    """Stands for SIGKILL at that call: nothing after it in the creating code runs."""


class _DiesOnWrite:
    def __init__(self, descriptor: int, *_: object) -> None:
        self.descriptor = descriptor

    def __enter__(self) -> _DiesOnWrite:
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.descriptor)

    def write(self, data: bytes) -> int:
        os.write(self.descriptor, data[:10])  # part of the key reached the file
        raise Killed


@pytest.mark.parametrize("at", ["write", "fsync", "link"])
def test_a_creation_stopped_part_way_leaves_no_key_and_the_next_one_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: str
) -> None:
    path = tmp_path / "keys" / "ledger.ed25519"

    def killed(*_: object) -> None:
        raise Killed

    monkeypatch.setattr(
        os, {"write": "fdopen", "fsync": "fsync", "link": "link"}[at], _DiesOnWrite if at == "write" else killed
    )
    with pytest.raises(Killed):
        keyfile.create_key(path)
    monkeypatch.undo()
    assert not path.exists(), "no empty or partial key under the key's name"
    assert keyfile.load_key(path) is None
    made, created = keyfile.load_or_create_key(path)
    loaded = keyfile.load_key(path)
    assert created and loaded is not None and _public(loaded) == _public(made)


def test_a_key_never_linked_into_place_is_removed_when_the_next_one_is_made(tmp_path: Path) -> None:
    path = tmp_path / "ledger.ed25519"
    leftover = tmp_path / ".ledger.ed25519.new-abc123"
    leftover.write_bytes(_pem())  # what SIGKILL after the write and before the link leaves
    leftover.chmod(0o600)
    assert keyfile.load_key(path) is None
    keyfile.create_key(path)
    assert not leftover.exists(), "a private key nothing signed with is not left lying about"
    assert os.stat(path).st_nlink == 1


def test_a_key_linked_but_whose_temporary_name_stayed_is_used(tmp_path: Path) -> None:
    path = tmp_path / "ledger.ed25519"
    temporary = tmp_path / ".ledger.ed25519.new-abc123"
    temporary.write_bytes(_pem())
    temporary.chmod(0o600)
    os.link(temporary, path)  # SIGKILL after the link and before the temporary name was removed
    key = keyfile.load_key(path)
    assert key is not None and not temporary.exists() and os.stat(path).st_nlink == 1


def test_another_name_of_the_key_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.ed25519"
    keyfile.create_key(path)
    os.link(path, tmp_path / "copy-in-data-dir.ed25519")
    with pytest.raises(keyfile.KeyFileProblem, match="hard links"):
        keyfile.load_key(path)
