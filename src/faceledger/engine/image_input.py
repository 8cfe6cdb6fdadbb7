"""Image input that never crashes: any file either becomes an RGB uint8 array or an InvalidInput that
names the file and the reason. Limits are checked before any pixel is decoded."""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

from faceledger.errors import InvalidInput, NotFound, TooLarge, UnsupportedMedia
from faceledger.types import ImageInfo, RGBImage

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")

_EXTENSION_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".dib": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".gif": "GIF",
}

_EXIF_ORIENTATION_TAG = 0x0112
_MODES_WITH_ALPHA = {"RGBA", "LA", "PA", "RGBa", "La"}
_HIGH_DEPTH_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_TRUNCATION_SWITCH_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class LoadedImage:
    pixels: RGBImage  # H x W x 3, uint8, EXIF orientation applied
    info: ImageInfo


def file_sha256(path: Path) -> str:
    """The content hash of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sniff_format(head: bytes) -> str | None:
    """The image format the bytes really hold, from their magic numbers; None if not a supported one."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


def load_image(path: Path, limits: ImageLimits) -> LoadedImage:
    """Read and decode an image file, refusing oversized, empty, lying or damaged files clearly."""
    name = str(path)
    if not path.exists():
        raise NotFound(f"{name}: no such file")
    if not path.is_file():
        raise InvalidInput(f"{name}: not a regular file")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise TooLarge(f"{name}: file is {size:,} bytes; the limit is {limits.max_bytes:,}")
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    return decode_image(data, name, limits)


def decode_image(data: bytes, name: str, limits: ImageLimits) -> LoadedImage:
    """Decode image bytes (an upload, a file's content). `name` is used in messages and extension checks."""
    if not data:
        raise InvalidInput(f"{name}: file is empty")
    if len(data) > limits.max_bytes:
        raise TooLarge(f"{name}: file is larger than the limit of {limits.max_bytes:,} bytes")
    fmt = sniff_format(data[:16])
    if fmt is None:
        raise UnsupportedMedia(f"{name}: not a supported image (expected one of {', '.join(SUPPORTED_FORMATS)})")
    claimed = _EXTENSION_FORMATS.get(Path(name).suffix.lower())
    if claimed is not None and claimed != fmt:
        raise InvalidInput(f"{name}: the name says {claimed} but the content is {fmt}")
    with warnings.catch_warnings(), _truncated_images_refused():
        # Pillow warns about damaged metadata it can work around; that is noise to a caller.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open_checked(data, fmt, name, limits)
        orientation = _exif_orientation(image)
        original_mode = image.mode
        pixels = _decode_pixels(image, orientation, name)
    info = ImageInfo(
        name=name,
        format=fmt,
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        original_mode=original_mode,
        exif_orientation=orientation,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return LoadedImage(pixels=pixels, info=info)


@contextmanager
def _truncated_images_refused() -> Iterator[None]:
    """Pillow's LOAD_TRUNCATED_IMAGES is a process-wide switch that other libraries flip on at import
    (face_recognition does), after which cut-off files decode silently as grey. Force it off here."""
    with _TRUNCATION_SWITCH_LOCK:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _decode_pixels(image: Image.Image, orientation: int, name: str) -> RGBImage:
    try:
        image.load()
        if orientation != 1:
            image = ImageOps.exif_transpose(image)
        return _to_rgb(image, name)
    except (InvalidInput, MemoryError):  # out of memory is a work budget, not a damaged file
        raise
    except Exception as exc:  # Pillow raises many types on damaged data; none may escape as a crash
        raise InvalidInput(f"{name}: the image data is truncated or corrupt ({_describe(exc)})") from exc


def _open_checked(data: bytes, fmt: str, name: str, limits: ImageLimits) -> Image.Image:
    """Open (header only) and check the pixel count before anything is decoded."""
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(f"{name}: refused as a decompression bomb ({exc})") from exc
    except Exception as exc:  # header damage surfaces as many exception types
        raise InvalidInput(f"{name}: the {fmt} header is damaged ({_describe(exc)})") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidInput(f"{name}: the image has zero size ({width}x{height})")
    if width * height > limits.max_pixels:
        raise TooLarge(
            f"{name}: refused as a possible decompression bomb: {width}x{height} = "
            f"{width * height:,} pixels; the limit is {limits.max_pixels:,}"
        )
    return image


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block must not make the pixels unusable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image, name: str) -> RGBImage:
    mode = image.mode
    if mode == "RGB":
        rgb = image
    elif mode in _HIGH_DEPTH_MODES:
        return _high_depth_to_rgb(image)
    elif (mode == "P" and "transparency" in image.info) or mode in _MODES_WITH_ALPHA:
        rgb = _flatten_alpha(image.convert("RGBA"))
    else:  # 1, L, P, CMYK, YCbCr, ...
        try:
            rgb = image.convert("RGB")
        except ValueError as exc:
            raise InvalidInput(f"{name}: unsupported colour mode {mode}") from exc
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _flatten_alpha(rgba: Image.Image) -> Image.Image:
    """Composite on white: dropping alpha would expose whatever colour hides under transparent pixels."""
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> RGBImage:
    """Scale 16-bit, 32-bit and float grayscale to 8 bits; Pillow's own convert clips instead of scaling."""
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    peak = float(finite.max()) if finite.size else 0.0
    if image.mode == "F" and peak <= 1.0:
        scale = 255.0
    elif peak <= 255.0 and image.mode not in ("I;16", "I;16L", "I;16B", "I;16N"):
        scale = 1.0
    elif peak <= 65535.0:
        scale = 255.0 / 65535.0
    else:
        scale = 255.0 / peak
    gray = np.clip(np.nan_to_num(values * scale), 0, 255).round().astype(np.uint8)
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
