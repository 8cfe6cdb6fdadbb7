"""The gallery's models: `faceledger models list | enable NAME | reembed NAME`.

A model is registered when the gallery first holds (or is about to hold) embeddings by it, and searched
only once enabled. The deployment's pipeline models are registered enabled when it is created. A model
added later is re-embedded first (resumable: faces that already have its embedding are skipped, every
batch is one transaction), then enabled, which needs every gallery face it could embed to have one, so
that a search with it never silently misses part of the gallery. Where the pixels come from:
services/model_admin/_reembed_sources.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from faceledger.engine.pipeline import FaceEngine
from faceledger.errors import Conflict, EngineUnavailable, FaceledgerError, InvalidInput, NotFound
from faceledger.policy.governance import Action, ActorView, Context
from faceledger.services.governance.guard import append, governed, no_context
from faceledger.services.model_admin import operator_models
from faceledger.services.model_admin._reembed_sources import FacePixels, OriginalFinder, PixelSource, thumbnail_pixels
from faceledger.services.runtime.deployment import Deployment, index_lock
from faceledger.services.runtime.pipeline_models import pipeline_identities
from faceledger.services.runtime.staging import scratch
from faceledger.store import events, model_registry
from faceledger.store.db import transaction
from faceledger.store.models import FaceEmbedding, GalleryFace, GalleryImage, GalleryModel, IngestJob
from faceledger.types import Box, Embedding, ModelIdentity, Pipeline

_BATCH_FACES = 64  # faces per committed batch: a kill loses at most one batch's work
_MIN_IOU = 0.4  # a detection this much over the stored box is the same face


@dataclass(frozen=True)
class ModelStatus:
    model_key: str
    name: str
    enabled: bool
    faces_embedded: int
    gallery_faces: int
    index_faces: int
    in_pipeline: bool  # used by the configured pipeline (FACELEDGER_PIPELINE)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ReembedReport:
    model_key: str
    gallery_faces: int = 0
    already_embedded: int = 0  # skipped: the face had this model's embedding
    embedded: int = 0
    from_originals: int = 0
    from_thumbnails: int = 0
    unavailable: int = 0  # no original found again, thumbnails not allowed
    not_found_again: int = 0  # the model's detector found no face at the stored box
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "failures": self.failures[:20]}


ReembedProgress = Callable[[int, int, ReembedReport], None]


def list_models(deployment: Deployment) -> list[ModelStatus]:
    try:
        pipeline = set(deployment.pipeline_keys)
    except EngineUnavailable:
        pipeline = set()
    with deployment.sessions() as session:
        faces = session.scalar(select(func.count()).select_from(GalleryFace)) or 0
        counts = dict(
            session.execute(select(FaceEmbedding.model_key, func.count()).group_by(FaceEmbedding.model_key)).all()
        )
        rows = model_registry.registered(session)
    return [
        ModelStatus(
            row.model_key,
            row.name,
            row.enabled,
            int(counts.get(row.model_key, 0)),
            int(faces),
            deployment.index.open_model(row.model_key).count(),
            row.model_key in pipeline,
        )
        for row in rows
    ]


def known_identities() -> dict[str, tuple[ModelIdentity, Pipeline]]:
    """Every model a pipeline of this build can embed with, and a single-model pipeline that does."""
    from faceledger.config import Settings

    found: dict[str, tuple[ModelIdentity, Pipeline]] = {}
    for pipeline in Pipeline:
        try:
            identities = pipeline_identities(Settings(pipeline=pipeline))
        except EngineUnavailable:
            continue
        for identity in identities:
            if identity.key not in found or len(identities) == 1:
                found[identity.key] = (identity, pipeline)
    return found


def resolve_model(name: str, candidates: list[str]) -> str:
    """A model key from what a person typed: the key, the model's name, or a single-model pipeline's name."""
    wanted = name.strip()
    exact = [key for key in candidates if key == wanted]
    named = [key for key in candidates if key.split("@", 1)[0] == wanted]
    chosen = exact or named
    if not chosen and wanted in {p.value for p in Pipeline}:
        known = known_identities()
        chosen = [key for key in candidates if key in known and known[key][1].value == wanted]
    if not chosen:
        raise NotFound(f"no model {wanted!r}; known: {', '.join(candidates) or 'none'}")
    if len(chosen) > 1:
        raise Conflict(f"{wanted!r} names several models ({', '.join(chosen)}): give the full key")
    return chosen[0]


def enable_model(deployment: Deployment, name: str, *, allow_missing: bool = False) -> ModelStatus:
    """Search with the model. Faces it has no embedding of (its detector found no face there, or the
    original is gone) would be invisible to a search by it alone: refused unless `allow_missing`."""
    with transaction(deployment.sessions) as session:
        key = resolve_model(name, model_registry.registered_keys(session))
        row = session.scalars(select(GalleryModel).where(GalleryModel.model_key == key)).one()
        refusal = operator_models.enable_refusal(session, key)  # an added model: only once evaluated
        if refusal is not None:
            raise Conflict(refusal)
        missing = _missing_count(session, key)
        if missing and not allow_missing:
            raise Conflict(
                f"{key}: {missing} gallery faces have no embedding by it; run: faceledger models "
                f"reembed {row.name} (with --from-thumbnails where originals are gone), or "
                "enable it with --allow-missing"
            )
        if not row.enabled:
            row.enabled, row.enabled_at = True, deployment.clock.now()
            deployment.bump_version(session)  # other processes re-read the registry and their indexes
    return next(status for status in list_models(deployment) if status.model_key == key)


def _missing_count(session: Session, key: str) -> int:
    have = select(FaceEmbedding.face_id).where(FaceEmbedding.model_key == key)
    return session.scalar(select(func.count()).select_from(GalleryFace).where(GalleryFace.id.not_in(have))) or 0


def reembed_engine(deployment: Deployment, key: str) -> FaceEngine:
    """An engine whose pipeline embeds with this model (the configured one when it does)."""
    if key in _safe_pipeline_keys(deployment):
        return deployment.face_engine
    with deployment.sessions() as session:
        added = operator_models.operator_key(session, key)
        added_name = added.name if added is not None else None
    if added_name is not None:  # an operator-added model: its own pipeline (YuNet -> the 112 px chip -> it)
        return FaceEngine(operator_models.operator_settings(deployment, added_name)).load()
    known = known_identities()
    if key not in known:
        raise EngineUnavailable(f"no pipeline of this build embeds with {key}")
    return FaceEngine(deployment.settings.model_copy(update={"pipeline": known[key][1]})).load()


def _safe_pipeline_keys(deployment: Deployment) -> tuple[str, ...]:
    try:
        return deployment.pipeline_keys
    except EngineUnavailable:
        return ()


def target_key(deployment: Deployment, name: str, engine: FaceEngine | None = None) -> str:
    """The model `name` means: a registered one, one this build's pipelines embed with, or `engine`'s."""
    with deployment.sessions() as session:
        registered = model_registry.registered_keys(session)
    offered = [engine.model.key] if engine is not None else []
    return resolve_model(name, list(dict.fromkeys([*registered, *known_identities(), *offered])))


def reembed(
    deployment: Deployment,
    key: str,
    *,
    from_thumbnails: bool = False,
    engine: FaceEngine | None = None,
    on_progress: ReembedProgress | None = None,
    batch_faces: int = _BATCH_FACES,
) -> ReembedReport:
    """Give every gallery face lacking one an embedding by `key`; resumable after any kill."""
    started = time.monotonic()
    engine = engine or reembed_engine(deployment, key)
    with transaction(deployment.sessions) as session:
        model_registry.register(session, key, enabled=False)
    index = deployment.index.open_model(key)
    report = ReembedReport(key)
    with deployment.sessions() as session:
        report.gallery_faces = session.scalar(select(func.count()).select_from(GalleryFace)) or 0
        pending = _pending_faces(session, key)
    report.already_embedded = report.gallery_faces - len(pending)
    finder = OriginalFinder(deployment)
    done = 0
    with scratch(deployment.data_dir) as folder:
        for start in range(0, len(pending), batch_faces):
            batch = pending[start : start + batch_faces]
            embedded = _embed_batch(deployment, engine, key, batch, finder, folder, from_thumbnails, report)
            report.embedded += _commit(deployment, key, embedded, index)
            done += len(batch)
            if on_progress is not None:
                on_progress(done, len(pending), report)
    deployment.save_index()
    report.seconds = round(time.monotonic() - started, 2)
    return report


@dataclass(frozen=True)
class _PendingFace:
    face_id: int
    thumbnail: str
    box: Box
    image_sha256: str
    filename: str
    image_size: tuple[int, int]
    input_path: str | None


def _pending_faces(session: Session, key: str) -> list[_PendingFace]:
    have = select(FaceEmbedding.face_id).where(FaceEmbedding.model_key == key)
    rows = session.execute(
        select(
            GalleryFace.id,
            GalleryFace.thumbnail,
            GalleryFace.box_left,
            GalleryFace.box_top,
            GalleryFace.box_right,
            GalleryFace.box_bottom,
            GalleryImage.sha256,
            GalleryImage.original_filename,
            GalleryImage.width,
            GalleryImage.height,
            IngestJob.input_path,
        )
        .join(GalleryImage, GalleryFace.image_id == GalleryImage.id)
        .outerjoin(IngestJob, GalleryImage.ingest_job_id == IngestJob.id)
        .where(GalleryFace.id.not_in(have))
        .order_by(GalleryImage.id, GalleryFace.id)
    ).all()
    return [_PendingFace(r[0], r[1], Box(r[2], r[3], r[4], r[5]), r[6], r[7], (r[8], r[9]), r[10]) for r in rows]


def _embed_batch(
    deployment: Deployment,
    engine: FaceEngine,
    key: str,
    batch: list[_PendingFace],
    finder: OriginalFinder,
    folder: Any,
    from_thumbnails: bool,
    report: ReembedReport,
) -> list[tuple[_PendingFace, Embedding]]:
    embedded: list[tuple[_PendingFace, Embedding]] = []
    analysed: dict[str, list[tuple[Box, Embedding]]] = {}  # an original's faces, analysed once per image
    for face in batch:
        pixels = _pixels(deployment, face, finder, folder, from_thumbnails)
        if pixels is None:
            report.unavailable += 1
            continue
        cache_key = str(pixels.path)
        if cache_key not in analysed:
            try:
                found = engine.analyse(engine.load_image(pixels.path))
            except (FaceledgerError, OSError) as exc:  # one unreadable image must not stop the run
                report.failures.append(f"face {face.face_id}: {exc}")
                analysed[cache_key] = []
            else:
                analysed[cache_key] = [(f.box, e) for f in found.faces for e in f.embeddings if e.model.key == key]
        match = _best_match(pixels.box, analysed[cache_key])
        if match is None:
            report.not_found_again += 1
            continue
        embedded.append((face, match))
        if pixels.source is PixelSource.ORIGINAL:
            report.from_originals += 1
        else:
            report.from_thumbnails += 1
    return embedded


def _pixels(
    deployment: Deployment, face: _PendingFace, finder: OriginalFinder, folder: Any, from_thumbnails: bool
) -> FacePixels | None:
    original = finder.find(face.input_path, face.filename, face.image_sha256)
    if original is not None:
        return FacePixels(original, PixelSource.ORIGINAL, face.box)
    if from_thumbnails and (deployment.data_dir / face.thumbnail).is_file():
        return thumbnail_pixels(deployment, face.thumbnail, face.box, face.image_size, folder)
    return None


def _best_match(box: Box, found: list[tuple[Box, Embedding]]) -> Embedding | None:
    scored = [(box.iou(other), embedding) for other, embedding in found]
    best = max(scored, key=lambda pair: pair[0], default=None)
    return best[1] if best is not None and best[0] >= _MIN_IOU else None


def _commit(deployment: Deployment, key: str, embedded: list[tuple[_PendingFace, Embedding]], index: Any) -> int:
    """Store a batch's embeddings in one transaction (faces removed meanwhile are left out), then index them."""
    if not embedded:
        return 0
    with index_lock(deployment.data_dir, exclusive=True):  # as ingest: no removal between rows and index
        with transaction(deployment.sessions) as session:
            present = set(
                session.scalars(select(GalleryFace.id).where(GalleryFace.id.in_([f.face_id for f, _ in embedded])))
            )
            have = set(
                session.scalars(
                    select(FaceEmbedding.face_id).where(
                        FaceEmbedding.model_key == key, FaceEmbedding.face_id.in_(present)
                    )
                )
            )
            kept = [(f, e) for f, e in embedded if f.face_id in present and f.face_id not in have]  # removed meanwhile
            session.add_all(
                FaceEmbedding(
                    face_id=f.face_id, model_key=key, embedding=deployment.seal_embedding(f.thumbnail, e.vector)
                )
                for f, e in kept
            )
            deployment.bump_version(session)
        if kept:
            index.add(
                np.array([f.face_id for f, _ in kept], dtype=np.int64),
                np.stack([np.asarray(e.vector, dtype=np.float32) for _, e in kept]),
            )
    return len(kept)


