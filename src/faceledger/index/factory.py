"""Open the configured vector index backend in a data directory."""

from __future__ import annotations

from pathlib import Path

from faceledger.config import Settings
from faceledger.index.base import DIM, BlobCodec, VectorIndex
from faceledger.index.exact import ExactIndex
from faceledger.index.faiss_index import FaissIndex
from faceledger.types import IndexBackend


def open_index(
    backend: IndexBackend,
    folder: Path,
    settings: Settings,
    codec: BlobCodec | None = None,
    collection: str | None = None,
    dim: int = DIM,
) -> VectorIndex:
    """`codec` seals the saved exact and FAISS files. Milvus keeps its vectors itself (a server, or Milvus
    Lite's own database file): they are not sealed by faceledger; see the README."""
    if backend is IndexBackend.EXACT:
        return ExactIndex(folder, codec, dim)
    if backend is IndexBackend.FAISS:
        return FaissIndex(
            folder, ivf_min_faces=settings.faiss_ivf_min_faces, nprobe=settings.faiss_nprobe, codec=codec, dim=dim
        )
    from faceledger.index.milvus_index import MilvusIndex  # pymilvus is heavy: import only when chosen

    if collection is None:
        return MilvusIndex(settings.milvus_uri or str(folder / "milvus.db"), folder, dim=dim)
    return MilvusIndex(settings.milvus_uri or str(folder / "milvus.db"), folder, collection=collection, dim=dim)
