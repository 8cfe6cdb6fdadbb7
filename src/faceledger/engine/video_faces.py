"""Faces across a video: sample frames, analyse them on all cores, link faces into tracks, keep each
track's best face for a person to choose from.

Sampled frames are written as PNG (0600) into a private temporary folder so that the same process pool as
image analysis can work on them (a frame is ~1 MB decoded; PNG keeps it exact); the folder is gone
when the analysis returns. A caller holding a probe passes `work_dir` (its staging folder) so that no
frame is written outside the data directory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from faceledger.config import Settings
from faceledger.engine.budget import fit_scale, scale_face
from faceledger.engine.parallel import analyse_files
from faceledger.engine.scales import link_distances
from faceledger.engine.thumbnails import face_thumbnail
from faceledger.engine.tracking import LinkDistances, Track, Tracker
from faceledger.engine.video import VideoInfo, VideoLimits, probe_video, sample_frames
from faceledger.errors import InvalidInput, WorkLimitExceeded


@dataclass(frozen=True)
class VideoFaces:
    info: VideoInfo
    every_s: float
    frames_sampled: int
    faces_seen: int
    too_small: int  # faces found but too small to embed, so in no track
    tracks: tuple[Track, ...]
    crops: dict[int, bytes]  # track number -> JPEG of its best face
    attribution: str = ""

    def track_dict(self, track: Track) -> dict[str, Any]:
        best = track.best
        return {
            "track": track.number,
            "first_s": round(track.first_s, 3),
            "last_s": round(track.last_s, 3),
            "sightings": len(track.sightings),
            "best_s": round(best.time_s, 3),
            "best_face": best.face.index,
            "box": best.face.box.to_dict(),
            "quality": round(best.face.quality.score, 3),
            "quality_problems": best.face.quality.problems,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.info.to_dict(),
            "every_s": self.every_s,
            "frames_sampled": self.frames_sampled,
            "faces_seen": self.faces_seen,
            "too_small_to_track": self.too_small,
            "tracks": [self.track_dict(t) for t in self.tracks],
            "attribution": self.attribution,
        }


def video_limits(settings: Settings) -> VideoLimits:
    return VideoLimits(
        settings.video_max_bytes,
        settings.video_max_seconds,
        settings.video_max_frame_pixels,
        settings.video_max_decoded_pixels,
    )


def frame_settings(settings: Settings, info: VideoInfo, every_s: float) -> tuple[Settings, float]:
    """The settings frames are analysed with, and the scale frames are decoded at: frames within the frame
    pixel budget, HOG upsampling lowered until frames x pixels x 4^upsample fits the analysis budget."""
    expected = int(info.duration_s / every_s) + 1
    if expected > settings.video_max_samples:
        raise InvalidInput(
            f"{info.name}: sampling every {every_s} s gives {expected} frames; the limit is "
            f"{settings.video_max_samples} (sample less often)"
        )
    scale = fit_scale(info.width, info.height, settings.video_frame_max_pixels)
    pixels = max(1, int(info.width * scale) * int(info.height * scale))
    upsample = max(settings.hog_upsample, settings.video_hog_upsample)
    while upsample > 0 and expected * pixels * 4**upsample > settings.video_max_analysis_pixels:
        upsample -= 1
    if expected * pixels > settings.video_max_analysis_pixels:
        raise WorkLimitExceeded(
            f"{info.name}: {expected} frames of {pixels:,} pixels is over the analysis budget "
            f"(video_max_analysis_pixels) of {settings.video_max_analysis_pixels:,} pixels; sample less often"
        )
    frame = settings.model_copy(
        update={
            "hog_upsample": upsample,
            "hog_upsample_max_pixels": max(settings.hog_upsample_max_pixels, pixels * 16),
            "hog_max_pixels": max(settings.hog_max_pixels, pixels * 4**upsample),
            "cnn_fallback": settings.cnn_fallback and settings.video_cnn_fallback,
            "min_embed_face_px": min(settings.min_embed_face_px, settings.video_min_embed_face_px),
        }
    )
    return frame, scale


def analyse_video(
    path: Path,
    settings: Settings,
    *,
    every_s: float = 0.5,
    workers: int | None = None,
    attribution: str = "",
    on_frame: Callable[[int, int], None] | None = None,
    work_dir: Path | None = None,
    link: LinkDistances | None = None,
) -> VideoFaces:
    """Tracks in a video; boxes are in the coordinates of the full-resolution frames. `link`: the tracker's
    distances (default: dlib's, carried onto the pipeline's first model's scale, engine/scales.py)."""
    link = link or link_distances(settings.pipeline)
    limits = video_limits(settings)
    info = probe_video(path, limits)
    settings, scale = frame_settings(settings, info, every_s)
    with tempfile.TemporaryDirectory(prefix="faceledger-frames-", dir=work_dir) as folder:
        times: list[float] = []
        frames = sample_frames(path, info, every_s, limits, settings.video_frame_max_pixels if scale < 1 else None)
        for number, (time_s, pixels) in enumerate(frames):
            save_private_png(pixels, Path(folder) / f"frame-{number:05d}.png", compress_level=1)
            times.append(time_s)
        files = [Path(folder) / f"frame-{n:05d}.png" for n in range(len(times))]
        results = analyse_files(files, settings, workers=workers)
        tracker, seen, small = Tracker(link=link), 0, 0
        for done, (time_s, result) in enumerate(zip(times, results, strict=True), start=1):
            faces = list(result.faces.faces) if result.faces is not None else []
            seen += len(faces)
            small += sum(face.embedding is None for face in faces)
            tracker.add(time_s, [scale_face(face, 1 / scale) for face in faces])
            if on_frame is not None:
                on_frame(done, len(files))
        tracks = tuple(tracker.tracks())
        crops = {t.number: _crop(files[times.index(t.best.time_s)], t, settings.thumbnail_px, scale) for t in tracks}
    return VideoFaces(info, every_s, len(times), seen, small, tracks, crops, attribution)


def save_private_png(pixels: np.ndarray, path: Path, compress_level: int | None = None) -> None:
    """A frame only its owner can read (0600 from the start, not chmod-ed afterwards); the same bytes as
    `Image.save(path)` gives, so a quality override recorded for a still still matches it."""
    options = {} if compress_level is None else {"compress_level": compress_level}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        Image.fromarray(pixels).save(out, format="PNG", **options)


def _crop(frame: Path, track: Track, size_px: int, scale: float) -> bytes:
    with Image.open(frame) as image:
        pixels = np.asarray(image.convert("RGB"))
    return face_thumbnail(pixels, scale_face(track.best.face, scale).box, size_px)
