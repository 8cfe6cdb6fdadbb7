"""Step one of a search, governed like the search itself: the faces in a probe photo, or the face tracks
in a video, shown so a person can choose one. Finding faces in someone's photo is already processing of
biometric data, so it needs what a search needs (the analyst role and certification, an open case of their
department that they are assigned to, an active authorisation for its purpose) except the attestation,
which step two asks for. Refused before the probe is decoded; allowed previews are ledgered with the
probe's hash (never its pixels) and the number of faces or tracks found."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from faceledger.engine.image_input import file_sha256
from faceledger.engine.video_faces import VideoFaces
from faceledger.errors import InvalidInput, NotFound
from faceledger.policy.governance import Action, ActorView, Context, attestation_reasons, decide
from faceledger.services.governance.guard import (
    append,
    authority_view,
    case_view,
    find_case,
    record_refusal,
    refreshed,
)
from faceledger.services.governance.ledger_key import checkpoint_if_due
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events
from faceledger.store.db import transaction
from faceledger.store.governance_models import Case
from faceledger.types import ImageFaces, RGBImage

PHOTO_PREVIEW = events.EventName.PREVIEW_PROBE
VIDEO_PREVIEW = events.EventName.PREVIEW_VIDEO
T = TypeVar("T")


@dataclass(frozen=True)
class PhotoPreview:
    faces: ImageFaces
    pixels: RGBImage | None  # the decoded probe, for a page that draws the boxes on it
    probe_sha256: str
    ledger_seq: int


@dataclass(frozen=True)
class VideoPreview:
    video: VideoFaces
    ledger_seq: int


def _sha256(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError as exc:
        raise InvalidInput(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc


def _reasons(session: Session, actor: ActorView, case: Case | None, day: date) -> list[str]:
    """Everything a search would be refused for on day `day`, but the attestation (that is step two's)."""
    context = Context(day, authority_view(session, day, lock=True), case=case_view(case) if case else None)
    waived = set(attestation_reasons(""))
    return [r for r in decide(refreshed(session, actor), Action.SEARCH, context).reasons if r not in waived]


def _governed(
    deployment: Deployment, actor: ActorView, case: str, details: dict[str, Any], work: Callable[[Session, int], T]
) -> T:
    """Decide and (when allowed) act in one transaction; a refusal is ledgered as a refused search."""
    with transaction(deployment.sessions) as session:
        try:
            found: Case | None = find_case(session, case, actor)
        except NotFound:
            found = None
        reasons = _reasons(session, actor, found, deployment.clock.today())
        if found is None:
            missing = f"no case {case!r} in {actor.name}'s department"
            reasons = [r for r in reasons if r != "a case is needed"] + [missing]
        case_id = found.id if found is not None else None
        if not reasons and case_id is not None:
            result = work(session, case_id)
    if reasons:
        subjects = {"case": case_id} if case_id is not None else None
        raise record_refusal(
            deployment,
            actor,
            Action.SEARCH,
            reasons,
            case_id=case_id,
            subjects=subjects,
            details={"case": case, "step": "preview", **details},
        )
    checkpoint_if_due(deployment)
    return result


def preview_photo(
    deployment: Deployment, actor: ActorView, case: str, probe: Path, *, pixels: bool = False
) -> PhotoPreview:
    """The faces found in a probe photo (boxes, landmarks, quality), for the searcher to choose from;
    analysed within the work budgets (services/runtime/_bounded_work.py)."""
    digest = _sha256(probe)
    details: dict[str, Any] = {"probe_sha256": digest}
    _governed(deployment, actor, case, details, lambda _s, _c: None)  # refused before the probe is decoded
    found = deployment.analyser.probe_faces(deployment.settings, probe, embed=False, pixels=pixels)
    faces = found.faces

    def record(session: Session, case_id: int) -> int:
        entry = append(
            session,
            actor,
            events.PreviewProbe(case=case_id, probe_sha256=digest, faces=len(faces.faces)),
            case_id=case_id,
        )
        return entry.seq

    return PhotoPreview(faces, found.pixels, digest, _governed(deployment, actor, case, details, record))


def preview_video(
    deployment: Deployment, actor: ActorView, case: str, video: Path, *, every_s: float = 0.5, attribution: str = ""
) -> VideoPreview:
    """One track per face in a video, with its best frame, for the searcher to choose from."""
    digest = _sha256(video)
    details: dict[str, Any] = {"video_sha256": digest, "every_s": every_s}
    _governed(deployment, actor, case, details, lambda _s, _c: None)
    found = deployment.analyser.video_tracks(
        deployment.settings, video, every_s=every_s, attribution=attribution, work_dir=video.parent
    )  # decoded frames stay in the upload's staging folder

    def record(session: Session, case_id: int) -> int:
        preview = events.PreviewVideo(case=case_id, video_sha256=digest, every_s=every_s, tracks=len(found.tracks))
        entry = append(session, actor, preview, case_id=case_id)
        return entry.seq

    return VideoPreview(found, _governed(deployment, actor, case, details, record))
