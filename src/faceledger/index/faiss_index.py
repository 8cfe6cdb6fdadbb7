"""FAISS: exact (flat) while the gallery is small, then IVF-Flat, trained on the gallery itself.

Why IVF-Flat and not HNSW (FAISS's or usearch's): galleries change, and opt-outs must really delete.
IVF removes ids natively and adds incrementally; FAISS's HNSW cannot remove, usearch's can but built
2-3x slower than FAISS HNSW for equal or worse recall here (DEPENDENCY-NOTES). IVF-Flat keeps the raw
vector, so it costs 8 bytes per face beyond the embedding, and its distances are exact for what it finds.
bench/search_latency.py measures all of them side by side."""

from __future__ import annotations

import importlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from faceledger.index.base import DIM, Hits, Ids, IndexBackend, Vectors, check_queries, check_vectors, empty_hits

# Untyped on purpose: faiss's bundled stubs describe its SWIG layer wrongly (remove_ids takes arrays).
faiss: Any = importlib.import_module("faiss")

INDEX_FILE = "faiss.index"
META_FILE = "faiss.json"


def nlist_for(count: int) -> int:
    """~4 sqrt(n) lists (the usual balance of list scans against centroid scans), and at least 39 training
    points per list, which k-means needs."""
    target = 2 ** round(math.log2(4 * math.sqrt(max(count, 1))))
    return int(max(1, min(16384, target, count // 39)))


def probes_for(nlist: int) -> int:
    """An eighth of the lists. Face embeddings' nearest strangers lie in every direction, so recall@10 needs
    wide probing: at 1M faces (4,096 lists) 64 probes found 83% of the exact top 10, 512 found 98.8% in
    4.2 ms p99 (bench/search_latency.py)."""
    return max(32, nlist // 8)


class FaissIndex:
    backend = IndexBackend.FAISS

    def __init__(self, folder: Path | None = None, *, ivf_min_faces: int = 50_000, nprobe: int | None = None) -> None:
        self._folder = folder
        self._ivf_min_faces = ivf_min_faces
        self._nprobe = nprobe
        self._version: int | None = None
        self._trained_size = 0
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatL2(DIM))
        if folder is not None and (folder / INDEX_FILE).is_file() and (folder / META_FILE).is_file():
            self._index = faiss.read_index(str(folder / INDEX_FILE))
            meta = json.loads((folder / META_FILE).read_text())
            self._version, self._trained_size = meta["gallery_version"], meta["trained_size"]

    @property
    def kind(self) -> str:
        return "ivf" if self._ivf() is not None else "flat"

    def _ivf(self) -> Any:
        try:
            return faiss.extract_index_ivf(self._index)
        except RuntimeError:
            return None

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids, vectors = check_vectors(ids, vectors)
        fresh = ~np.isin(ids, self.ids())
        if fresh.any():
            self._index.add_with_ids(vectors[fresh], ids[fresh])
        count = self.count()
        grown = self._trained_size and count > 4 * self._trained_size
        if (self._ivf() is None and count >= self._ivf_min_faces) or grown:
            self._retrain()

    def _retrain(self) -> None:
        ids, vectors = self._contents()
        nlist = nlist_for(len(ids))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(DIM), DIM, nlist, faiss.METRIC_L2)
        sample = np.random.default_rng(0).permutation(len(ids))[: 64 * nlist]
        index.train(vectors[sample])
        index.add_with_ids(vectors, ids)
        self._index, self._trained_size = index, len(ids)

    def _contents(self) -> tuple[Ids, Vectors]:
        ivf = self._ivf()
        if ivf is None:
            flat = faiss.downcast_index(self._index.index)
            vectors = flat.reconstruct_n(0, self._index.ntotal) if self._index.ntotal else np.empty((0, DIM))
            return self.ids(), np.asarray(vectors, dtype=np.float32)
        lists = ivf.invlists
        all_ids, all_vectors = [], []
        for number in range(ivf.nlist):
            size = lists.list_size(number)
            if size:
                all_ids.append(faiss.rev_swig_ptr(lists.get_ids(number), size).copy())
                codes = faiss.rev_swig_ptr(lists.get_codes(number), size * DIM * 4).copy()
                all_vectors.append(codes.view(np.float32).reshape(size, DIM))
        if not all_ids:
            return np.empty(0, dtype=np.int64), np.empty((0, DIM), dtype=np.float32)
        return np.concatenate(all_ids).astype(np.int64), np.concatenate(all_vectors)

    def remove(self, ids: Ids) -> int:
        before = self.count()
        if len(ids):
            self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))
        return before - self.count()

    def search(self, queries: Vectors, k: int) -> Hits:
        queries = check_queries(queries, k)
        if not self.count():
            return empty_hits(len(queries), k)
        ivf = self._ivf()
        if ivf is not None:
            ivf.nprobe = min(self._nprobe or probes_for(ivf.nlist), ivf.nlist)
        squared, ids = self._index.search(queries, k)
        distances = np.sqrt(np.maximum(squared, 0)).astype(np.float32)
        distances[ids < 0] = np.inf
        return Hits(ids.astype(np.int64), distances)

    def ids(self) -> Ids:
        if self._ivf() is None:
            ids: Ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            return ids
        return self._contents()[0]

    def count(self) -> int:
        return int(self._index.ntotal)

    def save(self, gallery_version: int) -> None:
        if self._folder is None:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        temporary = self._folder / (INDEX_FILE + ".tmp")
        faiss.write_index(self._index, str(temporary))
        os.replace(temporary, self._folder / INDEX_FILE)  # a reader sees the old file or the new, never half
        meta = {"gallery_version": gallery_version, "trained_size": self._trained_size, "kind": self.kind}
        (self._folder / META_FILE).write_text(json.dumps(meta))
        self._version = gallery_version

    def saved_version(self) -> int | None:
        return self._version
