"""Every backend against the exact oracle, on real LFW embeddings."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from faceledger.config import Settings
from faceledger.eval.embeddings import EmbeddingCache, embed_lfw
from faceledger.eval.lfw import images_of, read_pairs
from faceledger.index.base import VectorIndex
from faceledger.index.exact import ExactIndex
from faceledger.index.faiss_index import MAX_CODES_SCANNED, FaissIndex, nlist_for, probes_for
from faceledger.index.milvus_index import MilvusIndex
from faceledger.services.runtime.deployment import Deployment
from faceledger.types import IndexBackend

pytestmark = pytest.mark.needs_data

Factory = Callable[[Path], VectorIndex]
BACKENDS: dict[str, Factory] = {
    "exact": ExactIndex,
    "faiss-flat": FaissIndex,
    "faiss-ivf": lambda folder: FaissIndex(folder, ivf_min_faces=200, nprobe=64),
    "milvus-lite": lambda folder: MilvusIndex(str(folder / "milvus.db"), folder),
}


@pytest.fixture(scope="module")
def real_embeddings(data_dir: Path, lfw_embedding_cache: Path) -> tuple[np.ndarray, np.ndarray]:
    # 500 images of the View 1 test pairs, which tests/eval embeds too: the run's cache holds them.
    images = images_of(read_pairs(data_dir / "pairsDevTest.txt"))[:500]
    found = embed_lfw(images, data_dir, Settings(), EmbeddingCache(lfw_embedding_cache), workers=2)
    vectors = np.stack(list(found.values())).astype(np.float32)
    return np.arange(1000, 1000 + len(vectors), dtype=np.int64), vectors


def _collection(folder: Path) -> str:
    """One collection per test on the shared server, the same again when a test reopens its index."""
    return "t" + hashlib.sha256(str(folder).encode()).hexdigest()[:16]


@pytest.fixture(params=[*sorted(BACKENDS), "milvus-server"])
def backend(request: pytest.FixtureRequest) -> tuple[str, Factory]:
    if request.param == "milvus-server":
        uri = request.getfixturevalue("milvus_server")
        return request.param, lambda folder: MilvusIndex(uri, folder, collection=_collection(folder))
    return request.param, BACKENDS[request.param]


def test_recall_at_10_against_the_oracle(
    backend: tuple[str, Factory], real_embeddings: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    name, factory = backend
    ids, vectors = real_embeddings
    gallery, queries = slice(100, None), vectors[:100] + 0.0
    oracle, index = ExactIndex(), factory(tmp_path)
    oracle.add(ids[gallery], vectors[gallery])
    index.add(ids[gallery], vectors[gallery])
    index.save(gallery_version=1)  # a shared FAISS index turns IVF when saved (levelled)
    assert index.count() == oracle.count()
    expected, got = oracle.search(queries, 10), index.search(queries, 10)
    recall = np.mean([len(set(e) & set(g)) / 10 for e, g in zip(expected.ids, got.ids, strict=True)])
    assert recall >= 0.99, f"{name} recall@10 {recall:.3f}"
    assert np.allclose(got.distances[:, 0], expected.distances[:, 0], atol=1e-4)


def test_remove_save_and_reload(
    backend: tuple[str, Factory], real_embeddings: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    _, factory = backend
    ids, vectors = real_embeddings[0][:300], real_embeddings[1][:300]
    index = factory(tmp_path)
    index.add(ids, vectors)
    index.save(gallery_version=1)  # (faiss-ivf: IVF from here on)
    index.add(ids[:10], vectors[:10])  # adding known ids again changes nothing
    assert index.count() == 300
    assert index.remove(ids[:50]) == 50
    hits = index.search(vectors[:50], 5)
    assert not set(hits.ids.ravel().tolist()) & set(ids[:50].tolist()), "a removed face came back"
    index.save(gallery_version=7)
    reopened = factory(tmp_path)
    assert reopened.count() == 250 and reopened.saved_version() == 7
    assert sorted(reopened.ids().tolist()) == sorted(ids[50:].tolist())
    again = reopened.search(vectors[60:61], 1)
    assert again.ids[0, 0] == ids[60] and again.distances[0, 0] < 1e-3


def test_empty_index_and_bad_input(backend: tuple[str, Factory], tmp_path: Path) -> None:
    from faceledger.errors import InvalidInput

    name, factory = backend
    index = factory(tmp_path / name)
    hits = index.search(np.zeros((2, 128), dtype=np.float32), 3)
    assert (hits.ids == -1).all(), name
    with pytest.raises(InvalidInput):
        index.add(np.array([1, 1]), np.zeros((2, 128), dtype=np.float32))
    with pytest.raises(InvalidInput):
        index.add(np.array([1]), np.zeros((1, 64), dtype=np.float32))


WIDE_BACKENDS: dict[str, Callable[[Path, int], VectorIndex]] = {
    "exact": lambda folder, dim: ExactIndex(folder, dim=dim),
    "faiss-flat": lambda folder, dim: FaissIndex(folder, dim=dim),
    "faiss-ivf": lambda folder, dim: FaissIndex(folder, ivf_min_faces=200, nprobe=64, dim=dim),
    "milvus-lite": lambda folder, dim: MilvusIndex(str(folder / "milvus.db"), folder, dim=dim),
}


def _on_server(uri: str) -> Callable[[Path, int], VectorIndex]:
    return lambda folder, dim: MilvusIndex(uri, folder, dim=dim, collection=_collection(folder))


@pytest.mark.parametrize("name", [*sorted(WIDE_BACKENDS), "milvus-server"])
def test_an_added_models_width_is_kept_and_checked(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """An operator-added model may embed 512 wide: its index holds that width across a save, refuses a
    128-wide vector, and is not reopened at another width."""
    from faceledger.errors import InvalidInput, ModelMismatch

    vectors = np.random.default_rng(5).normal(size=(300, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, 301, dtype=np.int64)
    make = WIDE_BACKENDS.get(name) or _on_server(request.getfixturevalue("milvus_server"))
    index = make(tmp_path, 512)
    index.add(ids, vectors)
    with pytest.raises(InvalidInput, match="512"):
        index.add(np.array([999]), np.zeros((1, 128), dtype=np.float32))
    assert index.search(vectors[7:8], 1).ids[0, 0] == ids[7]
    index.save(gallery_version=3)
    reopened = make(tmp_path, 512)
    assert reopened.count() == 300 and reopened.search(vectors[9:10], 1).ids[0, 0] == ids[9]
    with pytest.raises(ModelMismatch, match="holds 512-wide vectors; this model embeds 128 wide"):
        make(tmp_path, 128)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_two_deployments_on_one_milvus_server_keep_their_faces_apart(
    make_deployment: Callable[..., Deployment], milvus_server: str
) -> None:
    """A Milvus server or cluster may hold many deployments' galleries: each one's collections carry its own
    namespace, so one never searches, counts or deletes another's faces."""
    first, second = (make_deployment(IndexBackend.MILVUS, milvus_uri=milvus_server) for _ in range(2))
    assert first.config["index_namespace"] != second.config["index_namespace"]
    vectors = np.random.default_rng(3).normal(size=(20, 128)).astype(np.float32)
    key = next(iter(first.index.model_keys()))
    first.index.for_model(key).add(np.arange(1, 21, dtype=np.int64), vectors)
    theirs = second.index.for_model(key)
    assert theirs.count() == 0 and (theirs.search(vectors[:1], 3).ids == -1).all()
    assert first.index.for_model(key).count() == 20


def test_probes_scan_three_sixteenths_of_the_lists_up_to_a_million_codes() -> None:
    # 1M faces: unchanged from what was measured (768 of 4,096 lists); 10M: capped at MAX_CODES_SCANNED.
    assert probes_for(nlist_for(1_000_000), 1_000_000) == 768
    ten_million = nlist_for(10_000_000)
    probes = probes_for(ten_million, 10_000_000)
    assert ten_million == 8192 and probes < ten_million * 3 // 16
    assert MAX_CODES_SCANNED <= probes * (10_000_000 // ten_million) < MAX_CODES_SCANNED + 10_000_000 // ten_million
    assert probes_for(64, 5_000) == 32, "never fewer than 32"
