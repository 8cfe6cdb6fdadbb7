"""Where re-embedding reads a gallery face's pixels from.

The gallery does not keep original images: it keeps each face's thumbnail (sealed, the detected box
with a 30% margin, at most `thumbnail_px` on a side, JPEG quality 85) and, per image, its sha256, its
file name and the ingest job's input path. So, in order:
1. the original file, found again under the ingest job's input folder by its name and proved to be the
   same file by its sha256 (and still under the ingest roots): the same pixels ingest saw;
2. only when asked (`from_thumbnails`), the face's thumbnail: a re-compressed crop of ~100 px faces,
   which embeds worse than the original (the embedding is marked as such in the report, not hidden);
3. otherwise the face is left without that model's embedding and counted as unavailable; a later run
   (the originals put back, or thumbnails allowed) picks it up."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from PIL import Image

from faceledger.engine.image_input import file_sha256
from faceledger.services.gallery.inputs import input_roots
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.sealed import Role
from faceledger.types import Box

THUMBNAIL_MARGIN = 0.3  # engine/thumbnails.py's margin: the crop a thumbnail was cut from


class PixelSource(StrEnum):
    ORIGINAL = "original"
    THUMBNAIL = "thumbnail"


@dataclass(frozen=True)
class FacePixels:
    path: Path  # an image file to analyse (the original, or a private temporary copy of a thumbnail)
    source: PixelSource
    box: Box  # the stored face's box in that file's pixels


@dataclass
class OriginalFinder:
    """Finds original files again under ingest input folders, by name, proved by sha256."""

    deployment: Deployment
    _by_name: dict[Path, dict[str, list[Path]]] = field(default_factory=dict)

    def find(self, input_path: str | None, filename: str, sha256: str) -> Path | None:
        if not input_path or not filename:
            return None
        root = Path(input_path)
        root = root if root.is_dir() else root.parent  # a manifest names files relative to its folder
        if not root.is_dir():
            return None
        if root not in self._by_name:
            self._by_name[root] = _files_by_name(root)
        roots = input_roots(self.deployment)
        for candidate in self._by_name[root].get(filename, []):
            resolved = candidate.resolve()
            if roots.allows(resolved) and _same_file(resolved, sha256):
                return resolved
        return None


def _files_by_name(root: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for folder, _, files in os.walk(root):
        for name in files:
            found.setdefault(name, []).append(Path(folder) / name)
    return found


def _same_file(path: Path, sha256: str) -> bool:
    try:
        return file_sha256(path) == sha256
    except OSError:
        return False


def thumbnail_pixels(
    deployment: Deployment, thumbnail: str, box: Box, image_size: tuple[int, int], scratch: Path
) -> FacePixels:
    """The face's thumbnail, opened and written (plain, 0600) into a private scratch folder, with the
    stored box mapped into its pixels."""
    jpeg = deployment.sealer.read_file(deployment.data_dir / thumbnail, Role.THUMBNAIL, thumbnail)
    with Image.open(io.BytesIO(jpeg)) as picture:
        size = picture.size
    width, height = image_size
    pad_x, pad_y = int(box.width * THUMBNAIL_MARGIN), int(box.height * THUMBNAIL_MARGIN)
    left, top = max(0, box.left - pad_x), max(0, box.top - pad_y)
    right, bottom = min(width, box.right + pad_x), min(height, box.bottom + pad_y)
    scale_x, scale_y = size[0] / max(1, right - left), size[1] / max(1, bottom - top)
    mapped = Box(
        round((box.left - left) * scale_x),
        round((box.top - top) * scale_y),
        round((box.right - left) * scale_x),
        round((box.bottom - top) * scale_y),
    )
    path = scratch / (thumbnail.replace("/", "_"))
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(jpeg)
    return FacePixels(path, PixelSource.THUMBNAIL, mapped)
