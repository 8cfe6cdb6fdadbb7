"""Governed search at scale: end-to-end searches through the service layer over 100k, 1M or 10M faces.

Each size gets a fresh deployment (SQLite, FAISS), built in two parts:
- real: LFW people with 2+ photos, the first photo of each ingested through the governed ingest (the
  engine, provenance, a subject per person); their second photo is a probe, so each probe has a mate;
- synthetic: the rest of the faces written directly into the database (a source, gallery images with
  provenance, faces, sealed embeddings), drawn from the two-level Gaussian bench/search_latency.py fits
  to real LFW embeddings, and added to the index through the index's own add.

Then a fresh process opens the deployment and runs governed searches as the analyst, in case C-1 under
the council's grant: policy, the quality gate, the index, the candidate check against the database, the
probe thumbnail, and the search, its candidates and its ledger entry stored in one transaction. Only the
probe analysis is taken out (each probe was analysed once, by the real engine, before the clock started):
bench/load.py measures searches with photo analysis. One client, then `--clients` at once.

Reported: p50/p99 ms and searches/s; RAM per face (anonymous memory the opened deployment added, the
index's codes and ids mostly; the exact vectors are in a memory-mapped file, reported apart); and two
recalls against the exact oracle (brute force over every stored embedding, ranked by subject as the
service ranks): `recall_at_10`, of the leads an exact governed search would show (its top 10 within the
operating threshold), and `index_recall_at_10`, of the exact top 10 whatever their distance.

Run: .venv/bin/python bench/governed_search.py --faces 1000000 --json   (prints JSON)"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.office, tests.lfwdata
sys.path.insert(0, str(Path(__file__).resolve().parent))  # search_latency

from sqlalchemy import func, insert, select, update
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import ATTESTATION, make_office

from faceledger.config import Settings
from faceledger.services.casework._gallery_search import rank_candidates
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.governance.operating_threshold import current_threshold
from faceledger.services.people import accounts
from faceledger.services.runtime import _bounded_work as bounded_work
from faceledger.services.runtime.deployment import Deployment, init_deployment, open_deployment
from faceledger.store.models import FaceEmbedding, GalleryFace, GalleryImage, GalleryState, Source
from faceledger.types import IndexBackend
from search_latency import fit_generator, real_embeddings

_ORACLE_SLICE = 1_000_000  # oracle rows compared with every probe at a time
_CHUNK = 50_000  # faces drawn, written to the database and added to the index at a time, as ingest batches
K = 10


def build(folder: Path, faces: int, people: int, data: Path) -> None:
    """The deployment, the probes' analyses and the oracle's vectors, under `folder`."""
    settings = Settings(ingest_roots=[folder, data])
    deployment = init_deployment(settings, folder / "data", IndexBackend.FAISS)
    office = make_office(deployment, grant=False)
    office.grant(max_candidates=K)
    office.open_case()
    chosen = people_with_several(data, people)
    governed_ingest(
        deployment, office.curator, copy_with_manifest(chosen, folder / "real"), SourceSpec("lfw", "research test data")
    )
    probes = []
    for _, images in chosen:
        analysed = bounded_work.probe_faces(deployment.settings, images[1])
        if any(face.embedding is not None and face.quality.acceptable for face in analysed.faces.faces):
            probes.append((str(images[1]), analysed))
    real_ids, real_vectors = _stored_vectors(deployment)
    count = max(0, faces - len(real_ids))
    # The oracle's vectors go straight to a file as they are drawn: at 10M faces a copy in RAM is 5 GB.
    oracle = np.lib.format.open_memmap(
        folder / "oracle_vectors.npy", mode="w+", dtype=np.float32, shape=(len(real_ids) + count, 128)
    )
    oracle[: len(real_ids)] = real_vectors
    vectors, labels = real_embeddings(data, 300)
    synthetic_ids = _insert_synthetic(deployment, count, fit_generator(vectors, labels), oracle[len(real_ids) :])
    oracle.flush()
    del oracle
    np.save(folder / "oracle_ids.npy", np.concatenate([real_ids, synthetic_ids]))
    (folder / "probes.pkl").write_bytes(pickle.dumps(probes))
    (folder / "analyst.token").write_text(office.tokens["analyst"])
    deployment.close()


def _insert_synthetic(deployment: Deployment, count: int, generate: Any, oracle: np.ndarray) -> np.ndarray:
    """`count` synthetic faces straight into the database and, through the index's own add, the index;
    their vectors into `oracle` (a file). Returns their ids."""
    rng = np.random.default_rng(20261202)
    key = deployment.model_key
    index = deployment.model_index(key)
    with deployment.engine.begin() as connection:
        source_id = connection.execute(
            insert(Source)
            .values(
                name="synthetic",
                legal_basis="benchmark only: synthetic embeddings of no person",
                collection_method="bench/governed_search.py",
            )
            .returning(Source.id)
        ).scalar_one()
        first = int(connection.execute(select(func.coalesce(func.max(GalleryFace.id), 0))).scalar_one()) + 1
        first_image = int(connection.execute(select(func.coalesce(func.max(GalleryImage.id), 0))).scalar_one()) + 1
        version = int(connection.execute(select(GalleryState.version)).scalar_one())
    ids = np.arange(first, first + count, dtype=np.int64)
    ivf_from = deployment.settings.faiss_ivf_min_faces
    for start in range(0, count, _CHUNK):
        chunk = ids[start : start + _CHUNK]
        drawn = generate(len(chunk), rng)
        oracle[start : start + len(chunk)] = drawn
        _insert_rows(deployment, source_id, key, first_image + start, chunk, drawn)
        was_flat = index.count() < ivf_from
        index.add(chunk, drawn)
        if was_flat and index.count() >= ivf_from:
            index.save(version)  # an ingest's levelled save: the index turns IVF here and retrains as it grows
    with deployment.engine.begin() as connection:
        connection.execute(update(GalleryState).where(GalleryState.id == 1).values(version=GalleryState.version + 1))
        version = int(connection.execute(select(GalleryState.version)).scalar_one())
    index.save(version)
    return ids


def _insert_rows(
    deployment: Deployment, source_id: int, key: str, first_image: int, chunk: np.ndarray, drawn: np.ndarray
) -> None:
    """One chunk of synthetic gallery images (with provenance), faces and sealed embeddings."""
    images, rows, embeddings = [], [], []
    for offset, (face_id, vector) in enumerate(zip(chunk.tolist(), drawn, strict=True)):
        image_id = first_image + offset
        thumbnail = f"thumbnails/synthetic/{face_id}.jpg"
        images.append(
            {
                "id": image_id,
                "sha256": secrets.token_hex(32),
                "source_id": source_id,
                "source_url": f"https://example.org/synthetic/{face_id}.jpg",
                "page_url": "https://example.org/synthetic",
                "original_filename": f"{face_id}.jpg",
                "image_format": "jpeg",
                "width": 250,
                "height": 250,
            }
        )
        rows.append(
            {
                "id": face_id,
                "image_id": image_id,
                "face_index": 0,
                "box_left": 70,
                "box_top": 70,
                "box_right": 180,
                "box_bottom": 180,
                "landmarks": [],
                "detector": "yunet",
                "detector_score": 0.99,
                "quality_score": 0.9,
                "quality": {},
                "thumbnail": thumbnail,
            }
        )
        embeddings.append(
            {"face_id": face_id, "model_key": key, "embedding": deployment.seal_embedding(thumbnail, vector)}
        )
    with deployment.engine.begin() as connection:
        connection.execute(insert(GalleryImage), images)
        connection.execute(insert(GalleryFace), rows)
        connection.execute(insert(FaceEmbedding), embeddings)


def _stored_vectors(deployment: Deployment) -> tuple[np.ndarray, np.ndarray]:
    """The real faces' stored embeddings (the only ones there are before the synthetic part)."""
    with deployment.sessions() as session:
        query = select(FaceEmbedding.face_id, FaceEmbedding.embedding, GalleryFace.thumbnail).join(GalleryFace)
        rows = session.execute(query.where(FaceEmbedding.model_key == deployment.model_key)).all()
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    return ids, np.stack([deployment.embedding_vector(row[2], row[1]) for row in rows]).astype(np.float32)


