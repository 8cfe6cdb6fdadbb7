"""Labeled Faces in the Wild: the official pairs files and image layout (lfw/Name/Name_0001.jpg)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceledger.errors import InvalidInput, NotFound
from faceledger.types import DetectedFace


@dataclass(frozen=True)
class LfwImage:
    person: str
    number: int

    def path(self, data_dir: Path) -> Path:
        return data_dir / "lfw" / self.person / f"{self.person}_{self.number:04d}.jpg"


@dataclass(frozen=True)
class Pair:
    first: LfwImage
    second: LfwImage
    fold: int

    @property
    def same_person(self) -> bool:
        return self.first.person == self.second.person


def read_pairs(path: Path) -> list[Pair]:
    """Read pairs.txt (header "folds per-fold") or pairsDevTrain/DevTest (header "count")."""
    if not path.is_file():
        raise NotFound(f"{path}: no such pairs file")
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    header = [int(v) for v in lines[0]]
    folds, per_fold = (header[0], header[1]) if len(header) == 2 else (1, header[0])
    body = lines[1:]
    if len(body) != folds * per_fold * 2:
        raise InvalidInput(f"{path}: expected {folds * per_fold * 2} pairs, found {len(body)}")
    return [_parse_pair(fields, index // (per_fold * 2), path) for index, fields in enumerate(body)]


def _parse_pair(fields: list[str], fold: int, path: Path) -> Pair:
    try:
        if len(fields) == 3:
            return Pair(LfwImage(fields[0], int(fields[1])), LfwImage(fields[0], int(fields[2])), fold)
        if len(fields) == 4:
            return Pair(LfwImage(fields[0], int(fields[1])), LfwImage(fields[2], int(fields[3])), fold)
    except ValueError as exc:
        raise InvalidInput(f"{path}: bad pair line {' '.join(fields)!r}") from exc
    raise InvalidInput(f"{path}: bad pair line {' '.join(fields)!r}")


def images_of(pairs: list[Pair]) -> list[LfwImage]:
    """Every image the pairs refer to, once, in a stable order."""
    seen: dict[LfwImage, None] = {}
    for pair in pairs:
        seen.setdefault(pair.first)
        seen.setdefault(pair.second)
    return list(seen)


def central_face(faces: tuple[DetectedFace, ...], width: int, height: int) -> DetectedFace | None:
    """LFW images are centred on the named person: take the embedded face nearest the centre."""
    embedded = [face for face in faces if face.embedding is not None]
    if not embedded:
        return None

    def distance_to_centre(face: DetectedFace) -> float:
        cx, cy = (face.box.left + face.box.right) / 2, (face.box.top + face.box.bottom) / 2
        return (cx - width / 2) ** 2 + (cy - height / 2) ** 2

    return min(embedded, key=distance_to_centre)
