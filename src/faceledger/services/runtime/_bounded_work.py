"""Probe analysis with bounded work: every photo or video a person sends is analysed in a worker process
within a time budget (`analysis_timeout_s`, then the worker is killed), a memory budget and a bound on
analyses in flight; the costly detector passes run within pixel budgets (engine/budget.py). Entry
points (API, pages, CLI) and the governed services call these, never the engine directly, so that no
request holds a lock, or a worker, for unbounded work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceledger.config import Settings
from faceledger.engine.sandbox import run_bounded, worker_engine
from faceledger.engine.video import frame_at
from faceledger.engine.video_faces import VideoFaces, analyse_video, save_private_png, video_limits
from faceledger.types import Box, DetectedFace, Detector, ImageFaces, RGBImage

__all__ = ["ProbeFaces", "VideoFaces", "probe_box", "probe_faces", "video_still", "video_tracks"]


@dataclass(frozen=True)
class ProbeFaces:
    faces: ImageFaces
    pixels: RGBImage | None  # the decoded probe, when asked for (a page draws the boxes on it)


def probe_faces(
    settings: Settings, path: Path, *, detector: Detector | None = None, embed: bool = True, pixels: bool = False
) -> ProbeFaces:
    """The faces in a probe photo, found within the work budgets."""
    return run_bounded(settings, _faces_job, settings, path, detector, embed, pixels)


def probe_box(settings: Settings, path: Path, box: Box) -> DetectedFace:
    """The face in a box a person chose on a probe (a video frame): described, no detection run."""
    return run_bounded(settings, _box_job, settings, path, box)


def video_tracks(
    settings: Settings, path: Path, *, every_s: float = 0.5, attribution: str = "", work_dir: Path | None = None
) -> VideoFaces:
    """Tracks in a video, within the decode, analysis and time budgets; one worker, no pool of its own.
    Decoded frames go to `work_dir` (a staging folder in the data directory), else beside the video."""
    return run_bounded(settings, _tracks_job, settings, path, every_s, attribution, work_dir or path.parent)


def video_still(settings: Settings, video: Path, time_s: float, folder: Path) -> Path:
    """The frame at `time_s` as a PNG in `folder`: the same bytes every time, so an override made for it
    matches it."""
    return run_bounded(settings, _still_job, settings, video, time_s, folder)


def _faces_job(settings: Settings, path: Path, detector: Detector | None, embed: bool, pixels: bool) -> ProbeFaces:
    engine = worker_engine(settings)
    loaded = engine.load_image(path)
    return ProbeFaces(engine.analyse(loaded, detector, embed=embed), loaded.pixels if pixels else None)


def _box_job(settings: Settings, path: Path, box: Box) -> DetectedFace:
    engine = worker_engine(settings)
    return engine.analyse_box(engine.load_image(path), box)


def _tracks_job(settings: Settings, path: Path, every_s: float, attribution: str, work_dir: Path) -> VideoFaces:
    return analyse_video(path, settings, every_s=every_s, workers=1, attribution=attribution, work_dir=work_dir)


def _still_job(settings: Settings, video: Path, time_s: float, folder: Path) -> Path:
    frame_time, pixels = frame_at(video, time_s, video_limits(settings))
    still = folder / f"{video.stem}-{frame_time:.3f}s.png"
    save_private_png(pixels, still)
    return still
