"""Response bodies (XPublic and friends): what every JSON route answers, as named OpenAPI schemas.

Each route declares one with `response_model=`, so FastAPI checks what a service returned against it and
the published schema says exactly what a client gets (schemathesis' conformance check holds the two
equal). A key a model does not name is an error, not silently dropped: a service that grows a field grows
its model too. Free-form parts (a gallery image's provenance, a ledger entry's details) stay objects."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

from faceledger.types import CaseStatus, IngestJobStatus, SearchOutcome

Json = dict[str, Any]

# The routes that answer an image: documented as one, not as an empty JSON body.
JPEG: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A JPEG, decrypted in memory (images are sealed at rest).",
        "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class Public(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


# --- service health ---------------------------------------------------------------------------------------
class Health(Public):
    status: str
    version: str


class Ready(Public):
    status: str
    gallery_faces: int


# --- people and sessions ----------------------------------------------------------------------------------
class SessionOpened(Public):
    user: str
    csrf_token: str


class SignedOut(Public):
    signed_out: bool


class Me(Public):
    user: str
    roles: list[str]
    department_id: int
    certified_until: date | None


class UserPublic(Public):
    username: str
    display_name: str
    department: str
    roles: list[str]
    certified_until: date | None
    disabled: bool


class AccountRequestPublic(Public):
    """A request one admin made that another must approve (the four-eyes rule for accounts)."""

    id: int
    kind: str
    username: str
    payload: Json
    status: str
    requested_by: str
    decided_by: str | None
    delivered_to: str | None = Field(description="The outbox file holding the enrolment code, once approved.")


class IssuedToken(Public):
    username: str
    token: str = Field(description="Shown once; only its hash is stored.")


class TokensRevoked(Public):
    username: str
    revoked: int


class OwnTokensRevoked(Public):
    user: str
    revoked: int


class PasswordChanged(Public):
    user: str
    sessions_ended: bool


# --- authority and thresholds -----------------------------------------------------------------------------
class ModelPublic(Public):
    name: str
    version: str
    weights_sha256: str


class GroupRiskPublic(Public):
    group: str
    people: int | None  # None for the whole gallery ("overall")
    false_match_rate: float
    false_match_rate_upper_95: float
    fpir_upper_95: float
    expected_false_candidates: float
    expected_false_candidates_upper_95: float


class OperatingThresholdPublic(Public):
    """The deployed threshold and what it promises at this gallery size, for the worst group."""

    mode: str
    threshold: float
    gallery_faces: int
    target_fpir: float
    promise_met: bool
    expected_false_candidates: float
    worst_group: str
    worst_group_fpir_upper_95: float
    worst_group_expected_false_candidates: float
    expected_false_candidates_upper_95: float
    overall: GroupRiskPublic
    groups: list[GroupRiskPublic]
    ignored_groups: list[str]
    unvouched_groups: list[str]
    text: str


class ThresholdProblem(Public):
    problem: str


class AuthorityPublic(Public):
    state: str
    reference: str | None
    purposes: list[str]
    offence_types: list[str]
    max_candidates: int | None
    starts_on: date | None
    ends_on: date | None
    days_left: int | None
    halt_reason: str | None
    operating_threshold: OperatingThresholdPublic | ThresholdProblem | None = None


class FalseMatchPublic(Public):
    distance: float
    false_match_rate: float
    false_match_rate_upper_95: float
    one_in: int | None
    observed_impostor_pairs: int
    impostor_pairs: int
    text: str


class Accuracy(Public):
    model: ModelPublic
    threshold: float
    false_match_at_threshold: FalseMatchPublic
    false_non_match_rate_at_threshold: float
    measured_on: str
    method: str
    impostor_pairs: int
    genuine_pairs: int
    operating_threshold: OperatingThresholdPublic


# --- cases, searches, candidates, leads ---------------------------------------------------------------
class CasePublic(Public):
    id: int
    number: str
    department: str
    purpose: str
    offence_type: str
    description: str
    status: CaseStatus
    opened_at: datetime
    closed_at: datetime | None
    assigned: list[str]
    searches: int


class BoxPublic(Public):
    left: int
    top: int
    right: int
    bottom: int


class QualityCheckPublic(Public):
    name: str
    value: float
    passed: bool
    score: float
    message: str


class QualityPublic(Public):
    score: float
    acceptable: bool
    problems: list[str]
    reasons: list[str]
    checks: list[QualityCheckPublic]


class ProbeFacePublic(Public):
    """A face found on a probe, for the searcher to choose; no embedding leaves the server."""

    index: int
    box: BoxPublic
    width_px: int
    height_px: int
    detector: str
    detector_score: float
    rotation_deg: int
    landmarks: list[list[float]]
    quality: QualityPublic
    embedded: bool
    not_embedded_reason: str | None


class ProbeFaces(Public):
    width: int
    height: int
    probe_sha256: str
    ledger_seq: int
    faces: list[ProbeFacePublic]


class SearchedFace(Public):
    index: int | None
    box: BoxPublic
    quality_score: float
    origin: Json


class CandidatePublic(Public):
    """An investigative lead, never an identification."""

    candidate_id: int
    rank: int
    face_id: int | None
    distance: float
    likelihood: str | None
    false_match_rate: float | None
    false_match: str | None
    provenance: Json | None
    notice: str
    expected_strangers: float | None
    strangers: str | None


class CaseCandidate(CandidatePublic):
    state: str


class SearchResultPublic(Public):
    search_id: int
    case_number: str
    outcome: SearchOutcome
    probe_sha256: str
    probe_face: SearchedFace
    threshold: float
    max_candidates: int
    gallery_faces: int
    candidates: list[CandidatePublic]
    ledger_seq: int
    notice: str
    operating_point: OperatingThresholdPublic | Json


class SearchRecord(Public):
    search_id: int
    case: str
    outcome: SearchOutcome
    searched_at: datetime
    attestation: str
    probe_sha256: str
    probe_face: Any  # JSON columns as stored: a rewritten row is shown, not a 500
    threshold: float
    gallery_faces: int
    purged: bool
    notice: str
    operating_point: Any
    candidates: list[CaseCandidate]


class QueuedCandidate(Public):
    candidate_id: int
    case: str
    rank: int
    distance: float
    false_match: str | None


class ReviewPublic(Public):
    reviewer_id: int
    decision: str
    note: str
    at: datetime


class CandidateView(Public):
    candidate: CandidatePublic
    case_number: str
    search_id: int
    probe_thumbnail: str | None
    state: str
    reviews: list[ReviewPublic] | None = Field(description="null until the viewer's own review is in (blind review).")
    reviews_hidden: bool


class LeadState(Public):
    state: str


class LeadRecord(Public):
    """A confirmed, corroborated lead's full record, as exported."""

    notice: str
    case: str
    search_id: int
    searched_at: datetime
    attestation: str
    probe_sha256: str
    gallery_version: int
    model: str
    threshold: float
    candidate: CandidatePublic
    reviews: list[ReviewPublic]
    sign_off: Json
    corroboration: Json
    ledger_seq: int


