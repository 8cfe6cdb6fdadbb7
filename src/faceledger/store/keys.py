"""Secret keys kept outside the data directory: the ledger's checkpoint key and the key that encrypts
biometric data at rest. Someone who can copy or rewrite the data directory (a backup, a database dump)
must not get the keys with it, so a keys folder inside the data directory is refused, and so is a key
that other users could read.

The folder is `Settings.keys_dir`, or by default a sibling of the data directory named
`<data dir>.keys`. Back it up separately from the data directory: without `data.key` the encrypted
probes, thumbnails and embeddings cannot be read, and without `ledger.key` no checkpoint can be checked."""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from faceledger.errors import KeyProblem

LEDGER_KEY = "ledger.key"
DATA_KEY = "data.key"
SIGNING_KEY = "ledger-signing.ed25519"  # the Ed25519 checkpoint key (transparency/keyfile.py reads it)
_KEY_BYTES = 32


def default_keys_dir(data_dir: Path) -> Path:
    return data_dir.parent / f"{data_dir.name}.keys"


@dataclass(frozen=True)
class KeyFiles:
    """The keys folder of one deployment."""

    directory: Path
    data_dir: Path

    @classmethod
    def for_deployment(cls, keys_dir: Path | None, data_dir: Path) -> KeyFiles:
        return cls((keys_dir or default_keys_dir(data_dir)).absolute(), data_dir.absolute())

    def check_location(self) -> None:
        """Refuse a keys folder inside the data directory (or the data directory inside it)."""
        folder, data = self.directory.resolve(), self.data_dir.resolve()
        if folder == data or folder.is_relative_to(data):
            raise KeyProblem(
                f"the keys folder {self.directory} is inside the data directory; keep keys elsewhere "
                "(FACELEDGER_KEYS_DIR), so that a copy of the data directory does not carry them"
            )

    def create(self) -> None:
        """Make the folder (0700) and any missing key (0600); existing keys are kept as they are."""
        self.check_location()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._check_private(self.directory)
        for name in (LEDGER_KEY, DATA_KEY):
            path = self.directory / name
            if path.exists():
                continue
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(_KEY_BYTES) + "\n")

    def signing_key_path(self, configured: Path | None) -> Path:
        """Where the Ed25519 checkpoint key is: Settings.ledger_signing_key, else in this folder."""
        return configured or self.directory / SIGNING_KEY

    def ledger_key(self) -> bytes | None:
        """The checkpoint key, or None when it is missing (verification then reports 'unverifiable')."""
        return self._read(LEDGER_KEY, required=False)

    def data_key(self) -> bytes:
        """The at-rest encryption key; its absence is an error, never a silent switch to plain text."""
        key = self._read(DATA_KEY, required=True)
        if key is None:  # pragma: no cover - _read raises first
            raise KeyProblem(f"the key {self.directory / DATA_KEY} is missing")
        return key

    def _read(self, name: str, *, required: bool) -> bytes | None:
        self.check_location()
        path = self.directory / name
        if not path.is_file():
            if required:
                raise KeyProblem(f"the key {path} is missing; restore it from the keys backup")
            return None
        self._check_private(self.directory)
        self._check_private(path)
        try:
            key = bytes.fromhex(path.read_text().strip())
        except ValueError as exc:
            raise KeyProblem(f"the key {path} is damaged: it is not hexadecimal") from exc
        if len(key) != _KEY_BYTES:
            raise KeyProblem(f"the key {path} is damaged: {len(key)} bytes instead of {_KEY_BYTES}")
        return key

    @staticmethod
    def _check_private(path: Path) -> None:
        mode = path.stat().st_mode
        if stat.S_IMODE(mode) & 0o077:
            raise KeyProblem(
                f"{path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
                f"run: chmod {'700' if path.is_dir() else '600'} {path}"
            )
