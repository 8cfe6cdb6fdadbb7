"""Uploads: the size limit is enforced while the body streams in, the pixel limit before decoding, and
the type is judged from the bytes, never from the name or the declared content type."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import UploadFile

from faceledger.config import Settings
from faceledger.errors import FaceledgerError, TooLarge, UnsupportedMedia

_CHUNK = 1 << 16
# Leading bytes of the image formats the engine reads.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def looks_like_image(head: bytes) -> bool:
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _file_name(filename: str | None) -> str:
    """The upload's own name without any folder, usable as one file's name in a temporary folder."""
    name = Path(filename or "").name.replace("\x00", "")
    if name in ("", ".", "..") or len(name.encode()) > 200:
        name = "upload" + Path(name).suffix[:10]
    return name


@contextmanager
def saved_upload(upload: UploadFile, settings: Settings, *, field: str = "file", video: bool = False) -> Iterator[Path]:
    """The upload in a temporary file, removed afterwards: refused as it streams once it is too big.
    A video is checked by FFmpeg when it is opened; an image here, by its first bytes."""
    limit = settings.video_max_bytes if video else settings.max_image_bytes
    name = _file_name(upload.filename)
    with tempfile.TemporaryDirectory(prefix="faceledger-upload-") as folder:
        target = Path(folder) / name
        size = 0
        with target.open("wb") as out:
            while chunk := upload.file.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"{field} {name!r} is larger than the limit of {limit:,} bytes")
                out.write(chunk)
        if size == 0:
            raise UnsupportedMedia(f"{field} {name!r} is empty")
        with target.open("rb") as handle:
            if not video and not looks_like_image(handle.read(16)):
                raise UnsupportedMedia(f"{field} {name!r} is not a JPEG, PNG, WebP, BMP, TIFF or GIF image")
        try:
            yield target
        except FaceledgerError as exc:  # the client sees its own file name, never a path on the server
            raise type(exc)(str(exc).replace(f"{folder}/", "")) from exc
