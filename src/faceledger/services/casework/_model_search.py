"""Scoring gallery faces against a probe with every model of the pipeline, never across models.

Each model's own index is searched with the probe's embedding by that model; the hits are united; every
model's stored embedding of each hit is read from the database (a face the database no longer has is
dropped there, whatever an index says) and compared with the probe's embedding by the same model only.
A single-model pipeline's distance is that model's; a multi-model pipeline's is its FusionRule's
(engine/fusion.py), which scores a face a model has no embedding of with the models that have one.
Faces linked to a subject are then ranked by subject, by the subject's best face."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from faceledger.engine.distance import euclidean
from faceledger.engine.fusion import FusionRule
from faceledger.errors import ModelMismatch, ModelNotEnabled
from faceledger.services.runtime.deployment import Deployment
from faceledger.services.runtime.pipeline_models import pipeline_fusion_rule
from faceledger.store import model_registry
from faceledger.store.models import FaceEmbedding, GalleryFace
from faceledger.types import DetectedFace, Embedding

_OVERFETCH = 3  # index hits per wanted candidate: room for rows the database no longer has
_DEEPEN = 4  # when subjects with many photos fill the hits, search this much deeper and rank again


@dataclass(frozen=True)
class ScoredFace:
    face_id: int
    distance: float  # the pipeline's: the model's own, or the fusion rule's
    model_scores: dict[str, float] = field(default_factory=dict)  # each model's distance, by model key
    subject_id: int | None = None
    other_photos: int = 0  # ranked by subject: the subject's other faces among the scored hits


def searchable_embeddings(deployment: Deployment, probe: DetectedFace) -> tuple[Embedding, ...]:
    """The probe's embeddings, each by a model the gallery has enabled; otherwise a clear refusal."""
    embeddings = probe.embeddings
    with deployment.sessions() as session:
        enabled = model_registry.enabled_keys(session)
    missing = [e.model.key for e in embeddings if e.model.key not in enabled]
    if missing:
        raise ModelNotEnabled(
            f"the {deployment.settings.pipeline.value} pipeline searches with {', '.join(missing)}, which this "
            "gallery has not enabled; run: faceledger models reembed NAME, then faceledger models enable NAME "
            "(faceledger models list shows what the gallery has)"
        )
    for embedding in embeddings:
        deployment.index.open_model(embedding.model.key)  # enabled by another process since this one opened
    return embeddings


def scored_faces(
    deployment: Deployment,
    probe: DetectedFace,
    k: int,
    *,
    exclude: Callable[[np.ndarray], bool] | None = None,
    exclude_model_key: str | None = None,
) -> list[ScoredFace]:
    """The k nearest gallery faces (or subjects, by their best face), nearest first."""
    embeddings = searchable_embeddings(deployment, probe)
    rule = pipeline_fusion_rule(deployment.settings)
    if rule is None and len(embeddings) > 1:
        raise ModelMismatch(
            f"the {deployment.settings.pipeline.value} pipeline has no rule to combine "
            f"{', '.join(e.model.key for e in embeddings)}"
        )
    by_subject = deployment.settings.search_rank_subjects
    depth = k * _OVERFETCH
    while True:
        ids, exhausted = _index_hits(deployment, embeddings, depth)
        scored = _score(deployment, embeddings, ids, rule, exclude, exclude_model_key or deployment.model_key)
        ranked = _by_subject(scored) if by_subject else scored
        if len(ranked) >= k or exhausted or not by_subject:
            return ranked[:k]
        depth *= _DEEPEN  # one subject's photos took the places: look further for other people


def _index_hits(deployment: Deployment, embeddings: tuple[Embedding, ...], depth: int) -> tuple[list[int], bool]:
    """The union of every model's index hits, and whether every index returned all it holds."""
    found: set[int] = set()
    exhausted = True
    for embedding in embeddings:
        index = deployment.model_index(embedding.model.key)
        hits = index.search(np.asarray(embedding.vector, dtype=np.float32)[None, :], depth)
        valid = [int(i) for i in hits.ids[0] if i >= 0]
        found.update(valid)
        exhausted = exhausted and len(valid) < depth
    return sorted(found), exhausted


def _score(
    deployment: Deployment,
    embeddings: tuple[Embedding, ...],
    ids: list[int],
    rule: FusionRule | None,
    exclude: Callable[[np.ndarray], bool] | None,
    exclude_key: str,
) -> list[ScoredFace]:
    if not ids:
        return []
    keys = [e.model.key for e in embeddings]
    wanted = [*keys, exclude_key] if exclude is not None and exclude_key not in keys else keys
    with deployment.sessions() as session:  # the database check: only faces it still holds
        rows = session.execute(
            select(
                FaceEmbedding.face_id,
                FaceEmbedding.model_key,
                FaceEmbedding.embedding,
                GalleryFace.thumbnail,
                GalleryFace.subject_id,
            )
            .join(GalleryFace)
            .where(FaceEmbedding.face_id.in_(ids), FaceEmbedding.model_key.in_(wanted))
        ).all()
    vectors: dict[int, dict[str, np.ndarray]] = {}
    subjects: dict[int, int | None] = {}
    for face_id, key, blob, thumbnail, subject_id in rows:
        vectors.setdefault(face_id, {})[key] = deployment.embedding_vector(thumbnail, blob)
        subjects[face_id] = subject_id
    probe_vectors = {e.model.key: e.vector for e in embeddings}
    scored = []
    for face_id, stored in vectors.items():
        if exclude is not None and exclude_key in stored and exclude(stored[exclude_key]):
            continue
        scores = {key: euclidean(probe_vectors[key], stored[key]) for key in keys if key in stored}
        if not scores:
            continue  # no embedding by any of the pipeline's models (only the blocklist's)
        if rule is None and keys[0] not in scores:
            continue
        distance = rule.distance(scores) if rule is not None else scores[keys[0]]
        scored.append(ScoredFace(face_id, distance, scores, subjects[face_id]))
    return sorted(scored, key=lambda s: (s.distance, s.face_id))


def _by_subject(scored: list[ScoredFace]) -> list[ScoredFace]:
    """One entry per subject (its best face, with a count of the others); unlinked faces on their own."""
    best: dict[int, int] = {}
    ranked: list[ScoredFace] = []
    others: dict[int, int] = {}
    for hit in scored:
        if hit.subject_id is None:
            ranked.append(hit)
        elif hit.subject_id in best:
            others[hit.subject_id] = others.get(hit.subject_id, 0) + 1
        else:
            best[hit.subject_id] = len(ranked)
            ranked.append(hit)
    return [
        ScoredFace(h.face_id, h.distance, h.model_scores, h.subject_id, others.get(h.subject_id, 0))
        if h.subject_id is not None
        else h
        for h in ranked
    ]
