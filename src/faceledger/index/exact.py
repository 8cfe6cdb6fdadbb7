"""Brute force in numpy: exact, the oracle every other backend is tested against."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from faceledger.index.base import (
    DIM,
    BlobCodec,
    Hits,
    Ids,
    IndexBackend,
    Vectors,
    check_queries,
    check_stored_width,
    check_vectors,
    empty_hits,
    read_index_file,
    read_meta_version,
    write_index_file,
    write_meta,
)

_EXACT_MARGIN = 64  # candidates re-ranked in float64 beyond k: far more than float32 rounding can reorder


class ExactIndex:
    backend = IndexBackend.EXACT

    def __init__(self, folder: Path | None = None, codec: BlobCodec | None = None, dim: int = DIM) -> None:
        self._folder = folder
        self._dim = dim  # the model's embedding width (an operator-added model's may differ from 128)
        self._codec = codec
        self._ids: Ids = np.empty(0, dtype=np.int64)
        self._vectors: Vectors = np.empty((0, dim), dtype=np.float32)
        self._version: int | None = None
        self._norms: np.ndarray | None = None  # |v|^2, cached until the contents change
        if folder is not None and (folder / "exact.npz").is_file():
            with np.load(io.BytesIO(read_index_file(folder / "exact.npz", codec))) as data:
                self._ids, self._vectors = data["ids"], data["vectors"]
            check_stored_width(self._vectors.shape[1], dim, folder / "exact.npz")
            self._version = json.loads((folder / "exact.json").read_text())["gallery_version"]

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids, vectors = check_vectors(ids, vectors, self._dim)
        fresh = ~np.isin(ids, self._ids)
        self._ids = np.concatenate([self._ids, ids[fresh]])
        self._vectors = np.concatenate([self._vectors, vectors[fresh]])
        self._norms = None

    def remove(self, ids: Ids) -> int:
        keep = ~np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        self._ids, self._vectors = self._ids[keep], self._vectors[keep]
        self._norms = None
        return removed

    def search(self, queries: Vectors, k: int) -> Hits:
        queries = check_queries(queries, k, self._dim)
        hits = empty_hits(len(queries), k)
        if not len(self._ids):
            return hits
        # Rank in float32 by |v|^2 - 2 q.v (one matrix product), then order a margin of candidates by
        # their float64 distance, so near-identical faces keep their true order.
        if self._norms is None:
            self._norms = (self._vectors.astype(np.float64) ** 2).sum(1).astype(np.float32)
        scores = self._norms[None, :] - 2 * (queries @ self._vectors.T)
        take = min(len(self._ids), k + _EXACT_MARGIN)
        nearest = np.argpartition(scores, take - 1, axis=1)[:, :take]
        for row, query in enumerate(queries.astype(np.float64)):
            distances = np.linalg.norm(self._vectors[nearest[row]].astype(np.float64) - query, axis=1)
            order = np.argsort(distances, kind="stable")[:k]
            hits.ids[row, : len(order)] = self._ids[nearest[row][order]]
            hits.distances[row, : len(order)] = distances[order]
        return hits

    def ids(self) -> Ids:
        return self._ids.copy()

    def count(self) -> int:
        return len(self._ids)

    def save(self, gallery_version: int) -> None:
        if self._folder is None:
            return
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, ids=self._ids, vectors=self._vectors)
        write_index_file(self._folder / "exact.npz", buffer.getvalue(), self._codec)  # whole or not at all
        write_meta(self._folder / "exact.json", {"gallery_version": gallery_version})
        self._version = gallery_version

    def saved_version(self) -> int | None:
        return self._version

    def stored_version(self) -> int | None:
        return read_meta_version(self._folder / "exact.json") if self._folder is not None else self._version
