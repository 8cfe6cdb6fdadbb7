"""Uploads: the size limit is enforced while the body streams in, the pixel limit before decoding, and
the type is judged from the bytes, never from the name or the declared content type. The file is written
into the deployment's staging folder (0600 in a 0700 folder), never the system's temporary folder, and is
gone when the request ends, whatever its outcome."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import UploadFile

from faceledger.errors import FaceledgerError, TooLarge, UnsupportedMedia
from faceledger.services.runtime.deployment import Deployment
from faceledger.services.runtime.staging import private_file, scratch

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
def saved_upload(
    upload: UploadFile, deployment: Deployment, *, field: str = "file", video: bool = False
) -> Iterator[Path]:
    """The upload in a staging file, removed afterwards: refused as it streams once it is too big.
    A video is checked by FFmpeg when it is opened; an image here, by its first bytes. The folder it is in
    is the request's own scratch folder, for whatever else the request derives from the upload."""
    settings = deployment.settings
    limit = settings.video_max_bytes if video else settings.max_image_bytes
    name = _file_name(upload.filename)
    with scratch(deployment.data_dir) as folder:
        target = folder / name
        if target.name == ".lock":
            target = folder / "upload.lock"
        size = 0
        with os.fdopen(private_file(target), "wb") as out:
            while chunk := upload.file.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"{field} {name!r} is larger than the limit of {limit:,} bytes", field=field)
                out.write(chunk)
        if size == 0:
            raise UnsupportedMedia(f"{field} {name!r} is empty", field=field)
        with target.open("rb") as handle:
            if not video and not looks_like_image(handle.read(16)):
                raise UnsupportedMedia(
                    f"{field} {name!r} is not a JPEG, PNG, WebP, BMP, TIFF or GIF image", field=field
                )
        try:
            yield target
        except FaceledgerError as exc:  # the client sees its own file name, never a path on the server
            shown = copy.copy(exc)  # the same class, field and retry time; only the message is cleaned
            shown.args = (str(exc).replace(f"{folder}/", ""),)
            raise shown from exc
