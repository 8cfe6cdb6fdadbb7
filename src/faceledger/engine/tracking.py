"""Linking the faces of sampled frames into tracks: one track per person on screen.

A face joins the open track whose last face overlaps it (box IoU) or looks like it (embedding
distance), scored together; greedy, best pairs first. A track not seen for `max_gap` samples closes.
This links faces within one video for a person to choose from; it is not tracking anyone over time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from faceledger.types import Box
from faceledger.types import Face as DetectedFace

SAME_PERSON_DISTANCE = 0.55  # stricter than the match threshold: a wrong link merges two people
MIN_IOU = 0.3


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
        last = self.sightings[-1].face.embedding
        return last.vector if last is not None else np.zeros(128, dtype=np.float32)


def iou(a: Box, b: Box) -> float:
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    overlap = width * height
    return overlap / (a.area + b.area - overlap)


def _link_score(track: Track, face: DetectedFace) -> float | None:
    """Higher is better; None when the face cannot belong to the track."""
    if face.embedding is None:
        return None
    distance = float(np.linalg.norm(track.vector() - face.embedding.vector))
    overlap = iou(track.sightings[-1].face.box, face.box)
    if distance > SAME_PERSON_DISTANCE and overlap < MIN_IOU:
        return None
    if distance > 0.7:  # overlapping boxes of two different people (one walks past the other)
        return None
    return overlap + (1.0 - distance)


class Tracker:
    def __init__(self, max_gap: int = 2) -> None:
        self.max_gap = max_gap
        self.open: list[Track] = []
        self.closed: list[Track] = []
        self._numbers = 0

    def add(self, time_s: float, faces: list[DetectedFace]) -> None:
        pairs = sorted(((score, t, f) for t, track in enumerate(self.open) for f, face in enumerate(faces)
                        if (score := _link_score(track, face)) is not None), reverse=True)  # fmt: skip
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
