"""Governed search: an assigned, certified analyst searches one probe face within an open case, for an
allowed purpose, with a written attestation, under an active authorisation.

Order: policy (refused before the probe is even decoded), then the probe quality gate (a supervisor may
record an override), then the gallery search, then one transaction that checks policy again (a halt may
have landed meanwhile) and stores the search, its candidates and its ledger entry together. Refused
probes are kept as a hash on the ledger and nowhere else: the probe face reviewers see is made in staging
and moved into `probes/` only once that transaction has committed (deleted if it did not)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.engine.image_input import file_sha256
from faceledger.engine.thumbnails import face_thumbnail
from faceledger.errors import InvalidInput, NoFaceFound, NotFound
from faceledger.policy.comparison import LEAD_DISCLAIMER
from faceledger.policy.governance import Action, ActorView, Context
from faceledger.policy.operating_threshold import OperatingThreshold
from faceledger.services.casework._gallery_search import RankedCandidate, rank_candidates
from faceledger.services.governance.blocklist import load_blocklist
from faceledger.services.governance.guard import (
    append,
    authority_view,
    case_id_or_refuse,
    case_view,
    current_authorisation,
    governed,
    record_refusal,
)
from faceledger.services.governance.operating_threshold import current_threshold
from faceledger.services.runtime.deployment import Deployment, refresh_index
from faceledger.services.runtime.staging import private_file, scratch
from faceledger.store import events
from faceledger.store.governance_models import Candidate, Case, QualityOverride, Search
from faceledger.store.sealed import Role, private_folder
from faceledger.types import Box, DetectedFace, Detector, SearchOutcome

LEAD_NOTICE = "Investigative lead — not an identification. " + LEAD_DISCLAIMER


@dataclass(frozen=True)
class SearchRequest:
    case: str
    attestation: str
    probe: Path
    face: int | None = None  # 1-based face number in the probe; None: the largest searchable face
    detector: Detector | None = None
    origin: dict[str, Any] = field(default_factory=dict)  # e.g. a video's hash and the chosen frame time
    box: Box | None = None  # a face a person chose on a video frame: described there, no detection run
    bulk_video: bool = False  # one of every face of a video, not a frame a person chose
    warrant: str | None = None


@dataclass(frozen=True)
class SearchResult:
    search_id: int
    case_number: str
    outcome: str
    probe_sha256: str
    probe_face: dict[str, Any]
    threshold: float
    max_candidates: int
    gallery_faces: int
    candidates: tuple[dict[str, Any], ...]
    ledger_seq: int
    notice: str = LEAD_NOTICE
    operating_point: dict[str, Any] = field(default_factory=dict)  # OperatingThreshold.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "candidates": list(self.candidates)}


def _probe_sha256(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def governed_search(deployment: Deployment, actor: ActorView, request: SearchRequest) -> SearchResult:
    digest = _probe_sha256(request.probe)
    details: dict[str, Any] = {"probe_sha256": digest, "attestation": request.attestation, **request.origin}
    case_id = case_id_or_refuse(
        deployment, actor, Action.SEARCH, request.case, details, attestation=request.attestation
    )

    def context(session: Session) -> Context:
        case = session.get(Case, case_id, populate_existing=True)
        view = case_view(case) if case is not None else None
        day = deployment.clock.today()
        return Context(
            day,
            authority_view(session, day, lock=True),
            case=view,
            attestation=request.attestation,
            bulk_video=request.bulk_video,
            warrant=request.warrant,
        )

    def limits(session: Session, _: Context) -> int:
        row = current_authorisation(session)
        return row.max_candidates if row is not None else 0

    refuse = {"case_id": case_id, "subjects": {"case": case_id}, "details": details}
    cap = governed(deployment, actor, Action.SEARCH, context, limits, **refuse)  # type: ignore[arg-type]
    face = _choose_face(deployment, actor, request, refuse)
    details["face"] = {"index": face.index, "box": face.box.to_dict(), "quality_score": round(face.quality.score, 3)}
    override_id = _quality_gate(deployment, actor, face, case_id, digest, refuse)
    refresh_index(deployment)
    blocklist = load_blocklist(deployment)
    operating = current_threshold(deployment)  # from the live gallery size, for this search
    threshold = operating.threshold
    ranked = rank_candidates(
        deployment, face, cap, exclude=blocklist.matches, exclude_model_key=blocklist.model_key, threshold=threshold
    )
    leads = [c for c in ranked if c.distance <= threshold]
    thumbnail = _probe_thumbnail_path(digest, face)
    with scratch(deployment.data_dir) as folder:  # removed on every outcome; holds the face until the commit
        staged = _stage_probe_thumbnail(deployment, request.probe, face, folder, thumbnail)

        def store(session: Session, _: Context) -> SearchResult:
            return _store(
                session,
                deployment,
                actor,
                request,
                case_id,
                digest,
                face,
                override_id,
                cap,
                leads,
                thumbnail,
                details,
                operating,
            )

        outcome: SearchResult = governed(deployment, actor, Action.SEARCH, context, store, **refuse)  # type: ignore[arg-type]
        _publish(staged, deployment.data_dir / thumbnail)  # only a committed search has a probe face on disk
    return outcome


def _choose_face(
    deployment: Deployment, actor: ActorView, request: SearchRequest, refuse: dict[str, Any]
) -> DetectedFace:
    settings = deployment.settings
    if request.box is not None:
        chosen_face = deployment.analyser.probe_box(settings, request.probe, request.box)
        if chosen_face.embedding is None:
            raise record_refusal(
                deployment,
                actor,
                Action.SEARCH,
                [f"the chosen face cannot be searched: {chosen_face.not_embedded_reason}"],
                **refuse,
            )
        return chosen_face
    faces = deployment.analyser.probe_faces(settings, request.probe, detector=request.detector).faces
    searchable = [face for face in faces.faces if face.embedding is not None]
    if request.face is not None:
        chosen = [face for face in faces.faces if face.index == request.face]
        if not chosen:
            raise InvalidInput(f"{request.probe.name} has {len(faces.faces)} face(s); there is no face {request.face}")
        if chosen[0].embedding is None:
            raise record_refusal(
                deployment,
                actor,
                Action.SEARCH,
                [f"face {request.face} cannot be searched: {chosen[0].not_embedded_reason}"],
                **refuse,
            )
        return chosen[0]
    if not searchable:
        reason = f"{request.probe.name}: no face found that can be searched"
        record_refusal(deployment, actor, Action.SEARCH, [reason], **refuse)
        raise NoFaceFound(reason)
    return max(searchable, key=lambda face: face.box.area)


def _quality_gate(
    deployment: Deployment, actor: ActorView, face: DetectedFace, case_id: int, digest: str, refuse: dict[str, Any]
) -> int | None:
    if face.quality.acceptable:
        return None
    with deployment.sessions() as session:
        override = session.scalars(
            select(QualityOverride.id).where(QualityOverride.case_id == case_id, QualityOverride.probe_sha256 == digest)
        ).first()
    if override is not None:
        return int(override)
    reasons = [f"probe quality too low: {problem}" for problem in face.quality.problems]
    reasons.append(
        "a supervisor may record an override with a reason (faceledger quality-override; for a video "
        "frame, faceledger video override)"
    )
    raise record_refusal(deployment, actor, Action.SEARCH, reasons, **refuse)


def _probe_thumbnail_path(digest: str, face: DetectedFace) -> str:
    """The probe face as reviewers see it; named by content, so a repeat search reuses the file."""
    return f"probes/{digest[:2]}/{digest}-face{face.index}.jpg"


def _stage_probe_thumbnail(deployment: Deployment, probe: Path, face: DetectedFace, folder: Path, name: str) -> Path:
    """The probe face, made before the final transaction (it needs the pixels) but in staging, already
    sealed for its final place `name` (sealed at rest, 0600)."""
    pixels = deployment.analyser.pixels(deployment.settings, probe)
    staged = folder / "probe-face.jpg"
    jpeg = face_thumbnail(pixels, face.box, deployment.settings.thumbnail_px)
    with os.fdopen(private_file(staged), "wb") as out:
        out.write(deployment.sealer.seal(Role.PROBE, name, jpeg))
    return staged


def _publish(staged: Path, target: Path) -> None:
    """Move the staged face into place (one rename on the same filesystem); an existing one is the same
    face of the same probe, so it stays."""
    if not target.exists():
        private_folder(target.parent)
        os.replace(staged, target)


def _store(
    session: Session,
    deployment: Deployment,
    actor: ActorView,
    request: SearchRequest,
    case_id: int,
    digest: str,
    face: DetectedFace,
    override_id: int | None,
    cap: int,
    leads: list[RankedCandidate],
    thumbnail: str,
    details: dict[str, Any],
    operating: OperatingThreshold,
) -> SearchResult:
    case = session.get(Case, case_id)
    if case is None:  # pragma: no cover - cases are never deleted
        raise NotFound(f"case {case_id} disappeared")
    outcome = (SearchOutcome.CANDIDATES if leads else SearchOutcome.NO_CANDIDATES).value
    search = Search(
        case_id=case_id,
        user_id=actor.id,
        attestation=request.attestation.strip(),
        probe_sha256=digest,
        probe_name=request.probe.name,
        probe_face={**details["face"], "origin": request.origin},
        probe_thumbnail=thumbnail,
        quality_override_id=override_id,
        gallery_version=deployment.gallery_version(session),
        gallery_faces=operating.gallery_faces,
        model_key=_models_of(face) or deployment.model_key,
        threshold=operating.threshold,
        max_candidates=cap,
        outcome=outcome,
        threshold_mode=operating.mode.value,
        target_fpir=operating.target_fpir,
        promise_met=operating.promise_met,
        expected_false_candidates=operating.expected_false_candidates,
        operating_point=operating.to_dict(),
    )
    session.add(search)
    session.flush()
    rows = [
        Candidate(
            search_id=search.id,
            face_id=c.face_id,
            rank=c.rank,
            distance=c.distance,
            false_match_rate=c.false_match.rate,
            false_match_text=c.false_match.describe(),
            likelihood=c.likelihood.value,
            provenance=_provenance(c),
            expected_strangers=c.false_match.expected_strangers(operating.gallery_faces),
            strangers_text=c.false_match.in_gallery(operating.gallery_faces),
        )
        for c in leads
    ]
    session.add_all(rows)
    session.flush()
    shown = tuple(
        events.ShownCandidate(
            candidate_id=row.id,
            face_id=row.face_id,
            rank=row.rank,
            distance=round(row.distance, 4),
            false_match_rate=row.false_match_rate,
            expected_strangers=row.expected_strangers,
        )
        for row in rows
    )
    done = events.Search(
        case=case_id,
        search=search.id,
        **details,
        gallery_version=search.gallery_version,
        gallery_faces=search.gallery_faces,
        model=search.model_key,
        threshold=search.threshold,
        max_candidates=cap,
        quality_override=override_id,
        outcome=outcome,
        candidates=shown,
        operating_threshold=_ledgered(operating),
    )
    entry = append(session, actor, done, case_id=case_id)
    return SearchResult(
        search.id,
        case.number,
        outcome,
        digest,
        search.probe_face,
        search.threshold,
        cap,
        search.gallery_faces,
        tuple(candidate_dict(deployment, row) for row in rows),
        entry.seq,
        operating_point=search.operating_point or {},
    )


def _ledgered(operating: OperatingThreshold) -> dict[str, Any]:
    """The operating point on the ledger: what was promised and whether the threshold kept it."""
    point = operating.to_dict()
    keys = (
        "mode",
        "threshold",
        "gallery_faces",
        "target_fpir",
        "promise_met",
        "expected_false_candidates",
        "worst_group",
        "worst_group_fpir_upper_95",
    )
    return {key: point[key] for key in keys}


def _models_of(face: DetectedFace) -> str:
    """The models the search scored with ("a+b" for a fused pipeline; one key for dlib, as before)."""
    return "+".join(embedding.model.key for embedding in face.embeddings)[:120]


def _provenance(candidate: RankedCandidate) -> dict[str, Any]:
    data = candidate.to_dict()
    return {
        "thumbnail": data["thumbnail"],
        "image_sha256": data["image_sha256"],
        **data["provenance"],
        "subject": data["subject"],
        "model_scores": data["model_scores"],
    }


def candidate_dict(deployment: Deployment, row: Candidate) -> dict[str, Any]:
    return {
        "candidate_id": row.id,
        "rank": row.rank,
        "face_id": row.face_id,
        "distance": round(row.distance, 4),
        "likelihood": row.likelihood,
        "false_match_rate": row.false_match_rate,
        "false_match": row.false_match_text,
        "provenance": _public(row.provenance),
        "notice": LEAD_NOTICE,
        "expected_strangers": row.expected_strangers,
        "strangers": row.strangers_text,
    }


def _public(provenance: dict[str, Any] | None) -> dict[str, Any] | None:
    """Rows stored before thumbnails were recorded relative still hold an absolute server path: trim it."""
    thumbnail = (provenance or {}).get("thumbnail")
    if not isinstance(thumbnail, str) or not thumbnail.startswith("/"):
        return provenance
    cut = thumbnail.rfind("/thumbnails/")
    return {**(provenance or {}), "thumbnail": thumbnail[cut + 1 :] if cut >= 0 else ""}


def record_override(deployment: Deployment, actor: ActorView, case: str, probe: Path, reason: str) -> int:
    """A supervisor lets one low-quality probe be searched in one case, with a reason on the ledger."""
    digest = _probe_sha256(probe)
    case_id = case_id_or_refuse(
        deployment, actor, Action.OVERRIDE_QUALITY, case, {"probe_sha256": digest}, reason=reason
    )

    def context(session: Session) -> Context:
        row = session.get(Case, case_id, populate_existing=True)
        view = case_view(row) if row is not None else None
        day = deployment.clock.today()
        return Context(day, authority_view(session, day, lock=True), case=view, reason=reason)

    def work(session: Session, _: Context) -> int:
        override = QualityOverride(case_id=case_id, probe_sha256=digest, supervisor_id=actor.id, reason=reason.strip())
        session.add(override)
        session.flush()
        append(
            session,
            actor,
            events.OverrideQuality(case=case_id, override=override.id, probe_sha256=digest, reason=reason),
            case_id=case_id,
        )
        return override.id

    return governed(
        deployment,
        actor,
        Action.OVERRIDE_QUALITY,
        context,
        work,
        case_id=case_id,
        subjects={"case": case_id},
        details={"probe_sha256": digest, "reason": reason},
    )
