"""What a deployment analyses images with: probes within the work budgets (services/runtime/_bounded_work.py) and
gallery files on every core or a Ray cluster (engine/parallel.py). A deployment is given one when it is
opened (`open_deployment(..., analyser=...)`); the default runs the real models, a test may pass a fake
that maps image bytes to fixed vectors (tests/fakes.py), so the governed logic is tested without models."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from faceledger.config import Settings
from faceledger.engine.image_input import ImageLimits, load_image
from faceledger.engine.parallel import FileResult, analyse_files
from faceledger.services.runtime import _bounded_work as bounded_work
from faceledger.services.runtime._bounded_work import ProbeFaces, VideoFaces
from faceledger.types import Box, DetectedFace, Detector, RGBImage


class Analyser(Protocol):
    def probe_faces(
        self,
        settings: Settings,
        path: Path,
        *,
        detector: Detector | None = None,
        embed: bool = True,
        pixels: bool = False,
    ) -> ProbeFaces:
        """Every face in a probe photo, found within the work budgets."""

    def probe_box(self, settings: Settings, path: Path, box: Box) -> DetectedFace:
        """The face in a box a person chose on a probe: described, no detection run."""

    def gallery_files(
        self,
        settings: Settings,
        paths: Sequence[Path],
        *,
        workers: int | None,
        thumbnail_px: int | None,
        ray_address: str | None,
    ) -> Iterator[FileResult]:
        """One result per gallery file, in order; a bad file is a result with its error."""

    def pixels(self, settings: Settings, path: Path) -> RGBImage:
        """A probe's decoded pixels (for the probe face reviewers see), within the image limits."""

    def video_tracks(
        self, settings: Settings, path: Path, *, every_s: float, attribution: str, work_dir: Path
    ) -> VideoFaces:
        """One track per face in a video, each with its best frame; decoded frames go to `work_dir`."""

    def video_still(self, settings: Settings, video: Path, time_s: float, folder: Path) -> Path:
        """The frame at `time_s` as a PNG in `folder`, the same bytes every time."""


class BoundedAnalyser:
    """The real models: probes in bounded worker processes, gallery files on every core (or Ray)."""

    def probe_faces(
        self,
        settings: Settings,
        path: Path,
        *,
        detector: Detector | None = None,
        embed: bool = True,
        pixels: bool = False,
    ) -> ProbeFaces:
        return bounded_work.probe_faces(settings, path, detector=detector, embed=embed, pixels=pixels)

    def probe_box(self, settings: Settings, path: Path, box: Box) -> DetectedFace:
        return bounded_work.probe_box(settings, path, box)

    def gallery_files(
        self,
        settings: Settings,
        paths: Sequence[Path],
        *,
        workers: int | None,
        thumbnail_px: int | None,
        ray_address: str | None,
    ) -> Iterator[FileResult]:
        return analyse_files(paths, settings, workers=workers, thumbnail_px=thumbnail_px, ray_address=ray_address)

    def pixels(self, settings: Settings, path: Path) -> RGBImage:
        # Decoding needs no model: the server process never loads one just to cut out the probe face.
        return load_image(path, ImageLimits(settings.max_image_bytes, settings.max_image_pixels)).pixels

    def video_tracks(
        self, settings: Settings, path: Path, *, every_s: float, attribution: str, work_dir: Path
    ) -> VideoFaces:
        return bounded_work.video_tracks(settings, path, every_s=every_s, attribution=attribution, work_dir=work_dir)

    def video_still(self, settings: Settings, video: Path, time_s: float, folder: Path) -> Path:
        return bounded_work.video_still(settings, video, time_s, folder)
