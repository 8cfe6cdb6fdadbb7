"""Face thumbnails for people to look at: the detected box with a margin, as a small JPEG."""

from __future__ import annotations

import io

from PIL import Image

from faceledger.types import Box, RGBImage

_MARGIN = 0.3  # of the box size on each side: enough hair and chin for a person to judge


def face_thumbnail(pixels: RGBImage, box: Box, size_px: int) -> bytes:
    height, width = pixels.shape[:2]
    pad_x, pad_y = int(box.width * _MARGIN), int(box.height * _MARGIN)
    left, top = max(0, box.left - pad_x), max(0, box.top - pad_y)
    right, bottom = min(width, box.right + pad_x), min(height, box.bottom + pad_y)
    crop = Image.fromarray(pixels[top:bottom, left:right])
    crop.thumbnail((size_px, size_px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    crop.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
