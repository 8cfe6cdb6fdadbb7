"""Open the configured vector index backend in a data directory."""

from __future__ import annotations

from pathlib import Path

from faceledger.config import Settings
from faceledger.index.base import VectorIndex
from faceledger.index.exact import ExactIndex
from faceledger.index.faiss_index import FaissIndex
from faceledger.types import IndexBackend


def open_index(backend: IndexBackend, folder: Path, settings: Settings) -> VectorIndex:
    if backend is IndexBackend.EXACT:
        return ExactIndex(folder)
    if backend is IndexBackend.FAISS:
        return FaissIndex(folder, ivf_min_faces=settings.faiss_ivf_min_faces, nprobe=settings.faiss_nprobe)
    from faceledger.index.milvus_index import MilvusIndex  # pymilvus is heavy: import only when chosen

    return MilvusIndex(settings.milvus_uri or str(folder / "milvus.db"), folder)
