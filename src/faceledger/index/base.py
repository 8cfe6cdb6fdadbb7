"""The one protocol every vector index backend follows, and what it returns."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from faceledger.errors import InvalidInput
from faceledger.types import IndexBackend

__all__ = ["DIM", "Hits", "Ids", "IndexBackend", "VectorIndex", "Vectors"]

Ids = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]
DIM = 128


@dataclass(frozen=True)
class Hits:
    """Per query, the nearest ids (-1 where fewer exist) and their Euclidean distances, nearest first."""

    ids: Ids  # (queries, k)
    distances: npt.NDArray[np.float32]  # (queries, k)


class VectorIndex(Protocol):
    backend: IndexBackend

    def add(self, ids: Ids, vectors: Vectors) -> None: ...

    def remove(self, ids: Ids) -> int: ...

    def search(self, queries: Vectors, k: int) -> Hits: ...

    def ids(self) -> Ids: ...

    def count(self) -> int: ...

    def save(self, gallery_version: int) -> None: ...

    def saved_version(self) -> int | None: ...

    def stored_version(self) -> int | None:
        """The gallery version the files on disk reflect now (another process may have saved since)."""
        ...


def check_vectors(ids: Ids, vectors: Vectors) -> tuple[Ids, Vectors]:
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != DIM:
        raise InvalidInput(f"vectors must be n x {DIM}, got {vectors.shape}")
    if ids.shape != (vectors.shape[0],):
        raise InvalidInput(f"{ids.shape[0]} ids for {vectors.shape[0]} vectors")
    if len(np.unique(ids)) != len(ids):
        raise InvalidInput("ids must be unique")
    return ids, vectors


def check_queries(queries: Vectors, k: int) -> Vectors:
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    if queries.shape[1] != DIM:
        raise InvalidInput(f"queries must be n x {DIM}, got {queries.shape}")
    if k < 1:
        raise InvalidInput(f"k must be at least 1, got {k}")
    return queries


def empty_hits(queries: int, k: int) -> Hits:
    return Hits(np.full((queries, k), -1, dtype=np.int64), np.full((queries, k), np.inf, dtype=np.float32))


def write_meta(path: Path, meta: dict[str, object]) -> None:
    """Write an index's metadata whole or not at all (temp file + os.replace)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(meta))
    os.replace(temporary, path)


def read_meta_version(path: Path | None) -> int | None:
    if path is None or not path.is_file():
        return None
    version = json.loads(path.read_text()).get("gallery_version")
    return int(version) if version is not None else None
