"""Picking LFW images for tests: deterministic, and copied only into a test's temporary folder."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from faceledger.engine.pipeline import FaceEngine


def people_with_several(data_dir: Path, count: int, minimum: int = 2) -> list[tuple[str, list[Path]]]:
    found = []
    for folder in sorted((data_dir / "lfw").iterdir()):
        images = sorted(folder.glob("*.jpg"))
        if len(images) >= minimum:
            found.append((folder.name, images))
        if len(found) == count:
            break
    return found


def copy_with_manifest(
    people: list[tuple[str, list[Path]]], folder: Path, image_number: int = 0, *, with_subjects: bool = True
) -> Path:
    """Copy one image per person into `folder` and write manifest.csv beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "source_url", "page_url", "collected_at", "subject_id", "subject_name"])
        for person, images in people:
            image = images[image_number]
            shutil.copy(image, folder / image.name)
            subject = [person, person.replace("_", " ")] if with_subjects else ["", ""]
            writer.writerow(
                [
                    image.name,
                    f"https://example.org/lfw/{image.name}",
                    "https://example.org/lfw/",
                    "2007-01-01",
                    *subject,
                ]
            )
    return manifest


def passes_quality(engine: FaceEngine, image: Path) -> bool:
    """Whether the largest face in `image` passes the probe-quality gate of `engine`'s pipeline."""
    faces = engine.analyse(engine.load_image(image)).faces
    return bool(faces) and max(faces, key=lambda face: face.box.area).quality.acceptable
