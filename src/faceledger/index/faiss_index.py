"""FAISS: exact (flat) while the gallery is small, then IVF with 8-bit codes and exact re-ranking.

Why IVF and not HNSW (FAISS's or usearch's): galleries change, and opt-outs must really delete. IVF
removes ids natively and adds incrementally; FAISS's HNSW cannot remove, usearch's can but built 2-3x
slower than FAISS HNSW for equal or worse recall here (docs/DEPENDENCIES.md). The nearest strangers of a
face lie in every direction, so IVF must probe many lists; 8-bit codes make each probe a quarter of the
memory traffic, and the best candidates are then re-ranked with the exact vectors. Once the index is IVF,
only the codes stay in RAM (~144 bytes a face: 128 of codes, 8 of id in the lists, 8 in the id set); the
exact vectors live in a memory-mapped file by face id (index/vector_file.py), so 10M faces fit in ~1.4 GB.
bench/search_latency.py and bench/governed_search.py measure the choices."""

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
    ReadWriteLock,
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
from faceledger.index.vector_file import VectorFile

# Untyped on purpose: faiss's bundled stubs describe its SWIG layer wrongly (remove_ids takes arrays).
faiss: Any = importlib.import_module("faiss")

INDEX_FILE = "faiss.index"  # the flat index, while the gallery is small
CODES_FILE = "faiss.ivf.index"  # IVF with 8-bit codes, once the gallery is large enough
VECTORS_FILE = "faiss.vectors"  # the IVF's exact vectors by face id, for re-ranking
META_FILE = "faiss.json"
_MOVE_CHUNK = 65_536  # flat vectors written to the file at a time when the index turns IVF
_RERANK_AT_LEAST = 40  # candidates taken from the codes and re-ranked exactly


