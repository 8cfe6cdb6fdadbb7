"""The IVF kind of the FAISS index: codes in RAM, exact vectors in a memory-mapped file by face id.

Synthetic clustered vectors (no models needed): what is checked is where the vectors live, that removal
really erases them, that the file is sealed row by row, and that two processes sharing the folder agree."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from faceledger.errors import KeyProblem
from faceledger.index.base import ReadWriteLock
from faceledger.index.exact import ExactIndex
from faceledger.index.faiss_index import CODES_FILE, INDEX_FILE, VECTORS_FILE, FaissIndex
from faceledger.store.sealed import IndexCodec, Sealer

FACES = 3_000
MIN_FACES = 1_000


def clustered(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count // 3 + 1, 128))
    vectors = np.repeat(centres, 3, axis=0)[:count] + rng.normal(scale=0.3, size=(count, 128))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def codec() -> IndexCodec:
    return IndexCodec(Sealer(os.urandom(32)))


@pytest.fixture
def gallery() -> tuple[np.ndarray, np.ndarray]:
    return np.arange(1, FACES + 1, dtype=np.int64) * 2, clustered(FACES)  # sparse ids: holes in the file


def _ivf(folder: Path | None, codec: IndexCodec | None) -> FaissIndex:
    return FaissIndex(folder, ivf_min_faces=MIN_FACES, nprobe=16, codec=codec)


def test_past_the_threshold_only_codes_stay_in_memory_and_results_match_exact(
    tmp_path: Path, codec: IndexCodec, gallery: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = gallery
    index = _ivf(tmp_path, codec)
    index.add(ids[:500], vectors[:500])
    assert index.kind == "flat"
    index.add(ids[500:], vectors[500:])
    # Shared with other processes: it moves to IVF only when saved, levelled against the database, so a
    # face another process deleted meanwhile is never written to the file (index/faiss_index.py _to_ivf).
    assert index.kind == "flat" and not (tmp_path / VECTORS_FILE).exists()
    index.save(1)
    assert index.kind == "ivf" and index.count() == FACES
    assert index._exact.ntotal == 0  # the flat copy is gone from RAM
    assert (tmp_path / VECTORS_FILE).stat().st_size >= ids.max() * (512 + 32)
    oracle = ExactIndex(None)
    oracle.add(ids, vectors)
    noise = np.random.default_rng(1).normal(scale=0.05, size=(50, 128)).astype(np.float32)
    queries = vectors[::60] + noise  # another photo of a gallery face: what a search hopes to find
    truth = oracle.search(queries, 10)
    mates = index.search(queries, 3)  # the 3 faces of the query's own cluster
    assert _recall(mates.ids, truth.ids[:, :3]) >= 0.95
    np.testing.assert_allclose(mates.distances, truth.distances[:, :3], rtol=1e-5)  # exact re-ranking
    index._nprobe = 10_000  # every list: what is left is the codes' ranking, corrected by the re-ranking
    assert _recall(index.search(queries, 10).ids, truth.ids) >= 0.99
    np.testing.assert_array_equal(np.sort(index.ids()), ids)


def _saved(folder: Path, codec: IndexCodec, ids: np.ndarray, vectors: np.ndarray, version: int) -> FaissIndex:
    """An index holding the gallery, saved (so IVF, its rows in the file)."""
    index = _ivf(folder, codec)
    index.add(ids, vectors)
    index.save(version)
    return index


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def test_saved_and_reopened_it_answers_the_same(
    tmp_path: Path, codec: IndexCodec, gallery: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = gallery
    index = _saved(tmp_path, codec, ids, vectors, 7)
    assert not (tmp_path / INDEX_FILE).exists() and (tmp_path / CODES_FILE).exists()
    again = _ivf(tmp_path, codec)
    assert again.kind == "ivf" and again.saved_version() == 7 and again.count() == FACES
    queries = clustered(20, seed=2)
    np.testing.assert_array_equal(again.search(queries, 5).ids, index.search(queries, 5).ids)


def test_removal_zeroes_the_rows_and_no_file_holds_a_plain_vector(
    tmp_path: Path, codec: IndexCodec, gallery: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = gallery
    index = _saved(tmp_path, codec, ids, vectors, 1)
    gone = ids[:10]
    assert index.remove(gone) == 10
    index.save(2)
    for face_id in gone.tolist():
        assert not any(_row(tmp_path / VECTORS_FILE, face_id))
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for vector in vectors[10:20]:
        assert vector.tobytes()[:64] not in stored  # sealed at rest, row by row
    hits = index.search(vectors[:10], 3)
    assert not np.isin(hits.ids, gone).any()
    assert index.count() == FACES - 10 and not np.isin(index.ids(), gone).any()


def test_a_face_removed_by_another_process_is_never_re_ranked_in(
    tmp_path: Path, codec: IndexCodec, gallery: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = gallery
    first = _saved(tmp_path, codec, ids, vectors, 1)
    second = _ivf(tmp_path, codec)  # another server on the same data directory
    second.remove(ids[:1])  # an opt-out there zeroes the only copy of the row
    hits = first.search(vectors[:1], 5)  # this process's codes still list the face
    assert ids[0] not in hits.ids[0]


def _row(path: Path, face_id: int, row_bytes: int = 512 + 32) -> bytes:
    with path.open("rb") as handle:
        handle.seek(face_id * row_bytes)
        return handle.read(row_bytes)


def test_a_removal_erases_a_row_this_process_never_listed(
    tmp_path: Path, codec: IndexCodec, gallery: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = gallery
    server = _ivf(tmp_path, codec)
    server.add(ids[:-1], vectors[:-1])
    server.save(1)
    ingest = _ivf(tmp_path, codec)  # a CLI ingest beside the server adds one more face, and exits
    ingest.add(ids[-1:], vectors[-1:])
    assert any(_row(tmp_path / VECTORS_FILE, int(ids[-1])))
    assert server.remove(ids[-1:]) == 0  # the server's index never listed it...
    assert not any(_row(tmp_path / VECTORS_FILE, int(ids[-1])))  # ...and still its row is gone


def test_after_a_rebuild_replaced_the_file_a_removal_erases_in_the_new_one(
    tmp_path: Path, codec: IndexCodec, gallery: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = gallery
    server = _saved(tmp_path, codec, ids, vectors, 1)
    for name in (VECTORS_FILE, CODES_FILE, "faiss.json"):  # services/runtime/deployment.py rebuild_index
        (tmp_path / name).unlink()
    rebuilt = _saved(tmp_path, codec, ids, vectors, 2)
    assert any(_row(tmp_path / VECTORS_FILE, int(ids[5])))
    server.remove(ids[5:6])  # its descriptor was the old file's: the erase must reach the new one
    assert not any(_row(tmp_path / VECTORS_FILE, int(ids[5])))
    server.add(ids[5:6], vectors[5:6])  # and so must a write
    assert rebuilt.search(vectors[5:6], 1).ids[0, 0] == ids[5]


def test_a_row_copied_over_another_is_refused(
    tmp_path: Path, codec: IndexCodec, gallery: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = gallery
    _saved(tmp_path, codec, ids, vectors, 1)
    row_bytes = 512 + 32
    path = tmp_path / VECTORS_FILE
    data = bytearray(path.read_bytes())
    a, b = int(ids[0]), int(ids[1])
    data[a * row_bytes : (a + 1) * row_bytes] = data[b * row_bytes : (b + 1) * row_bytes]
    path.write_bytes(bytes(data))  # written in place: the same file, as an attacker with the disk would
    with pytest.raises(KeyProblem):
        _ivf(tmp_path, codec).search(vectors[:1], 5)


def test_a_lost_vectors_file_leaves_an_empty_index_to_be_refilled(
    tmp_path: Path, codec: IndexCodec, gallery: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = gallery
    _saved(tmp_path, codec, ids, vectors, 3)
    (tmp_path / VECTORS_FILE).unlink()
    again = _ivf(tmp_path, codec)
    assert again.count() == 0 and again.saved_version() is None  # sync_index refills it from the database


def test_an_unsaved_index_keeps_its_rows_in_an_anonymous_file(gallery: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vectors = gallery
    index = _ivf(None, None)
    index.add(ids, vectors)
    assert index.kind == "ivf"
    assert index.search(vectors[:1], 1).ids[0, 0] == ids[0]


def test_a_waiting_change_goes_before_later_searches() -> None:
    lock, order = ReadWriteLock(), []
    first_reading, release_first = threading.Event(), threading.Event()

    def reader(name: str, hold: threading.Event | None = None) -> None:
        with lock.reading():
            if hold is not None:
                first_reading.set()
                hold.wait(5)
            order.append(name)

    def writer() -> None:
        with lock.writing():
            order.append("change")

    threads = [threading.Thread(target=reader, args=("first", release_first))]
    threads[0].start()
    first_reading.wait(5)
    threads.append(threading.Thread(target=writer))
    threads[1].start()
    time.sleep(0.1)  # the change is now waiting for the first search
    threads.append(threading.Thread(target=reader, args=("later",)))
    threads[2].start()
    time.sleep(0.1)
    assert order == []  # the later search waits behind the waiting change
    release_first.set()
    for thread in threads:
        thread.join(5)
    assert order == ["first", "change", "later"]


def test_searches_run_while_another_thread_changes_the_index(gallery: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vectors = gallery
    index = _ivf(None, None)
    index.add(ids[:2000], vectors[:2000])
    errors: list[BaseException] = []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                hits = index.search(vectors[:4], 5)
                assert (hits.ids >= -1).all()
            except BaseException as exc:
                errors.append(exc)
                return

    searchers = [threading.Thread(target=search) for _ in range(3)]
    for thread in searchers:
        thread.start()
    for start in range(2000, FACES, 100):
        index.add(ids[start : start + 100], vectors[start : start + 100])
        index.remove(ids[start - 1000 : start - 950])
    stop.set()
    for thread in searchers:
        thread.join(5)
    assert not errors
    assert index.count() == FACES - 50 * 10
