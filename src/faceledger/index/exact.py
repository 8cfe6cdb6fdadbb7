"""Brute force in numpy: exact, the oracle every other backend is tested against."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from faceledger.index.base import DIM, Hits, Ids, IndexBackend, Vectors, check_queries, check_vectors, empty_hits


class ExactIndex:
    backend = IndexBackend.EXACT

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._ids: Ids = np.empty(0, dtype=np.int64)
        self._vectors: Vectors = np.empty((0, DIM), dtype=np.float32)
        self._version: int | None = None
        if folder is not None and (folder / "exact.npz").is_file():
            with np.load(folder / "exact.npz") as data:
                self._ids, self._vectors = data["ids"], data["vectors"]
            self._version = json.loads((folder / "exact.json").read_text())["gallery_version"]

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids, vectors = check_vectors(ids, vectors)
        fresh = ~np.isin(ids, self._ids)
        self._ids = np.concatenate([self._ids, ids[fresh]])
        self._vectors = np.concatenate([self._vectors, vectors[fresh]])

    def remove(self, ids: Ids) -> int:
        keep = ~np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        self._ids, self._vectors = self._ids[keep], self._vectors[keep]
        return removed

    def search(self, queries: Vectors, k: int) -> Hits:
        queries = check_queries(queries, k)
        hits = empty_hits(len(queries), k)
        if not len(self._ids):
            return hits
        # |q - v|^2 = |q|^2 + |v|^2 - 2 q.v, in float64 so that near-identical faces keep their order
        v = self._vectors.astype(np.float64)
        q = queries.astype(np.float64)
        squared = (q * q).sum(1)[:, None] + (v * v).sum(1)[None, :] - 2 * q @ v.T
        distances = np.sqrt(np.maximum(squared, 0))
        take = min(k, len(self._ids))
        nearest = np.argpartition(distances, take - 1, axis=1)[:, :take]
        for row in range(len(q)):
            order = nearest[row][np.argsort(distances[row, nearest[row]], kind="stable")]
            hits.ids[row, :take] = self._ids[order]
            hits.distances[row, :take] = distances[row, order]
        return hits

    def ids(self) -> Ids:
        return self._ids.copy()

    def count(self) -> int:
        return len(self._ids)

    def save(self, gallery_version: int) -> None:
        if self._folder is None:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        temporary = self._folder / "exact.tmp.npz"
        np.savez(temporary, ids=self._ids, vectors=self._vectors)
        os.replace(temporary, self._folder / "exact.npz")  # whole or not at all
        (self._folder / "exact.json").write_text(json.dumps({"gallery_version": gallery_version}))
        self._version = gallery_version

    def saved_version(self) -> int | None:
        return self._version
