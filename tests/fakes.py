"""Fakes for tests of the governed logic without face models: an analyser that maps image bytes to
fixed vectors, a photo factory whose images it knows, and a clock that stands still until a test moves it.

`FakeAnalyser.photo(folder, person, take)` writes a small real JPEG (so decoding, hashing, thumbnails and
the probe face work as they do in production) and remembers whose face it shows. Each person has a fixed
random direction; each take of them is that direction nudged a little, so two takes of one person are
close (cosine distance ≈ 0.02) and two people are strangers (≈ 1). Embeddings carry the identity of the
configured pipeline's first model, so the shipped calibration tables and thresholds apply unchanged.
A file the fake was not told about holds no face. Video is refused: a video test runs on the real models."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from faceledger.config import Settings
from faceledger.engine.image_input import ImageLimits, file_sha256, load_image
from faceledger.engine.parallel import FileResult
from faceledger.engine.thumbnails import face_thumbnail
from faceledger.errors import EngineUnavailable, NoFaceFound
from faceledger.services.runtime._bounded_work import ProbeFaces, VideoFaces
from faceledger.services.runtime.pipeline_models import pipeline_identities
from faceledger.types import Box, DetectedFace, Detector, Embedding, ImageFaces, Quality, QualityCheck, RGBImage

PHOTO_PX = 96
FACE_BOX = Box(left=24, top=20, right=72, bottom=76)
_TAKE_NOISE = 0.15  # per-dimension spread of a take around its person, before normalising


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:8], "big")


_PASSING = Quality((QualityCheck("fake", 1.0, True, 1.0, "a fake face, always sharp and frontal"),))


@dataclass
class FakeAnalyser:
    """An Analyser (services/runtime/analyser.py) without models; counts what it was asked to analyse."""

    known: dict[str, tuple[str, int]] = field(default_factory=dict)  # file sha256 -> (person, take)
    probes: int = 0

    def photo(self, folder: Path, person: str, take: int = 0) -> Path:
        """A JPEG of `person` (take `take`) in `folder`; its bytes differ for every (person, take)."""
        folder.mkdir(parents=True, exist_ok=True)
        colour = np.random.default_rng(_seed(person, str(take))).integers(0, 256, size=(PHOTO_PX, PHOTO_PX, 3))
        path = folder / f"{person.replace(' ', '_')}_{take:04d}.jpg"
        Image.fromarray(colour.astype(np.uint8)).save(path, format="JPEG", quality=90)
        self.known[file_sha256(path)] = (person, take)
        return path

    def people_with_several(self, folder: Path, count: int, takes: int = 3) -> list[tuple[str, list[Path]]]:
        """As tests/lfwdata.people_with_several: `count` people with `takes` photos each, in `folder`."""
        names = [f"Person_{i:03d}" for i in range(count)]
        return [(name, [self.photo(folder, name, take) for take in range(takes)]) for name in names]

    def vector(self, person: str, take: int) -> np.ndarray:
        dim = 128
        centre = _unit(np.random.default_rng(_seed(person)).standard_normal(dim))
        nudge = np.random.default_rng(_seed(person, str(take))).standard_normal(dim) * _TAKE_NOISE / np.sqrt(dim)
        return _unit(centre + nudge)

    def _embeddings(self, settings: Settings, person: str, take: int) -> tuple[Embedding, ...]:
        return tuple(
            Embedding(self.vector(f"{person}#{model.key}", take) if i else self.vector(person, take), model)
            for i, model in enumerate(pipeline_identities(settings))
        )

    def _face(self, settings: Settings, path: Path, box: Box, detector: Detector | None, embed: bool) -> DetectedFace:
        known = self.known.get(file_sha256(path))
        embeddings = self._embeddings(settings, *known) if known and embed else ()
        return DetectedFace(
            index=0,
            box=box,
            detector=detector,
            detector_score=0.99,
            rotation_deg=0,
            landmarks=((40.0, 40.0), (56.0, 40.0), (48.0, 52.0), (42.0, 64.0), (54.0, 64.0)),
            quality=_PASSING,
            embedding=embeddings[0] if embeddings else None,
            not_embedded_reason=None if embeddings or not embed else "a fake face it was not told about",
            extra_embeddings=embeddings[1:],
        )

    def _image_faces(self, settings: Settings, path: Path, detector: Detector | None, embed: bool) -> ImageFaces:
        loaded = load_image(path, _limits(settings))
        faces = (self._face(settings, path, FACE_BOX, detector or Detector.YUNET, embed),)
        return ImageFaces(loaded.info, faces if file_sha256(path) in self.known else ())

    def probe_faces(
        self,
        settings: Settings,
        path: Path,
        *,
        detector: Detector | None = None,
        embed: bool = True,
        pixels: bool = False,
    ) -> ProbeFaces:
        self.probes += 1
        faces = self._image_faces(settings, path, detector, embed)
        return ProbeFaces(faces, self.pixels(settings, path) if pixels else None)

    def probe_box(self, settings: Settings, path: Path, box: Box) -> DetectedFace:
        self.probes += 1
        if file_sha256(path) not in self.known:
            raise NoFaceFound(f"{path.name}: a fake photo it was not told about")
        return self._face(settings, path, box, None, True)

    def gallery_files(
        self,
        settings: Settings,
        paths: Sequence[Path],
        *,
        workers: int | None,
        thumbnail_px: int | None,
        ray_address: str | None,
    ) -> Iterator[FileResult]:
        for path in paths:
            try:
                faces = self._image_faces(settings, path, None, True)
            except Exception as exc:  # as the real pool does: a bad file is a result with its error
                yield FileResult(path, None, f"{type(exc).__name__}: {exc}")
                continue
            pixels = self.pixels(settings, path)
            thumbnails = tuple(face_thumbnail(pixels, f.box, thumbnail_px) for f in faces.faces) if thumbnail_px else ()
            yield FileResult(path, faces, None, thumbnails)

    def pixels(self, settings: Settings, path: Path) -> RGBImage:
        return load_image(path, _limits(settings)).pixels

    def video_tracks(
        self, settings: Settings, path: Path, *, every_s: float, attribution: str, work_dir: Path
    ) -> VideoFaces:
        raise EngineUnavailable("the fake analyser reads no video; video tests run on the real models")

    def video_still(self, settings: Settings, video: Path, time_s: float, folder: Path) -> Path:
        raise EngineUnavailable("the fake analyser reads no video; video tests run on the real models")


def _limits(settings: Settings) -> ImageLimits:
    return ImageLimits(settings.max_image_bytes, settings.max_image_pixels)


class FakeClock:
    """A Clock (faceledger/clock.py) that stands still at `start` (default: the real now) until moved."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _aware(start) if start is not None else datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return self._now.date()

    def advance(self, **delta: float) -> datetime:
        """Move on by timedelta(**delta), e.g. advance(days=181); the new time."""
        step = timedelta(**delta)
        if step < timedelta(0):
            raise ValueError(f"a clock does not run backwards: {step}")
        self._now += step
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = _aware(moment)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # what the services compare with stored, aware times
        raise ValueError(f"the clock's time must be timezone-aware: {moment}")
    return moment.astimezone(UTC)


__all__ = ["FACE_BOX", "FakeAnalyser", "FakeClock"]
