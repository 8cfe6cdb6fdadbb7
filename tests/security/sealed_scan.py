"""Scanning a data directory for bytes: as stored (sealed), and with the sealed index files opened, so a
deletion test still sees a vector left behind inside an encrypted index."""

from __future__ import annotations

from pathlib import Path

from faceledger.services.deployment import Deployment
from faceledger.store.sealed import IndexCodec, is_sealed


def stored_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def opened_index_bytes(deployment: Deployment) -> bytes:
    codec, opened, folder = IndexCodec(deployment.sealer), [], deployment.data_dir / "index"
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            blob = path.read_bytes()  # each model's files are bound to its folder: index/<model>/<file>
            opened.append(codec.open(path.relative_to(folder).as_posix(), blob) if is_sealed(blob) else blob)
    return b"".join(opened)