def nlist_for(count: int) -> int:
    """~4 sqrt(n) lists (the usual balance of list scans against centroid scans), and at least 39 training
    points per list, which k-means needs. At most 8,192: what a search scans is set by the fraction of
    lists probed, not their number, while training and encoding cost grows with it (10M faces encode in
    ~4 minutes on 2 cores at 8,192 lists, twice that at 16,384)."""
    target = 2 ** round(math.log2(4 * math.sqrt(max(count, 1))))
    return int(max(1, min(8192, target, count // 39)))


MAX_CODES_SCANNED = 700_000  # per query: what keeps a governed search at 10M faces within p99 100 ms


def probes_for(nlist: int, count: int) -> int:
    """Three sixteenths of the lists, but no more than ~MAX_CODES_SCANNED codes. At 1M faces (4,096 lists)
    768 probes over 8-bit codes, re-ranked, found 99.9% of the exact top 10 in 4.6 ms p99; 64 probes over
    raw vectors found 82%. At 10M (8,192 lists) three sixteenths scan 1.9M codes a query: governed-search
    p99 185 ms on 2 cores. Probes measured there (warm): 768 p99 73 ms, 512 p99 55 ms, 384 p99 38 ms, each
    finding every lead under the threshold (34 of 34; 192 probes lost one); the cap gives ~570."""
    per_list = max(1, count // max(nlist, 1))
    return max(32, min(nlist * 3 // 16, -(-MAX_CODES_SCANNED // per_list)))


class FaissIndex:
    backend = IndexBackend.FAISS

    def __init__(
        self,
        folder: Path | None = None,
        *,
        ivf_min_faces: int = 50_000,
        nprobe: int | None = None,
        codec: BlobCodec | None = None,
        dim: int = DIM,
    ) -> None:
        self._folder = folder
        self._dim = dim  # the model's embedding width (an operator-added model's may differ from 128)
        self._codec = codec
        self._ivf_min_faces = ivf_min_faces
        self._nprobe = nprobe
        self._version: int | None = None
        self._trained_size = 0
        self._exact: Any = faiss.IndexIDMap2(faiss.IndexFlatL2(dim))  # the flat kind's vectors
        self._codes: Any = None  # the IVF kind's codes; its exact vectors are in self._vectors_file
        self._ivf_ids: Ids = np.empty(0, dtype=np.int64)  # the IVF kind's ids, sorted
        self._vectors_file: VectorFile | None = None
        self._lock = ReadWriteLock()
        if folder is not None and (folder / META_FILE).is_file():
            self._open_saved(folder, json.loads((folder / META_FILE).read_text()))

    def _open_saved(self, folder: Path, meta: dict[str, Any]) -> None:
        self._version, self._trained_size = meta["gallery_version"], meta["trained_size"]
        if meta.get("kind") == "ivf" and (folder / CODES_FILE).is_file() and (folder / VECTORS_FILE).is_file():
            self._codes = _read(folder / CODES_FILE, self._codec)
            check_stored_width(self._codes.d, self._dim, folder / CODES_FILE)
            self._vectors_file = VectorFile(folder / VECTORS_FILE, self._dim, self._codec)
            self._ivf_ids = _list_ids(self._codes)
        elif meta.get("kind", "flat") == "flat" and (folder / INDEX_FILE).is_file():
            self._exact = _read(folder / INDEX_FILE, self._codec)
            check_stored_width(self._exact.d, self._dim, folder / INDEX_FILE)
        else:  # a file was lost: start empty, labelled as never saved, and the next sync refills it
            self._version, self._trained_size = None, 0

    @property
    def kind(self) -> str:
        return "ivf" if self._codes is not None else "flat"

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids, vectors = check_vectors(ids, vectors, self._dim)
        with self._lock.writing():
            self._add(ids, vectors)

    def _add(self, ids: Ids, vectors: Vectors) -> None:
        fresh = ~np.isin(ids, self._ids())
        if not fresh.all():  # (a copy of 10M vectors is 5 GB: only made when some are known already)
            ids, vectors = ids[fresh], vectors[fresh]
        if not len(ids):
            return
        if self._codes is None:
            self._exact.add_with_ids(vectors, ids)
            if self._folder is None and self._count() >= self._ivf_min_faces:
                self._to_ivf()  # never shared with another process: no need to wait for a save
            return
        self._codes.add_with_ids(vectors, ids)
        self._file().write(ids, vectors)
        self._ivf_ids = np.union1d(self._ivf_ids, ids)
        if self._count() > 4 * self._trained_size:
            self._codes, self._trained_size = self._trained(self._ivf_ids), len(self._ivf_ids)

    def _to_ivf(self) -> None:
        """The flat vectors move to the file and the codes are trained. A shared index does this only when
        it is saved, levelled against the database (services/runtime/deployment.py save_level): a process's flat
        copy may still hold a face another process has deleted since, and its row must not be written."""
        listed = self._ids()
        flat = faiss.downcast_index(self._exact.index)
        for start in range(0, len(listed), _MOVE_CHUNK):  # in chunks: at 10M a whole copy is another 5 GB
            count = min(_MOVE_CHUNK, len(listed) - start)
            chunk = np.asarray(flat.reconstruct_n(start, count), dtype=np.float32)
            self._file().write(listed[start : start + count], chunk)
        ids = np.sort(listed)
        codes = self._trained(ids)  # if this fails, the flat index is still whole
        self._codes, self._ivf_ids, self._trained_size = codes, ids, len(ids)
        self._exact = faiss.IndexIDMap2(faiss.IndexFlatL2(self._dim))

    def _file(self) -> VectorFile:
        if self._vectors_file is None:
            path = None
            if self._folder is not None:
                self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                path = self._folder / VECTORS_FILE
            self._vectors_file = VectorFile(path, self._dim, self._codec)
        return self._vectors_file

    def _trained(self, ids: Ids) -> Any:
        """Codes trained on a sample of the file's vectors, with every face of `ids` encoded."""
        nlist = nlist_for(len(ids))
        codes = faiss.index_factory(self._dim, f"IVF{nlist},SQ8")
        sample = np.sort(np.random.default_rng(0).permutation(len(ids))[: 64 * nlist])
        _, training = self._file().read(ids[sample])
        codes.train(training)
        for chunk_ids, chunk in self._file().chunks(ids):
            codes.add_with_ids(chunk, chunk_ids)
        return codes

    def remove(self, ids: Ids) -> int:
        with self._lock.writing():
            return self._remove(ids)

    def _remove(self, ids: Ids) -> int:
        """Every row named is zeroed in the file, whether this process's index lists the face or not:
        another process may have written it (an ingest beside a server), and an opt-out must leave none."""
        before = self._count()
        if len(ids):
            selected = np.ascontiguousarray(ids, dtype=np.int64)
            if self._codes is None:
                self._exact.remove_ids(selected)
            else:
                self._codes.remove_ids(selected)
                self._ivf_ids = np.setdiff1d(self._ivf_ids, selected)
            if self._vectors_file is not None or (self._folder is not None and (self._folder / VECTORS_FILE).exists()):
                self._file().erase(selected)
        return before - self._count()

    def search(self, queries: Vectors, k: int) -> Hits:
        queries = check_queries(queries, k, self._dim)
        with self._lock.reading():
            return self._search(queries, k)

    def _search(self, queries: Vectors, k: int) -> Hits:
        if not self._count():
            return empty_hits(len(queries), k)
        if self._codes is None:
            squared, ids = self._exact.search(queries, k)
            return _hits(squared, ids)
        ivf = faiss.extract_index_ivf(self._codes)
        ivf.nprobe = min(self._nprobe or probes_for(ivf.nlist, ivf.ntotal), ivf.nlist)
        # One probe (every governed search): its lists are split over the cores, which halves its latency
        # on 2 (at 1M faces p50 5.7 -> 2.9 ms); a batch is split by query, faiss's default.
        ivf.parallel_mode = 1 if len(queries) == 1 else 0
        _, candidates = self._codes.search(queries, max(4 * k, _RERANK_AT_LEAST))
        hits = empty_hits(len(queries), k)
        for row, query in enumerate(queries):
            found, vectors = self._file().read(candidates[row][candidates[row] >= 0])
            if not len(found):
                continue  # every candidate was removed by another process since this one read the codes
            distances = np.linalg.norm(vectors - query, axis=1)
            order = np.argsort(distances, kind="stable")[:k]
            hits.ids[row, : len(order)] = found[order]
            hits.distances[row, : len(order)] = distances[order]
        return hits

    def ids(self) -> Ids:
        with self._lock.reading():
            return self._ids()

    def _ids(self) -> Ids:
        if self._codes is not None:
            return self._ivf_ids  # never changed in place: every change assigns a new array
        ids: Ids = faiss.vector_to_array(self._exact.id_map).astype(np.int64)
        return ids

    def count(self) -> int:
        with self._lock.reading():
            return self._count()

    def _count(self) -> int:
        return len(self._ivf_ids) if self._codes is not None else int(self._exact.ntotal)

    def save(self, gallery_version: int) -> None:
        if self._folder is None:
            return
        if self._codes is None and self.count() >= self._ivf_min_faces:
            with self._lock.writing():
                if self._codes is None:
                    self._to_ivf()
        with self._lock.reading():  # serialising only reads the codes: searches go on meanwhile
            self._save(self._folder, gallery_version)

    def _save(self, folder: Path, gallery_version: int) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._codes is not None:
            self._file().sync()  # the rows are on disk before the metadata says which version they reflect
            _write(self._codes, folder / CODES_FILE, self._codec)
            (folder / INDEX_FILE).unlink(missing_ok=True)
        else:  # a vectors file stays: another process's index may be IVF and reading it
            _write(self._exact, folder / INDEX_FILE, self._codec)
            (folder / CODES_FILE).unlink(missing_ok=True)
        meta = {"gallery_version": gallery_version, "trained_size": self._trained_size, "kind": self.kind}
        write_meta(folder / META_FILE, meta)
        self._version = gallery_version

    def saved_version(self) -> int | None:
        return self._version

    def stored_version(self) -> int | None:
        return read_meta_version(self._folder / META_FILE) if self._folder is not None else self._version


def _list_ids(codes: Any) -> Ids:
    """Every id an IVF index holds, sorted (read from its inverted lists)."""
    ivf = faiss.extract_index_ivf(codes)
    lists = ivf.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy() for i in range(ivf.nlist) if lists.list_size(i)
    ]
    return np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.empty(0, dtype=np.int64)


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
