"""Gallery ingestion: deduplicated by content hash, incremental, resumable after any kill.

Images are analysed on all cores and committed in batches, each batch one transaction. A batch's
thumbnails are written (under names fixed by content hash) before its commit, so a kill at any point
leaves either a committed batch or nothing that a rerun will not simply overwrite. The index follows
the commits and is saved at the end; after a kill, opening the deployment brings it level."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from faceledger.engine.image_input import file_sha256
from faceledger.engine.parallel import FileResult
from faceledger.errors import Conflict, InvalidInput
from faceledger.services.gallery.inputs import IngestItem, input_roots, read_inputs
from faceledger.services.governance.blocklist import Blocklist, load_blocklist
from faceledger.services.runtime.deployment import Deployment, index_lock
from faceledger.store import model_registry
from faceledger.store.db import checkpoint, transaction
from faceledger.store.models import (
    FaceEmbedding,
    GalleryFace,
    GalleryImage,
    IngestFailure,
    IngestJob,
    Source,
    Subject,
)
from faceledger.store.sealed import Role
from faceledger.types import DetectedFace, Embedding, ImageFaces, IngestJobStatus

_LOOKUP_CHUNK = 500
_INDEX_SAVE_EVERY_S = 60.0

# The job states as stored (a String column; SQLAlchemy binds these plain).
RUNNING, INTERRUPTED = IngestJobStatus.RUNNING.value, IngestJobStatus.INTERRUPTED.value


@dataclass(frozen=True)
class SourceSpec:
    name: str
    legal_basis: str | None
    collection_method: str = ""
    contact: str = ""


@dataclass
class IngestReport:
    job_id: int
    source: str
    files_seen: int = 0
    images_added: int = 0
    images_known: int = 0
    duplicates_in_input: int = 0
    faces_added: int = 0
    faces_skipped_optout: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "failures": [{"file": f, "reason": r} for f, r in self.failures]}


ProgressCallback = Callable[[int, int, IngestReport], None]


def ingest(
    deployment: Deployment,
    path: Path,
    spec: SourceSpec,
    *,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
    items: list[IngestItem] | None = None,
    ray_address: str | None = None,
) -> IngestReport:
    """Ingest `path`; `items` when the caller has already read (and so checked) it. With `ray_address` the
    analysis runs on that Ray cluster; every database write still happens here, batch by batch."""
    started = time.monotonic()
    if items is None:
        items = read_inputs(path, input_roots(deployment))  # the whole input is checked before anything is stored
    source_id = ensure_source(deployment, spec)
    report = IngestReport(job_id=_start_job(deployment, source_id, path), source=spec.name, files_seen=len(items))
    pending = _triage(deployment, items, report)
    _set_progress(deployment, report.job_id, 0, len(pending))
    blocklist = load_blocklist(deployment)
    batch: list[tuple[IngestItem, FileResult]] = []
    last_save = time.monotonic()
    results = deployment.analyser.gallery_files(
        deployment.settings,
        [item.path for item in pending],
        workers=workers,
        thumbnail_px=deployment.settings.thumbnail_px,
        ray_address=ray_address,
    )
    for done, (item, result) in enumerate(zip(pending, results, strict=True), start=1):
        batch.append((item, result))
        if len(batch) >= deployment.settings.ingest_batch_images or done == len(pending):
            _commit_batch(deployment, report, source_id, _keep_out(batch, blocklist, report), (done, len(pending)))
            batch = []
            if time.monotonic() - last_save > _INDEX_SAVE_EVERY_S:
                deployment.save_index()
                last_save = time.monotonic()
        if on_progress is not None:
            on_progress(done, len(pending), report)
    deployment.save_index()
    report.seconds = round(time.monotonic() - started, 2)
    _finish_job(deployment, report)
    checkpoint(deployment.engine)
    return report


def close_interrupted(session: Session, path: Path) -> list[dict[str, int]]:
    """Mark jobs a kill left running on this input as interrupted, with what they had committed (their
    images stay: a rerun skips them as known), so that the ledger can account for them."""
    jobs = list(
        session.scalars(select(IngestJob.id).where(IngestJob.status == RUNNING, IngestJob.input_path == str(path)))
    )
    closed = []
    for job_id in jobs:
        images = session.scalar(select(func.count()).where(GalleryImage.ingest_job_id == job_id)) or 0
        faces = (
            session.scalar(
                select(func.count())
                .select_from(GalleryFace)
                .join(GalleryImage)
                .where(GalleryImage.ingest_job_id == job_id)
            )
            or 0
        )
        closed.append({"job": job_id, "images_committed": int(images), "faces_committed": int(faces)})
    if jobs:
        session.execute(update(IngestJob).where(IngestJob.id.in_(jobs)).values(status=INTERRUPTED))
    return closed


def ensure_source(deployment: Deployment, spec: SourceSpec) -> int:
    name = spec.name.strip()
    if not name:
        raise InvalidInput("a source needs a name", field="source")
    with transaction(deployment.sessions) as session:
        source = session.scalars(select(Source).where(Source.name == name)).one_or_none()
        legal_basis = (spec.legal_basis or "").strip()
        if source is None:
            if not legal_basis:
                raise InvalidInput(f"source {name!r} is new: give its legal basis", field="legal_basis")
            source = Source(
                name=name, legal_basis=legal_basis, collection_method=spec.collection_method, contact=spec.contact
            )
            session.add(source)
            session.flush()
        elif legal_basis and legal_basis != source.legal_basis:
            raise Conflict(f"source {name!r} exists with another legal basis: {source.legal_basis!r}")
        return source.id


def _start_job(deployment: Deployment, source_id: int, path: Path) -> int:
    with transaction(deployment.sessions) as session:
        session.execute(
            update(IngestJob)
            .where(IngestJob.status == RUNNING, IngestJob.input_path == str(path))
            .values(status=INTERRUPTED)
        )
        job = IngestJob(source_id=source_id, input_path=str(path))
        session.add(job)
        session.flush()
        return job.id


def _finish_job(deployment: Deployment, report: IngestReport) -> None:
    with transaction(deployment.sessions) as session:
        session.execute(
            update(IngestJob)
            .where(IngestJob.id == report.job_id)
            .values(
                status=IngestJobStatus.FINISHED.value,
                finished_at=deployment.clock.now(),
                files_seen=report.files_seen,
                images_added=report.images_added,
                images_known=report.images_known + report.duplicates_in_input,
                faces_added=report.faces_added,
                failures=len(report.failures),
            )
        )


def _triage(deployment: Deployment, items: list[IngestItem], report: IngestReport) -> list[IngestItem]:
    """Hash every file; leave out what the gallery has and repeats within this input."""
    hashed: list[tuple[IngestItem, str]] = []
    for item in items:
        try:
            hashed.append((item, file_sha256(item.path)))
        except OSError as exc:
            report.failures.append((str(item.path), f"cannot be read ({exc.strerror})"))
    known: set[str] = set()
    with deployment.sessions() as session:
        digests = [digest for _, digest in hashed]
        for start in range(0, len(digests), _LOOKUP_CHUNK):
            chunk = digests[start : start + _LOOKUP_CHUNK]
            known.update(session.scalars(select(GalleryImage.sha256).where(GalleryImage.sha256.in_(chunk))))
    pending, seen = [], set()
    for item, digest in hashed:
        if digest in known:
            report.images_known += 1
        elif digest in seen:
            report.duplicates_in_input += 1
        else:
            seen.add(digest)
            pending.append(item)
    return pending


def _keep_out(
    batch: list[tuple[IngestItem, FileResult]], blocklist: Blocklist, report: IngestReport
) -> list[tuple[IngestItem, FileResult]]:
    """Drop faces of people who opted out (their thumbnails too); an image left with none fails as such."""
    if not len(blocklist):
        return batch
    kept = []
    for item, result in batch:
        if result.faces is None:
            kept.append((item, result))
            continue
        pairs = list(zip(result.faces.faces, result.thumbnails, strict=False))
        allowed = [(f, t) for f, t in pairs if not _blocked(f, blocklist)]
        report.faces_skipped_optout += len(pairs) - len(allowed)
        if len(allowed) == len(pairs):
            kept.append((item, result))
        elif not any(face.embedding is not None for face, _ in allowed):
            kept.append((item, replace(result, faces=None, thumbnails=(), error="skipped: matches an opt-out request")))
        else:
            faces = replace(result.faces, faces=tuple(face for face, _ in allowed))
            kept.append((item, replace(result, faces=faces, thumbnails=tuple(t for _, t in allowed))))
    return kept


def _blocked(face: DetectedFace, blocklist: Blocklist) -> bool:
    """Whether the face's embedding by the blocklist's model matches an opt-out (never across models)."""
    return any(e.model.key == blocklist.model_key and blocklist.matches(e.vector) for e in face.embeddings)


def _set_progress(deployment: Deployment, job_id: int, done: int, total: int) -> None:
    with transaction(deployment.sessions) as session:
        session.execute(update(IngestJob).where(IngestJob.id == job_id).values(images_done=done, images_total=total))


def _commit_batch(
    deployment: Deployment,
    report: IngestReport,
    source_id: int,
    batch: list[tuple[IngestItem, FileResult]],
    progress: tuple[int, int] = (0, 0),
) -> None:
    for _, result in batch:
        _write_thumbnails(deployment, result)
    added_faces: list[tuple[int, str, bytes]] = []  # face id, model key, float32 bytes
    failures: list[tuple[str, str]] = []
    images_added = 0
    # The rows and their index entries under the index lock: a removal by another process (an opt-out)
    # cannot fall between them and leave an index row of a face the database no longer has.
    with index_lock(deployment.data_dir, exclusive=True):
        with transaction(deployment.sessions) as session:
            for item, result in batch:
                reason = _failure_reason(result)
                if reason is not None or result.faces is None:
                    failures.append((str(item.path), reason or "unreadable"))
                    continue
                stored = _store_image(session, source_id, report.job_id, item, result.faces, deployment.seal_embedding)
                images_added += bool(stored)
                added_faces.extend(stored)
            new_models = {key for _, key, _ in added_faces} - set(deployment.index.model_keys())
            for key in sorted(new_models):  # a model the gallery had not seen: kept, not searched until enabled
                model_registry.register(session, key, enabled=False)
            for path, reason in failures:
                session.add(IngestFailure(job_id=report.job_id, path=path, reason=reason))
            deployment.bump_version(session)
            # progress goes with the batch's own commit: any process reading the job sees what is stored
            session.execute(
                update(IngestJob)
                .where(IngestJob.id == report.job_id)
                .values(
                    images_done=progress[0],
                    images_total=progress[1],
                    images_added=report.images_added + images_added,
                    failures=len(report.failures) + len(failures),
                )
            )
        report.failures.extend(failures)
        report.images_added += images_added
        report.faces_added += len({face_id for face_id, _, _ in added_faces})
        for key in dict.fromkeys(key for _, key, _ in added_faces):  # each model's vectors to its own index
            mine = [(face_id, vector) for face_id, model, vector in added_faces if model == key]
            ids = np.array([face_id for face_id, _ in mine], dtype=np.int64)
            vectors = np.stack([np.frombuffer(vector, dtype=np.float32) for _, vector in mine])
            deployment.index.open_model(key).add(ids, vectors)


def _failure_reason(result: FileResult) -> str | None:
    if result.faces is None:
        return result.error or "unreadable"
    if not result.faces.faces:
        return "no face found"
    if all(face.embedding is None for face in result.faces.faces):
        reasons = "; ".join(f"face {f.index}: {f.not_embedded_reason}" for f in result.faces.faces)
        return f"no face large enough to embed ({reasons})"
    return None


def _store_image(
    session: Session,
    source_id: int,
    job_id: int,
    item: IngestItem,
    faces: ImageFaces,
    seal: Callable[[str, np.ndarray], bytes],
) -> list[tuple[int, str, bytes]]:
    info = faces.image
    if session.scalars(select(GalleryImage.id).where(GalleryImage.sha256 == info.sha256)).first() is not None:
        return []  # the file changed into one the gallery has, between hashing and reading
    subject = _subject(session, item)
    image = GalleryImage(
        sha256=info.sha256,
        source_id=source_id,
        subject_id=subject.id if subject else None,
        ingest_job_id=job_id,
        source_url=item.source_url,
        page_url=item.page_url,
        collected_at=item.collected_at,
        original_filename=item.path.name,
        image_format=info.format,
        width=info.width,
        height=info.height,
    )
    session.add(image)
    session.flush()
    embedded = [(face, face.embedding) for face in faces.faces if face.embedding is not None]
    subject_face = _subject_face([face for face, _ in embedded])
    stored = []
    for face, embedding in embedded:
        row = _face_row(image, face, embedding, info.sha256, subject if face is subject_face else None, seal)
        session.add(row)
        session.flush()
        for each in face.embeddings:  # every model's embedding of this face, each sealed to the face
            stored.append((row.id, each.model.key, np.asarray(each.vector, dtype=np.float32).tobytes()))
    return stored


def _face_row(
    image: GalleryImage,
    face: DetectedFace,
    embedding: Embedding,
    sha256: str,
    subject: Subject | None,
    seal: Callable[[str, np.ndarray], bytes],
) -> GalleryFace:
    thumbnail = thumbnail_relpath(sha256, face.index)
    return GalleryFace(
        image_id=image.id,
        subject_id=subject.id if subject else None,
        face_index=face.index,
        box_left=face.box.left,
        box_top=face.box.top,
        box_right=face.box.right,
        box_bottom=face.box.bottom,
        landmarks=[list(point) for point in face.landmarks],
        detector=face.detector.value if face.detector else "person",
        detector_score=face.detector_score,
        quality_score=face.quality.score,
        quality=face.quality.to_dict(),
        thumbnail=thumbnail,
        embeddings=[
            FaceEmbedding(model_key=each.model.key, embedding=seal(thumbnail, each.vector))  # sealed,
            for each in face.embeddings
        ],  # bound to this face
    )


def _subject_face(faces: list[DetectedFace]) -> DetectedFace | None:
    """Which face a subject named for the whole image is: the only one, or one clearly the largest
    (1.5x the area of the next, as in a portrait with bystanders); otherwise none, rather than a guess."""
    ranked = sorted(faces, key=lambda face: face.box.area, reverse=True)
    if len(ranked) == 1 or (ranked and ranked[0].box.area >= 1.5 * ranked[1].box.area):
        return ranked[0]
    return None


def _subject(session: Session, item: IngestItem) -> Subject | None:
    if not item.subject_external_id:
        return None
    subject = session.scalars(select(Subject).where(Subject.external_id == item.subject_external_id)).one_or_none()
    if subject is None:
        subject = Subject(external_id=item.subject_external_id, display_name=item.subject_name)
        session.add(subject)
        session.flush()
    return subject


def thumbnail_relpath(sha256: str, face_index: int) -> str:
    return f"thumbnails/{sha256[:2]}/{sha256}-face{face_index}.jpg"


def _write_thumbnails(deployment: Deployment, result: FileResult) -> None:
    if result.faces is None:
        return
    for face, jpeg in zip(result.faces.faces, result.thumbnails, strict=False):
        if face.embedding is None:
            continue
        relative = thumbnail_relpath(result.faces.image.sha256, face.index)
        deployment.sealer.write_file(deployment.data_dir / relative, Role.THUMBNAIL, relative, jpeg)
