"""Typed ledger events: one record class per action, through which every entry is written and read back.

An entry stores its action's name and two JSON objects, `subjects` (what was acted on: ids a reader can
follow) and `details` (what else was decided). Each class below names its fields once, with their types;
`store/ledger.append` writes an event through its class and `read` gives an entry back as the same class,
so a reader (anomalies, usage, disclosure) asks `entry.record().candidates`, not `details.get("candidates")`.

A refused action of any kind is a `Refusal`: its name, and what was asked as the refusal recorded it.
Entries written by an older version keep the keys they were written with: a field added later has a
default, and a key no class names stays readable in `model_extra`. Nothing here changes what is hashed:
an entry's stored text is hashed as written (transparency/verify.py)."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from faceledger.errors import InvalidInput

JsonObject = dict[str, Any]

DONE = "done"
REFUSED = "refused"


class EventName(enum.StrEnum):
    """Every action the ledger records. The first group are policy.Action's names (a test keeps the two
    in step): a governed action is ledgered under its own name, done or refused."""

    MANAGE_USERS = "manage_users"
    GRANT_AUTHORITY = "grant_authority"
    HALT_AUTHORITY = "halt_authority"
    RESUME_AUTHORITY = "resume_authority"
    VIEW_AUTHORITY = "view_authority"
    OPEN_CASE = "open_case"
    ASSIGN_CASE = "assign_case"
    CLOSE_CASE = "close_case"
    VIEW_CASE = "view_case"
    SEARCH = "search"
    OVERRIDE_QUALITY = "override_quality"
    REVIEW = "review"
    SIGN_OFF = "sign_off"
    CORROBORATE = "corroborate"
    EXPORT = "export"
    CURATE_GALLERY = "curate_gallery"
    VIEW_GALLERY = "view_gallery"
    OPT_OUT = "opt_out"
    RUN_RETENTION = "run_retention"
    VIEW_LEDGER = "view_ledger"
    SIGN_LEDGER = "sign_ledger"
    APPROVE_ACCOUNT_CHANGE = "approve_account_change"
    # Signing in and out, and requests refused before anyone is known.
    AUTHENTICATE = "authenticate"
    CSRF = "csrf"
    UNAUTHENTICATED_REQUESTS = "unauthenticated_requests"
    SIGN_IN_LOCKOUT = "sign_in_lockout"
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    ENROL = "enrol"
    # Accounts.
    DEPLOYMENT_INIT = "deployment_init"
    USER_ADD = "user_add"
    USER_CERTIFY = "user_certify"
    USER_DISABLE = "user_disable"
    USER_PASSWORD = "user_password"  # noqa: S105 - action names, not secrets
    TOKEN_ISSUE = "token_issue"  # noqa: S105
    TOKEN_REVOKE = "token_revoke"  # noqa: S105
    ACCOUNT_REQUEST = "account_request"
    ACCOUNT_APPROVE = "account_approve"
    ACCOUNT_REJECT = "account_reject"
    # Casework beyond the governed actions.
    PREVIEW_PROBE = "preview_probe"
    PREVIEW_VIDEO = "preview_video"
    CASE_DISCLOSE = "case_disclose"
    # The gallery and its models.
    GALLERY_INGEST_START = "gallery_ingest_start"
    GALLERY_INGEST_INTERRUPTED = "gallery_ingest_interrupted"
    GALLERY_INGEST = "gallery_ingest"
    GALLERY_REMOVE = "gallery_remove"
    INDEX_REBUILD = "index_rebuild"
    MODELS_ADD = "models_add"
    MODELS_ADD_REFUSED = "models_add_refused"
    MODELS_EVALUATE = "models_evaluate"
    MODELS_ENABLE = "models_enable"
    MODELS_REEMBED_START = "models_reembed_start"
    MODELS_REEMBED = "models_reembed"
    OPTOUT_SUBMIT = "optout_submit"
    OPTOUT_CONFIRM = "optout_confirm"
    OPTOUT_COMPLETE = "optout_complete"
    RETENTION_PURGE = "retention_purge"
    # Oversight.
    ANOMALY_SCAN = "anomaly_scan"
    VIOLATION_RECORD = "violation_record"
    REPORT_USAGE = "report_usage"
    REPORT_ACCOUNTABILITY = "report_accountability"
    LEDGER_VERIFY = "ledger_verify"
    LEDGER_CHECKPOINT = "ledger_checkpoint"
    LEDGER_COSIGNED = "ledger_cosigned"


class Event(BaseModel):
    """One action as the ledger records it. `SUBJECTS` are the fields stored under `subjects`; the rest
    go under `details`. A field left unset is not written (an optional one, such as a video's hash on a
    photo search), so an entry holds only what was true of it."""

    model_config = ConfigDict(frozen=True, extra="allow")  # extra: keys written by another version

    NAME: ClassVar[EventName]
    OUTCOME: ClassVar[str] = DONE
    SUBJECTS: ClassVar[tuple[str, ...]] = ()

    def parts(self) -> tuple[JsonObject, JsonObject]:
        """(subjects, details) as stored."""
        values = self.model_dump(mode="json", exclude_unset=True)
        subjects = {name: values.pop(name) for name in self.SUBJECTS if name in values}
        return subjects, values

    @classmethod
    def from_parts(cls, subjects: Mapping[str, Any], details: Mapping[str, Any]) -> Event:
        overlap = set(subjects) & set(details)
        if overlap:
            raise InvalidInput(f"a {cls.NAME} entry names {', '.join(sorted(overlap))} in both subjects and details")
        return cls.model_validate({**details, **subjects})


class Refusal(BaseModel):
    """Any action refused: its name and what was asked, as the refusal recorded it (a refusal records the
    request, which differs by entry point, not an outcome)."""

    model_config = ConfigDict(frozen=True)

    action: EventName
    subjects: JsonObject = Field(default_factory=dict)
    asked: JsonObject = Field(default_factory=dict)


# --- Signing in ------------------------------------------------------------------------------------------


class UnauthenticatedRequests(Event):
    """Refused requests that named no known user, counted per minute and source (services/refusal_counter)."""

    NAME = EventName.UNAUTHENTICATED_REQUESTS
    OUTCOME = REFUSED
    minute: str
    source: str
    count: int
    first_path: str
    reasons: dict[str, int]
    final: bool


class SignInLockout(Event):
    NAME = EventName.SIGN_IN_LOCKOUT
    OUTCOME = REFUSED
    user: str
    user_ref: str
    source: str
    locked: str  # "account" or "source address"
    lockout_s: int


class SignIn(Event):
    NAME = EventName.SIGN_IN


class SignOut(Event):
    NAME = EventName.SIGN_OUT


class Enrol(Event):
    NAME = EventName.ENROL
    SUBJECTS = ("user",)
    user: str
    password_set: bool
    request: int | None


# --- Accounts --------------------------------------------------------------------------------------------


class DeploymentInit(Event):
    NAME = EventName.DEPLOYMENT_INIT
    index_backend: str
    model: JsonObject | str  # the model's name, version and weights hash


class UserAdd(Event):
    """The first admin, made with the deployment (later accounts come through account requests)."""

    NAME = EventName.USER_ADD
    SUBJECTS = ("user",)
    user: str
    roles: tuple[str, ...]
    department: str
    first_admin: bool


class UserCertify(Event):
    NAME = EventName.USER_CERTIFY
    SUBJECTS = ("user",)
    user: str
    certified_until: str


class UserDisable(Event):
    NAME = EventName.USER_DISABLE
    SUBJECTS = ("user",)
    user: str
    reason: str


class UserPassword(Event):
    NAME = EventName.USER_PASSWORD
    SUBJECTS = ("user",)
    user: str
    sessions_ended: int


class TokenIssue(Event):
    NAME = EventName.TOKEN_ISSUE
    SUBJECTS = ("user",)
    user: str
    label: str


class TokenRevoke(Event):
    NAME = EventName.TOKEN_REVOKE
    SUBJECTS = ("user",)
    user: str
    tokens: int


class AccountChange(Event):
    """What an account request asks for; which fields are set depends on its kind."""

    SUBJECTS = ("request", "user")
    request: int
    user: str
    kind: str
    roles: tuple[str, ...] | None = None
    department: str | None = None
    display_name: str | None = None
    certified_until: str | None = None
    label: str | None = None


class AccountRequest(AccountChange):
    NAME = EventName.ACCOUNT_REQUEST


class AccountApprove(AccountChange):
    NAME = EventName.ACCOUNT_APPROVE
    requested_by: int
    bootstrap_second_admin: bool
    delivered: str | None
    tokens_revoked: int | None = None  # a credentials reset
    sessions_ended: int | None = None


class AccountReject(Event):
    NAME = EventName.ACCOUNT_REJECT
    SUBJECTS = ("request", "user")
    request: int
    user: str
    kind: str
    note: str


# --- Authorisation and cases -----------------------------------------------------------------------------


class GrantAuthority(Event):
    NAME = EventName.GRANT_AUTHORITY
    SUBJECTS = ("authorisation",)
    authorisation: int
    reference: str
    starts_on: str
    ends_on: str
    purposes: tuple[str, ...]
    offence_types: tuple[str, ...]
    max_candidates: int
    allows_bulk_video: bool


class HaltAuthority(Event):
    NAME = EventName.HALT_AUTHORITY
    SUBJECTS = ("authorisation",)
    authorisation: int
    reason: str


class ResumeAuthority(Event):
    NAME = EventName.RESUME_AUTHORITY
    SUBJECTS = ("authorisation",)
    authorisation: int
    reason: str


class OpenCase(Event):
    NAME = EventName.OPEN_CASE
    SUBJECTS = ("case",)
    case: int
    number: str
    purpose: str
    offence_type: str


class AssignCase(Event):
    NAME = EventName.ASSIGN_CASE
    SUBJECTS = ("case",)
    case: int
    assigned: tuple[str, ...]


class CloseCase(Event):
    NAME = EventName.CLOSE_CASE
    SUBJECTS = ("case",)
    case: int
    reason: str


# --- Searching -------------------------------------------------------------------------------------------


class ProbeFace(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    index: int
    box: JsonObject
    quality_score: float


class ShownCandidate(BaseModel):
    """A candidate as the search showed it: an investigative lead, never an identification."""

    model_config = ConfigDict(frozen=True, extra="allow")
    candidate_id: int
    face_id: int | None  # None once the gallery face was removed
    rank: int
    distance: float
    false_match_rate: float | None = None
    expected_strangers: float | None = None


class VideoOrigin(Event):
    """Where a searched frame came from, when the probe was a video (unset for a photo)."""

    video_sha256: str | None = None
    video_name: str | None = None
    every_s: float | None = None
    track: int | None = None
    frame_time_s: float | None = None
    chosen_by: str | None = None
    chosen_as: str | None = None


class Search(VideoOrigin):
    NAME = EventName.SEARCH
    SUBJECTS = ("case", "search")
    case: int
    search: int
    probe_sha256: str
    attestation: str
    face: ProbeFace
    gallery_version: int
    gallery_faces: int
    model: str
    threshold: float
    max_candidates: int
    quality_override: int | None
    outcome: str
    candidates: tuple[ShownCandidate, ...]
    operating_threshold: JsonObject = Field(default_factory=dict)  # added with the derived threshold


class OverrideQuality(Event):
    NAME = EventName.OVERRIDE_QUALITY
    SUBJECTS = ("case", "override")
    case: int
    override: int
    probe_sha256: str
    reason: str


class PreviewProbe(Event):
    NAME = EventName.PREVIEW_PROBE
    SUBJECTS = ("case",)
    case: int
    probe_sha256: str
    faces: int


class PreviewVideo(Event):
    NAME = EventName.PREVIEW_VIDEO
    SUBJECTS = ("case",)
    case: int
    video_sha256: str
    every_s: float
    tracks: int


# --- Reviewing -------------------------------------------------------------------------------------------


class Review(Event):
    NAME = EventName.REVIEW
    SUBJECTS = ("candidate",)
    candidate: int
    decision: str
    state: str


class SignOff(Event):
    NAME = EventName.SIGN_OFF
    SUBJECTS = ("candidate",)
    candidate: int
    note: str


class Corroborate(Event):
    NAME = EventName.CORROBORATE
    SUBJECTS = ("candidate",)
    candidate: int
    evidence: str


class Export(Event):
    NAME = EventName.EXPORT
    SUBJECTS = ("candidate",)
    candidate: int
    file: str


class CaseDisclose(Event):
    NAME = EventName.CASE_DISCLOSE
    SUBJECTS = ("case",)
    case: int
    file: str
    sha256: str
    searches: int
    refused: int
    candidates: int
    ledger_entries: int
    verified: bool
    first_bad_seq: int | None = None


# --- The gallery -----------------------------------------------------------------------------------------


class IngestInput(Event):
    input: str
    source: str
    legal_basis: str | None


class GalleryIngestStart(IngestInput):
    NAME = EventName.GALLERY_INGEST_START


class GalleryIngestInterrupted(IngestInput):
    """What a killed run on the same input had committed, accounted for before the rerun skips it."""

    NAME = EventName.GALLERY_INGEST_INTERRUPTED
    job: int
    images_committed: int
    faces_committed: int


class GalleryIngest(IngestInput):
    NAME = EventName.GALLERY_INGEST
    job: int
    files_seen: int
    images_added: int
    faces_added: int
    images_known: int
    failures: int
    faces_skipped_optout: int
    gallery_version: int


class GalleryRemove(Event):
    NAME = EventName.GALLERY_REMOVE
    image_id: int | None = None  # what was asked: one of these four
    sha256: str | None = None
    source: str | None = None
    subject: str | None = None
    what: str
    images: int
    faces: int
    thumbnails: int
    gallery_version: int


class IndexRebuild(Event):
    NAME = EventName.INDEX_REBUILD
    faces: int
    drift_before: JsonObject
    gallery_version: int


class ModelsAddAsked(Event):
    model: str
    file: str
    licence: str
    commercial_use: bool
    input_colour: str
    pixel_scale: str


class ModelsAdd(ModelsAddAsked):
    NAME = EventName.MODELS_ADD
    sha256: str
    model_key: str
    embedding_dim: int
    size_bytes: int
    input_shape: tuple[int | str | None, ...]


class ModelsAddRefused(ModelsAddAsked):
    NAME = EventName.MODELS_ADD_REFUSED
    reason: str


class ModelsEvaluate(Event):
    NAME = EventName.MODELS_EVALUATE
    model: str
    sha256: str
    calibration_file: str
    summary: JsonObject


class ModelsEnable(Event):
    NAME = EventName.MODELS_ENABLE
    model: str
    allow_missing: bool
    model_key: str
    name: str
    enabled: bool
    faces_embedded: int
    gallery_faces: int
    index_faces: int
    in_pipeline: bool


class ModelsReembedStart(Event):
    NAME = EventName.MODELS_REEMBED_START
    model: str
    from_thumbnails: bool
    already_embedded: int


class ModelsReembed(Event):
    NAME = EventName.MODELS_REEMBED
    model: str
    model_key: str
    thumbnails_allowed: bool | None = None  # older entries lost it under the count below
    gallery_faces: int
    already_embedded: int
    embedded: int
    from_originals: int
    from_thumbnails: int
    unavailable: int
    not_found_again: int
    seconds: float
    failures: tuple[str, ...]
    gallery_version: int


class OptoutSubmit(Event):
    NAME = EventName.OPTOUT_SUBMIT
    SUBJECTS = ("optout",)
    optout: int
    photo_sha256: str
    matched_faces: tuple[int, ...]


class OptoutConfirm(Event):
    NAME = EventName.OPTOUT_CONFIRM
    SUBJECTS = ("optout",)
    optout: int
    confirmed: tuple[int, ...]
    declined: tuple[int, ...]


class OptoutComplete(Event):
    NAME = EventName.OPTOUT_COMPLETE
    SUBJECTS = ("optout",)
    optout: int
    faces_removed: int
    images_removed: int
    face_ids: tuple[int, ...]


class RetentionPurge(Event):
    NAME = EventName.RETENTION_PURGE
    cutoff: str
    searches_purged: tuple[int, ...]
    candidates_deleted: int
    probe_files_deleted: int


# --- Oversight -------------------------------------------------------------------------------------------


class ScanFinding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    kind: str
    ledger_seqs: tuple[int, ...]


class AnomalyScan(Event):
    NAME = EventName.ANOMALY_SCAN
    since: str | None
    until: str | None
    limits: JsonObject
    searches: int
    findings: tuple[ScanFinding, ...]


class ViolationRecord(Event):
    NAME = EventName.VIOLATION_RECORD
    SUBJECTS = ("violation",)
    violation: int
    kind: str
    summary: str
    ledger_seqs: tuple[int, ...]
    actor: str
    note: str


class ReportUsage(Event):
    NAME = EventName.REPORT_USAGE
    week: str
    file: str


class ReportAccountability(Event):
    NAME = EventName.REPORT_ACCOUNTABILITY
    file: str
    days: int


class LedgerVerify(Event):
    NAME = EventName.LEDGER_VERIFY
    status: str
    ok: bool
    entries: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str


class LedgerCheckpoint(Event):
    NAME = EventName.LEDGER_CHECKPOINT


class LedgerCosigned(Event):
    NAME = EventName.LEDGER_COSIGNED
    size: int
    witnesses: tuple[str, ...]


def _classes() -> dict[tuple[str, str], type[Event]]:
    found: dict[tuple[str, str], type[Event]] = {}
    pending: list[type[Event]] = [Event]
    while pending:
        for cls in pending.pop().__subclasses__():
            pending.append(cls)
            if "NAME" in cls.__dict__:
                found[(cls.NAME.value, cls.OUTCOME)] = cls
    return found


CLASSES = _classes()  # (name, outcome) -> the one class an entry of that action is written and read through

Recorded = Event | Refusal


def parse(action: str, outcome: str, subjects_text: str, details_text: str) -> Recorded:
    """An entry's action and fields as its typed record. Raises InvalidInput naming the entry's action and
    the field that does not fit its class (an entry written by hand, or by a version that got it wrong)."""
    try:
        name = EventName(action)
    except ValueError as exc:
        raise InvalidInput(f"the ledger has no action named {action!r}") from exc
    try:
        subjects, details = json.loads(subjects_text), json.loads(details_text)
    except ValueError as exc:
        raise InvalidInput(f"a {action} entry's subjects or details are not JSON") from exc
    if not isinstance(subjects, dict) or not isinstance(details, dict):
        raise InvalidInput(f"a {action} entry's subjects and details must be JSON objects")
    cls = CLASSES.get((name.value, outcome))
    try:
        if cls is not None:
            return cls.from_parts(subjects, details)
        if outcome == REFUSED:
            return Refusal(action=name, subjects=subjects, asked=details)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "?"
        raise InvalidInput(f"a {action} entry does not fit its record: {where}: {first['msg']}") from exc
    raise InvalidInput(f"the ledger has no record of a {outcome} {action}")


__all__ = ["CLASSES", "DONE", "REFUSED", "Event", "EventName", "Recorded", "Refusal", "parse"]
