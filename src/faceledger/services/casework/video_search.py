"""Governed search from video: the probe is one frame a person chose (a track's best frame, or a time),
never the footage as a whole. The ledger records the video's hash, the frame's time, and who chose it
and how. Searching every track at once is refused unless the authorisation allows it and a warrant or
exigency reference is recorded (RCW 43.386.080; Detroit 307.5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceledger.engine.video import probe_video
from faceledger.engine.video_faces import VideoFaces, video_limits
from faceledger.errors import InvalidInput, NotFound
from faceledger.policy.governance import ActorView
from faceledger.services.casework.governed_search import SearchRequest, SearchResult, governed_search, record_override
from faceledger.services.runtime.deployment import Deployment
from faceledger.services.runtime.staging import scratch
from faceledger.types import Box


def _search_frame(
    deployment: Deployment,
    actor: ActorView,
    case: str,
    attestation: str,
    video: Path,
    time_s: float,
    origin: dict[str, Any],
    *,
    box: Box | None = None,
    face: int | None = None,
    warrant: str | None = None,
) -> SearchResult:
    with scratch(deployment.data_dir) as folder:  # the still is a probe: it stays in the data directory
        still = deployment.analyser.video_still(deployment.settings, video, time_s, folder)
        frame_time = float(still.stem.rsplit("-", 1)[1].rstrip("s"))
        origin = {**origin, "frame_time_s": round(frame_time, 3), "chosen_by": actor.name}
        request = SearchRequest(
            case, attestation, still, face, origin=origin, box=box, bulk_video=warrant is not None, warrant=warrant
        )
        return governed_search(deployment, actor, request)


def _tracks(deployment: Deployment, video: Path, every_s: float) -> VideoFaces:
    with scratch(deployment.data_dir) as folder:  # decoded frames stay in the data directory
        return deployment.analyser.video_tracks(
            deployment.settings, video, every_s=every_s, attribution="", work_dir=folder
        )


def search_track(
    deployment: Deployment, actor: ActorView, case: str, attestation: str, video: Path, track: int, every_s: float = 0.5
) -> SearchResult:
    """Search the best face of one track, as the searcher chose it from the contact sheet."""
    found = _tracks(deployment, video, every_s)
    chosen = next((t for t in found.tracks if t.number == track), None)
    if chosen is None:
        raise NotFound(f"{video.name} has {len(found.tracks)} track(s) at every {every_s} s; there is no track {track}")
    best = chosen.best
    origin = {
        "video_sha256": found.info.sha256,
        "video_name": found.info.name,
        "every_s": every_s,
        "chosen_as": f"the best frame of track {track}",
    }
    return _search_frame(deployment, actor, case, attestation, video, best.time_s, origin, box=best.face.box)


def search_time(
    deployment: Deployment,
    actor: ActorView,
    case: str,
    attestation: str,
    video: Path,
    at_s: float,
    face: int | None = None,
) -> SearchResult:
    """Search a face in the frame shown at `at_s`, a time the searcher chose."""
    info = probe_video(video, video_limits(deployment.settings))
    if not 0 <= at_s <= info.duration_s:
        raise InvalidInput(f"{info.name} is {info.duration_s:.2f} s long; {at_s} s is outside it")
    origin = {"video_sha256": info.sha256, "video_name": info.name, "chosen_as": f"the frame at {at_s} s"}
    return _search_frame(deployment, actor, case, attestation, video, at_s, origin, face=face)


def search_every_track(
    deployment: Deployment,
    actor: ActorView,
    case: str,
    attestation: str,
    video: Path,
    warrant: str,
    every_s: float = 0.5,
) -> list[SearchResult]:
    """Every track's best face: refused (and ledgered) unless the grant allows it and a warrant is given."""
    found = _tracks(deployment, video, every_s)
    outcomes = []
    for track in found.tracks:
        origin = {
            "video_sha256": found.info.sha256,
            "video_name": found.info.name,
            "every_s": every_s,
            "chosen_as": f"every track (track {track.number}), under warrant {warrant!r}",
        }
        outcomes.append(
            _search_frame(
                deployment,
                actor,
                case,
                attestation,
                video,
                track.best.time_s,
                origin,
                box=track.best.face.box,
                warrant=warrant,
            )
        )
    return outcomes


def override_track(
    deployment: Deployment, actor: ActorView, case: str, video: Path, track: int, reason: str, every_s: float = 0.5
) -> int:
    """A supervisor lets one track's low-quality best frame be searched in one case."""
    found = _tracks(deployment, video, every_s)
    chosen = next((t for t in found.tracks if t.number == track), None)
    if chosen is None:
        raise NotFound(f"{video.name} has {len(found.tracks)} track(s) at every {every_s} s; there is no track {track}")
    with scratch(deployment.data_dir) as folder:
        still = deployment.analyser.video_still(deployment.settings, video, chosen.best.time_s, folder)
        return record_override(deployment, actor, case, still, reason)