# --- governed: curators and admins; every run on the ledger (start, then finish with its counts)


def governed_list(deployment: Deployment, actor: ActorView) -> list[ModelStatus]:
    governed(deployment, actor, Action.VIEW_GALLERY, no_context(deployment), lambda _s, _c: None)
    return list_models(deployment)


def governed_enable(deployment: Deployment, actor: ActorView, name: str, *, allow_missing: bool = False) -> ModelStatus:
    asked = {"model": name, "allow_missing": allow_missing}
    governed(deployment, actor, Action.CURATE_GALLERY, no_context(deployment), lambda _s, _c: None, details=asked)
    status = enable_model(deployment, name, allow_missing=allow_missing)
    with transaction(deployment.sessions) as session:
        append(session, actor, events.ModelsEnable(model=name, allow_missing=allow_missing, **status.to_dict()))
    return status


def governed_reembed(
    deployment: Deployment,
    actor: ActorView,
    name: str,
    *,
    from_thumbnails: bool = False,
    engine: FaceEngine | None = None,
    on_progress: ReembedProgress | None = None,
    batch_faces: int = _BATCH_FACES,
) -> ReembedReport:
    if not name.strip():
        raise InvalidInput("name the model to re-embed with (faceledger models list)")
    key = target_key(deployment, name, engine)
    asked = {"model": key, "from_thumbnails": from_thumbnails}

    def start(session: Session, _: Context) -> None:
        embedded = session.scalar(select(func.count()).where(FaceEmbedding.model_key == key)) or 0
        append(
            session,
            actor,
            events.ModelsReembedStart(model=key, from_thumbnails=from_thumbnails, already_embedded=int(embedded)),
        )

    governed(deployment, actor, Action.CURATE_GALLERY, no_context(deployment), start, details=asked)
    report = reembed(
        deployment,
        key,
        from_thumbnails=from_thumbnails,
        engine=engine,
        on_progress=on_progress,
        batch_faces=batch_faces,
    )
    with transaction(deployment.sessions) as session:  # a killed run has its start entry and no finish
        done = events.ModelsReembed(
            model=key,
            thumbnails_allowed=from_thumbnails,
            **report.to_dict(),
            gallery_version=deployment.gallery_version(session),
        )
        append(session, actor, done)
    return report
