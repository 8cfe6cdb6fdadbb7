"""FAISS: exact (flat) while the gallery is small, then IVF with 8-bit codes and exact re-ranking.

Why IVF and not HNSW (FAISS's or usearch's): galleries change, and opt-outs must really delete. IVF
removes ids natively and adds incrementally; FAISS's HNSW cannot remove, usearch's can but built 2-3x
slower than FAISS HNSW for equal or worse recall here (DEPENDENCY-NOTES). The nearest strangers of a
face lie in every direction, so IVF must probe many lists; 8-bit codes make each probe a quarter of the
memory traffic, and the best candidates are then re-ranked with the exact vectors, kept beside the codes
by id. Cost: ~144 bytes per face beyond the embedding. bench/search_latency.py measures the choices."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import Any

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

# Untyped on purpose: faiss's bundled stubs describe its SWIG layer wrongly (remove_ids takes arrays).
faiss: Any = importlib.import_module("faiss")

INDEX_FILE = "faiss.index"  # exact vectors by id: the flat index, and the re-ranking store
CODES_FILE = "faiss.ivf.index"  # IVF with 8-bit codes, once the gallery is large enough
META_FILE = "faiss.json"
_RERANK_AT_LEAST = 40  # candidates taken from the codes and re-ranked exactly


def nlist_for(count: int) -> int:
    """~4 sqrt(n) lists (the usual balance of list scans against centroid scans), and at least 39 training
    points per list, which k-means needs."""
    target = 2 ** round(math.log2(4 * math.sqrt(max(count, 1))))
    return int(max(1, min(16384, target, count // 39)))


def probes_for(nlist: int) -> int:
    """Three sixteenths of the lists: at 1M faces (4,096 lists) 768 probes over 8-bit codes, re-ranked,
    found 99.9% of the exact top 10 in 4.6 ms p99; 64 probes over raw vectors found 82%."""
    return max(32, nlist * 3 // 16)


class FaissIndex:
    backend = IndexBackend.FAISS

    def __init__(self, folder: Path | None = None, *, ivf_min_faces: int = 50_000, nprobe: int | None = None,
                 codec: BlobCodec | None = None, dim: int = DIM) -> None:  # fmt: skip
        self._folder = folder
        self._dim = dim  # the model's embedding width (an operator-added model's may differ from 128)
        self._codec = codec
        self._ivf_min_faces = ivf_min_faces
        self._nprobe = nprobe
        self._version: int | None = None
        self._trained_size = 0
        self._exact: Any = faiss.IndexIDMap2(faiss.IndexFlatL2(dim))
        self._codes: Any = None
        if folder is not None and (folder / INDEX_FILE).is_file() and (folder / META_FILE).is_file():
            meta = json.loads((folder / META_FILE).read_text())
            self._exact = _read(folder / INDEX_FILE, codec)
            check_stored_width(self._exact.d, dim, folder / INDEX_FILE)
            if meta.get("kind") == "ivf" and (folder / CODES_FILE).is_file():
                self._codes = _read(folder / CODES_FILE, codec)
            self._version, self._trained_size = meta["gallery_version"], meta["trained_size"]
            if self._codes is None and self._trained_size:
                self._retrain()  # the codes file was lost: rebuild it from the exact vectors

    @property
    def kind(self) -> str:
        return "ivf" if self._codes is not None else "flat"

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids, vectors = check_vectors(ids, vectors, self._dim)
        fresh = ~np.isin(ids, self.ids())
        if fresh.any():
            self._exact.add_with_ids(vectors[fresh], ids[fresh])
            if self._codes is not None:
                self._codes.add_with_ids(vectors[fresh], ids[fresh])
        count = self.count()
        grown = self._trained_size and count > 4 * self._trained_size
        if (self._codes is None and count >= self._ivf_min_faces) or grown:
            self._retrain()

    def _retrain(self) -> None:
        ids, vectors = self.ids(), self._vectors()
        nlist = nlist_for(len(ids))
        codes = faiss.index_factory(self._dim, f"IVF{nlist},SQ8")
        sample = np.random.default_rng(0).permutation(len(ids))[: 64 * nlist]
        codes.train(vectors[sample])
        codes.add_with_ids(vectors, ids)
        self._codes, self._trained_size = codes, len(ids)

    def _vectors(self) -> Vectors:
        flat = faiss.downcast_index(self._exact.index)
        if not self._exact.ntotal:
            return np.empty((0, self._dim), dtype=np.float32)
        return np.asarray(flat.reconstruct_n(0, self._exact.ntotal), dtype=np.float32)

    def remove(self, ids: Ids) -> int:
        before = self.count()
        if len(ids):
            selected = np.ascontiguousarray(ids, dtype=np.int64)
            self._exact.remove_ids(selected)
            if self._codes is not None:
                self._codes.remove_ids(selected)
        return before - self.count()

    def search(self, queries: Vectors, k: int) -> Hits:
        queries = check_queries(queries, k, self._dim)
        if not self.count():
            return empty_hits(len(queries), k)
        if self._codes is None:
            squared, ids = self._exact.search(queries, k)
            return _hits(squared, ids)
        ivf = faiss.extract_index_ivf(self._codes)
        ivf.nprobe = min(self._nprobe or probes_for(ivf.nlist), ivf.nlist)
        _, candidates = self._codes.search(queries, max(4 * k, _RERANK_AT_LEAST))
        hits = empty_hits(len(queries), k)
        for row, query in enumerate(queries):
            found = candidates[row][candidates[row] >= 0]
            if not len(found):
                continue
            vectors = np.stack([self._exact.reconstruct(int(i)) for i in found])
            distances = np.linalg.norm(vectors - query, axis=1)
            order = np.argsort(distances, kind="stable")[:k]
            hits.ids[row, : len(order)] = found[order]
            hits.distances[row, : len(order)] = distances[order]
        return hits

    def ids(self) -> Ids:
        ids: Ids = faiss.vector_to_array(self._exact.id_map).astype(np.int64)
        return ids

    def count(self) -> int:
        return int(self._exact.ntotal)

    def save(self, gallery_version: int) -> None:
        if self._folder is None:
            return
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write(self._exact, self._folder / INDEX_FILE, self._codec)
        if self._codes is not None:
            _write(self._codes, self._folder / CODES_FILE, self._codec)
        elif (self._folder / CODES_FILE).exists():
            (self._folder / CODES_FILE).unlink()
        meta = {"gallery_version": gallery_version, "trained_size": self._trained_size, "kind": self.kind}
        write_meta(self._folder / META_FILE, meta)
        self._version = gallery_version

    def saved_version(self) -> int | None:
        return self._version

    def stored_version(self) -> int | None:
        return read_meta_version(self._folder / META_FILE) if self._folder is not None else self._version


def _write(index: Any, path: Path, codec: BlobCodec | None) -> None:
    # Serialized in memory and sealed as one blob: at 1M faces ~0.5 GB, which AES-GCM seals in well under
    # a second; the file is written through a temporary name, so a reader never sees half of one.
    write_index_file(path, faiss.serialize_index(index).tobytes(), codec)


def _read(path: Path, codec: BlobCodec | None) -> Any:
    return faiss.deserialize_index(np.frombuffer(read_index_file(path, codec), dtype=np.uint8))


def _hits(squared: np.ndarray, ids: np.ndarray) -> Hits:
    distances = np.sqrt(np.maximum(squared, 0)).astype(np.float32)
    distances[ids < 0] = np.inf
    return Hits(ids.astype(np.int64), distances)
