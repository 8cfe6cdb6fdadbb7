"""Linking the faces of sampled frames into tracks: one track per person on screen.

A face joins the open track whose last face overlaps it (box IoU) or looks like it (embedding
distance), scored together; greedy, best pairs first. A track not seen for `max_gap` samples closes.
This links faces within one video for a person to choose from; it is not tracking anyone over time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from faceledger.types import Box, DetectedFace

SAME_PERSON_DISTANCE = 0.55  # stricter than the match threshold: a wrong link merges two people
DIFFERENT_PERSON_DISTANCE = 0.7  # even overlapping boxes are two people this far apart
MIN_IOU = 0.3


@dataclass(frozen=True)
class LinkDistances:
    """The tracker's two distances on the scale of the embeddings it links. The defaults are dlib's; another
    model's are carried from them at equal false-match rate by the caller (engine/scales.py)."""

    same_person: float = SAME_PERSON_DISTANCE
    different_person: float = DIFFERENT_PERSON_DISTANCE

    @property
    def unit(self) -> float:
        """Distances are scored in dlib-like units (1.0 exactly for dlib), so IoU weighs the same on every scale."""
        return self.different_person / DIFFERENT_PERSON_DISTANCE


@dataclass
class Sighting:
    time_s: float
    face: DetectedFace


@dataclass
class Track:
    number: int
    sightings: list[Sighting] = field(default_factory=list)
    missed: int = 0

    @property
    def first_s(self) -> float:
        return self.sightings[0].time_s

    @property
    def last_s(self) -> float:
        return self.sightings[-1].time_s

    @property
    def best(self) -> Sighting:
        """The sighting a person would pick: best quality, then largest face."""
        return max(self.sightings, key=lambda s: (s.face.quality.score, s.face.box.area))

    def vector(self) -> np.ndarray:
        """The latest embedded sighting's vector (a track only ever starts from an embedded face)."""
        for sighting in reversed(self.sightings):
            if sighting.face.embedding is not None:
                return sighting.face.embedding.vector
        raise ValueError(f"track {self.number} has no embedded face")


def iou(a: Box, b: Box) -> float:
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    overlap = width * height
    return overlap / (a.area + b.area - overlap)


def _link_score(track: Track, face: DetectedFace, link: LinkDistances) -> float | None:
    """Higher is better; None when the face cannot belong to the track."""
    if face.embedding is None:
        return None
    distance = float(np.linalg.norm(track.vector() - face.embedding.vector))
    overlap = iou(track.sightings[-1].face.box, face.box)
    if distance > link.same_person and overlap < MIN_IOU:
        return None
    if distance > link.different_person:  # overlapping boxes of two different people (one walks past the other)
        return None
    return overlap + (1.0 - distance / link.unit)


class Tracker:
    def __init__(self, max_gap: int = 2, link: LinkDistances | None = None) -> None:
        self.max_gap = max_gap
        self.link = link or LinkDistances()
        self.open: list[Track] = []
        self.closed: list[Track] = []
        self._numbers = 0

    def add(self, time_s: float, faces: list[DetectedFace]) -> None:
        pairs = sorted(
            (
                (score, t, f)
                for t, track in enumerate(self.open)
                for f, face in enumerate(faces)
                if (score := _link_score(track, face, self.link)) is not None
            ),
            reverse=True,
        )
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        for _, t, f in pairs:
            if t in used_tracks or f in used_faces:
                continue
            self.open[t].sightings.append(Sighting(time_s, faces[f]))
            self.open[t].missed = 0
            used_tracks.add(t)
            used_faces.add(f)
        for t, track in enumerate(self.open):
            if t not in used_tracks:
                track.missed += 1
        for f, face in enumerate(faces):
            if f not in used_faces and face.embedding is not None:
                self._numbers += 1
                self.open.append(Track(self._numbers, [Sighting(time_s, face)]))
        self.closed.extend(track for track in self.open if track.missed > self.max_gap)
        self.open = [track for track in self.open if track.missed <= self.max_gap]

    def tracks(self) -> list[Track]:
        return sorted(self.closed + self.open, key=lambda track: track.number)