# --- video --------------------------------------------------------------------------------------------
class VideoPublic(Public):
    name: str
    sha256: str
    duration_s: float
    width: int
    height: int
    fps: float
    codec: str


class TrackPublic(Public):
    track: int
    first_s: float
    last_s: float
    sightings: int
    best_s: float
    best_face: int
    box: BoxPublic
    quality: float
    quality_problems: list[str]


class VideoTracks(Public):
    video: VideoPublic
    every_s: float
    frames_sampled: int
    faces_seen: int
    too_small_to_track: int
    tracks: list[TrackPublic]
    attribution: str
    ledger_seq: int


# --- gallery, opt-out, retention -----------------------------------------------------------------------
class SourcePublic(Public):
    name: str
    legal_basis: str | None
    images: int


class IndexState(Public):
    backend: str
    faces: int
    database_faces: int
    index_faces: int
    missing_from_index: int
    not_in_database: int
    database_version: int
    index_version: int
    clean: bool
    models: dict[str, int]


class GalleryStats(Public):
    images: int
    faces: int
    subjects: int
    ingest_failures: int
    gallery_version: int
    sources: list[SourcePublic]
    index: IndexState


class IngestProgress(Public):
    done: int
    total: int
    added: int
    failed: int


class IngestJobPublic(Public):
    job: int
    input: str
    status: IngestJobStatus
    started_at: datetime
    images_added: int
    failures: int
    progress: IngestProgress | None


class IngestStarted(Public):
    started: bool
    input: str


class Removal(Public):
    what: str
    images: int
    faces: int
    thumbnails: int


class MatchedFacePublic(Public):
    face_id: int
    distance: float
    false_match_rate: float
    confirmed: bool
    in_gallery: bool


class OptOutPublic(Public):
    request_id: int
    status: str
    contact: str
    submitted_at: datetime
    completed_at: datetime | None
    faces_removed: int
    images_removed: int
    matches: list[MatchedFacePublic]
    strict_distance: float


class RetentionSchedule(RootModel[dict[str, str]]):
    """What is kept how long, in words, by kind of record."""


class RetentionRun(Public):
    cutoff: datetime
    searches_purged: list[int]
    candidates_deleted: int
    probe_files_deleted: int


# --- ledger and transparency -------------------------------------------------------------------------
class LedgerEntryPublic(Public):
    """One entry as stored. Its JSON parts are whatever JSON the row holds, not the shape an untampered
    entry has: a tampered ledger must stay readable, it is what an auditor investigates."""

    seq: int
    at: str
    actor_id: int | None
    actor: str
    action: str
    case_id: int | None
    outcome: str
    subjects: Any
    details: Any
    reasons: Any
    prev_hash: str
    hash: str


class VerificationPublic(Public):
    status: str
    entries: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str
    ok: bool


class ConsistencyProof(Public):
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str]


class InclusionProof(Public):
    seq: int
    leaf_index: int
    tree_size: int
    entry_hash: str
    root_hash: str
    audit_path: list[str]
    checkpoint: str


# --- reports ------------------------------------------------------------------------------------------
class UsageReport(Public):
    """Searches in a period and how many were refused, counted by each breakdown, with the signed
    checkpoint of the ledger they were counted from."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: datetime
    end: datetime
    searches: int
    refused: int
    purpose: dict[str, int]
    offence_type: dict[str, int] = Field(alias="offence type")
    department: dict[str, int]
    user: dict[str, int]
    outcome: dict[str, int]
    refusal_reason: dict[str, int] = Field(alias="refusal reason")
    by_day: dict[str, Any]
    ledger: Json


class AccountabilityReport(Public):
    generated_at: datetime
    version: str
    model: ModelPublic
    licence: str
    authority: AuthorityPublic
    gallery: GalleryStats
    blocked_purposes: list[str]
    retention: dict[str, str]
    optouts: dict[str, int]
    accuracy: Json
    usage: Json
    violations: list[Json]
    feedback: str
    ledger: Json