def _memory() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def measure(folder: Path, searches: int, clients: int) -> dict[str, Any]:
    """In a fresh process: open the deployment, search, and report."""
    probes: list[tuple[str, bounded_work.ProbeFaces]] = pickle.loads((folder / "probes.pkl").read_bytes())
    analysed = {path: faces for path, faces in probes}
    bounded_work.probe_faces = lambda _settings, path, **_: analysed[str(path)]
    before = _memory()
    deployment = open_deployment(Settings(ingest_roots=[folder]), folder / "data")
    analyst = accounts.authenticate_token(deployment, (folder / "analyst.token").read_text())
    faces = deployment.index.count()

    def search(path: str) -> tuple[float, Any]:
        started = time.perf_counter()
        outcome = governed_search(deployment, analyst, SearchRequest("C-1", ATTESTATION, Path(path)))
        return (time.perf_counter() - started) * 1000, outcome

    for path, _ in probes[:5]:
        search(path)  # warm: first reads of the database and of the mapped rows
    single = [search(probes[i % len(probes)][0]) for i in range(searches)]
    opened = _memory()
    concurrent: list[float] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        for turn in range(searches // clients):
            elapsed, _ = search(probes[(number * 7 + turn) % len(probes)][0])
            with lock:
                concurrent.append(elapsed)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    shown = {probes[i % len(probes)][0]: outcome for i, (_, outcome) in enumerate(single)}
    recall = _recalls(deployment, folder, probes, shown)
    vectors_file = sum(p.stat().st_blocks * 512 for p in (folder / "data" / "index").rglob("faiss.vectors"))
    deployment.close()
    times = [elapsed for elapsed, _ in single]
    return {
        "faces": faces,
        "probes": len(probes),
        "single_client": {
            "searches": len(times),
            **_percentiles(times),
            "searches_per_s": round(len(times) / (sum(times) / 1000), 1),
        },
        "concurrent": {
            "clients": clients,
            "searches": len(concurrent),
            **_percentiles(concurrent),
            "searches_per_s": round(len(concurrent) / wall, 1),
        },
        "p99_ms": _percentiles(times)["p99_ms"],
        **recall,
        "bytes_per_face": round((opened["RssAnon"] - before["RssAnon"]) / faces, 1),
        "mapped_vectors_bytes_per_face_on_disk": round(vectors_file / faces, 1),
        "rss_file_bytes_after": opened["RssFile"],
    }


def _recalls(
    deployment: Deployment, folder: Path, probes: list[tuple[str, Any]], outcomes: dict[str, Any]
) -> dict[str, Any]:
    ids = np.load(folder / "oracle_ids.npy", mmap_mode="r")
    vectors = np.load(folder / "oracle_vectors.npy", mmap_mode="r")
    with deployment.sessions() as session:
        subjects: dict[int, int | None] = dict(
            session.execute(
                select(GalleryFace.id, GalleryFace.subject_id).where(GalleryFace.subject_id.is_not(None))
            ).all()
        )
    threshold = current_threshold(deployment).threshold
    faces = [
        max((f for f in analysed.faces.faces if f.embedding is not None), key=lambda f: f.box.area)
        for _, analysed in probes
    ]
    queries = np.stack([np.asarray(face.embedding.vector, dtype=np.float32) for face in faces])  # type: ignore[union-attr]
    nearest = _exact_nearest(ids, vectors, queries, K * 20)
    lead_hits = lead_total = index_hits = 0
    for (path, _), face, ranked_exact in zip(probes, faces, nearest, strict=True):
        exact = _by_subject(ranked_exact, subjects)[:K]
        exact_leads = {face_id for face_id, distance in exact if distance <= threshold}
        shown = {c["face_id"] for c in outcomes[path].candidates}
        lead_hits += len(exact_leads & shown)
        lead_total += len(exact_leads)
        ranked = {c.face_id for c in rank_candidates(deployment, face, K, threshold=threshold)}
        index_hits += len({face_id for face_id, _ in exact} & ranked)
    return {
        "recall_at_10": round(lead_hits / lead_total, 4) if lead_total else None,
        "leads_in_exact_answers": lead_total,
        "index_recall_at_10": round(index_hits / (K * len(probes)), 4),
        "operating_threshold": round(threshold, 4),
    }


def _exact_nearest(
    ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, depth: int
) -> list[list[tuple[int, float]]]:
    """Brute force in one pass over the file (at 10M faces, 5 GB): each query's `depth` nearest (id,
    distance), nearest first. Chosen by the dot-product form of the distance, then measured directly."""
    near = np.empty((len(queries), 0), dtype=np.float32)
    rows = np.empty((len(queries), 0), dtype=np.int64)
    squared_queries = (queries**2).sum(axis=1)[:, None]
    for start in range(0, len(vectors), _ORACLE_SLICE):
        part = np.asarray(vectors[start : start + _ORACLE_SLICE])
        squared = squared_queries + (part**2).sum(axis=1)[None, :] - 2 * queries @ part.T
        top = np.argpartition(squared, min(depth, len(part)) - 1, axis=1)[:, :depth]
        near = np.concatenate([near, np.take_along_axis(squared, top, axis=1)], axis=1)
        rows = np.concatenate([rows, start + top], axis=1)
        keep = np.argsort(near, axis=1, kind="stable")[:, :depth]
        near, rows = np.take_along_axis(near, keep, axis=1), np.take_along_axis(rows, keep, axis=1)
    found = []
    for query, picked in zip(queries, rows, strict=True):
        chosen = np.sort(picked)
        distances = np.linalg.norm(np.asarray(vectors[chosen]) - query, axis=1)
        found.append([(int(ids[chosen[i]]), float(distances[i])) for i in np.argsort(distances, kind="stable")])
    return found


def _by_subject(ranked: list[tuple[int, float]], subjects: dict[int, int | None]) -> list[tuple[int, float]]:
    """One entry per subject, its nearest face, as services/casework/_model_search.py ranks."""
    seen: set[int] = set()
    kept = []
    for face_id, distance in ranked:
        subject = subjects.get(face_id)
        if subject is not None and subject in seen:
            continue
        if subject is not None:
            seen.add(subject)
        kept.append((face_id, distance))
    return kept


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, nargs="+", default=[100_000])
    parser.add_argument("--people", type=int, default=100, help="real LFW people (their 2nd photos probe)")
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data")))
    parser.add_argument("--json", action="store_true", help="print JSON (the only output there is)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the fresh process's half
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.searches, args.clients)))
        return
    runs = []
    for faces in args.faces:
        folder = Path(tempfile.mkdtemp(prefix=f"bench-governed-{faces}-"))
        started = time.perf_counter()
        build(folder, faces, args.people, args.data.resolve())
        built_s = time.perf_counter() - started
        command = [
            sys.executable,
            __file__,
            "--measure",
            str(folder),
            "--searches",
            str(args.searches),
            "--clients",
            str(args.clients),
        ]
        measured = subprocess.run(command, check=False, capture_output=True, text=True)
        if measured.returncode:
            raise SystemExit(f"measuring {folder} failed:\n{measured.stderr[-4000:]}")
        result = json.loads(measured.stdout)
        runs.append({**result, "build_s": round(built_s, 1), "folder": str(folder)})
    print(
        json.dumps(
            {
                "benchmark": "governed_search",
                "cores": os.cpu_count(),
                "runs": runs,
                **{k: runs[-1][k] for k in ("p99_ms", "recall_at_10", "bytes_per_face")},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
