"""The one protocol every vector index backend follows, and what it returns."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from faceledger.errors import InvalidInput, ModelMismatch
from faceledger.types import IndexBackend

__all__ = ["DIM", "BlobCodec", "Hits", "Ids", "IndexBackend", "ReadWriteLock", "VectorIndex", "Vectors"]

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


def check_vectors(ids: Ids, vectors: Vectors, dim: int = DIM) -> tuple[Ids, Vectors]:
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise InvalidInput(f"vectors must be n x {dim}, got {vectors.shape}")
    if ids.shape != (vectors.shape[0],):
        raise InvalidInput(f"{ids.shape[0]} ids for {vectors.shape[0]} vectors")
    if len(np.unique(ids)) != len(ids):
        raise InvalidInput("ids must be unique")
    return ids, vectors


def check_stored_width(stored: int, dim: int, where: object) -> None:
    """A saved index is opened only at its model's width: another model's file, or a model whose declared
    width changed, is refused here rather than failing inside a search."""
    if stored != dim:
        raise ModelMismatch(f"{where} holds {stored}-wide vectors; this model embeds {dim} wide")


def check_queries(queries: Vectors, k: int, dim: int = DIM) -> Vectors:
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    if queries.shape[1] != dim:
        raise InvalidInput(f"queries must be n x {dim}, got {queries.shape}")
    if k < 1:
        raise InvalidInput(f"k must be at least 1, got {k}")
    return queries


def empty_hits(queries: int, k: int) -> Hits:
    return Hits(np.full((queries, k), -1, dtype=np.int64), np.full((queries, k), np.inf, dtype=np.float32))


class BlobCodec(Protocol):
    """Seals a saved index file's bytes at rest (the deployment's data key; store/sealed.py provides it).
    The index layer knows nothing of keys: it is handed one of these, or None for plain files (tests)."""

    def seal(self, name: str, data: bytes) -> bytes: ...

    def open(self, name: str, blob: bytes) -> bytes: ...

    def is_sealed(self, blob: bytes) -> bool: ...


def write_index_file(path: Path, data: bytes, codec: BlobCodec | None) -> None:
    """Write an index file (sealed when a codec is given) as 0600, through a temporary name and a rename,
    so a reader sees the old file or the new, never half of one."""
    blob = codec.seal(path.name, data) if codec is not None else data
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(blob)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def read_index_file(path: Path, codec: BlobCodec | None) -> bytes:
    """An index file's bytes; a plain file saved before encryption at rest is still read (the next save
    seals it): the index is derived, and every result is checked against the database."""
    blob = path.read_bytes()
    if codec is not None and codec.is_sealed(blob):
        return codec.open(path.name, blob)
    return blob


def write_meta(path: Path, meta: dict[str, object]) -> None:
    """Write an index's metadata whole or not at all (temp file + os.replace)."""
    write_index_file(path, json.dumps(meta).encode(), None)


def read_meta_version(path: Path | None) -> int | None:
    if path is None or not path.is_file():
        return None
    version = json.loads(path.read_text()).get("gallery_version")
    return int(version) if version is not None else None


class ReadWriteLock:
    """Many searches at once, or one change alone: FAISS searches release the GIL and run side by side,
    but an add or a remove reallocates the lists a search is reading (a crash, not a wrong answer).
    A waiting change goes before searches that arrive after it, so a steady load cannot starve it."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writers_waiting = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._writers_waiting += 1
            self._condition.wait_for(lambda: not self._writing and not self._readers)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._condition:
                self._writing = False
                self._condition.notify_all()
