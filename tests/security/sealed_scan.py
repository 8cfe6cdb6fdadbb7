"""Scanning a data directory for bytes: as stored (sealed), and with the sealed index files opened, so a
deletion test still sees a vector left behind inside an encrypted index."""

from __future__ import annotations

from pathlib import Path

from faceledger.index.faiss_index import VECTORS_FILE
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.sealed import OVERHEAD_BYTES, IndexCodec, is_sealed


def stored_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def opened_index_bytes(deployment: Deployment) -> bytes:
    codec, opened, folder = IndexCodec(deployment.sealer), [], deployment.data_dir / "index"
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name == VECTORS_FILE:
            opened.append(_opened_rows(codec, path.relative_to(folder).as_posix(), path.read_bytes()))
        elif path.is_file():
            blob = path.read_bytes()  # each model's files are bound to its folder: index/<model>/<file>
            opened.append(codec.open(path.relative_to(folder).as_posix(), blob) if is_sealed(blob) else blob)
    return b"".join(opened)


def _opened_rows(codec: IndexCodec, name: str, data: bytes, dim: int = 128) -> bytes:
    """A vectors file is sealed row by row (index/vector_file.py): row i is face i's, zeros when absent."""
    row_bytes = 4 * dim + OVERHEAD_BYTES
    rows = (data[i : i + row_bytes] for i in range(0, len(data), row_bytes))
    return b"".join(codec.open(f"{name}#{i}", row) for i, row in enumerate(rows) if any(row))
