from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from faceledger.engine.image_input import ImageLimits, decode_image, load_image, sniff_format
from faceledger.errors import InvalidInput, NotFound
from tests.imagefactory import halves, png_bomb, png_header_only

LIMITS = ImageLimits(max_bytes=50 * 1024 * 1024, max_pixels=60_000_000)


def _save(image: Image.Image, path: Path, **kwargs: object) -> Path:
    image.save(path, **kwargs)
    return path


@pytest.mark.parametrize(
    ("suffix", "fmt"),
    [(".jpg", "JPEG"), (".png", "PNG"), (".webp", "WEBP"), (".bmp", "BMP"), (".tiff", "TIFF"), (".gif", "GIF")],
)
def test_every_supported_format_decodes_to_rgb(tmp_path: Path, suffix: str, fmt: str) -> None:
    path = _save(halves(), tmp_path / f"img{suffix}")
    loaded = load_image(path, LIMITS)
    assert loaded.info.format == fmt
    assert loaded.pixels.shape == (20, 40, 3)
    assert loaded.pixels.dtype == np.uint8
    left, right = loaded.pixels[10, 5], loaded.pixels[10, 35]
    assert left[0] > 200 and left[2] < 60  # red stays left
    assert right[2] > 200 and right[0] < 60


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    path = _save(halves(), tmp_path / "turned.jpg", exif=exif.tobytes())
    loaded = load_image(path, LIMITS)
    assert loaded.info.exif_orientation == 6
    assert loaded.pixels.shape == (40, 20, 3)  # width and height swapped
    assert loaded.pixels[5, 10, 0] > 200  # the red left half is now on top
    assert loaded.pixels[35, 10, 2] > 200


def test_gif_uses_the_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    pixel = load_image(path, LIMITS).pixels[8, 8]
    assert pixel[0] > 200 and pixel[2] < 60


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 128, (128, 128, 128)),
        ("1", 1, (255, 255, 255)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("RGBA", (0, 0, 0, 0), (255, 255, 255)),  # transparent black shows as the white background
        ("LA", (0, 255), (0, 0, 0)),  # opaque black stays black
        ("I;16", 65535, (255, 255, 255)),
        ("I;16", 32896, (128, 128, 128)),  # scaled, not clipped to 255
        ("I", 257 * 100, (100, 100, 100)),
        ("F", 0.5, (128, 128, 128)),
    ],
)
def test_colour_modes_are_converted(tmp_path: Path, mode: str, value: object, expected: tuple[int, int, int]) -> None:
    image = Image.new(mode, (8, 8), value)  # type: ignore[arg-type]
    suffix = {"CMYK": ".jpg", "F": ".tiff", "I": ".png"}.get(mode, ".png" if mode != "1" else ".bmp")
    if mode == "I":
        suffix = ".tiff"
    path = _save(image, tmp_path / f"m{suffix}")
    pixel = tuple(int(v) for v in load_image(path, LIMITS).pixels[4, 4])
    assert all(abs(a - b) <= 2 for a, b in zip(pixel, expected, strict=True)), (mode, pixel)


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (4, 0, 8, 8))
    path = _save(image, tmp_path / "p.png", transparency=0)
    pixels = load_image(path, LIMITS).pixels
    assert tuple(pixels[4, 1]) == (255, 255, 255)  # transparent index -> background
    assert tuple(pixels[4, 6]) == (255, 0, 0)


def _refused(path: Path, limits: ImageLimits = LIMITS) -> str:
    with pytest.raises(InvalidInput) as caught:
        load_image(path, limits)
    message = str(caught.value)
    assert str(path) in message, "the error must name the file"
    assert "\n" not in message
    return message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert "empty" in _refused(path)


def test_non_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels")
    assert "not a supported image" in _refused(path)


def test_lying_extension(tmp_path: Path) -> None:
    path = _save(halves(), tmp_path / "real.png", format="PNG")
    liar = path.rename(tmp_path / "liar.jpg")
    assert "the name says JPEG but the content is PNG" in _refused(liar)


def test_unknown_extension_is_judged_by_content(tmp_path: Path) -> None:
    path = _save(halves(), tmp_path / "upload.bin", format="PNG")
    assert load_image(path, LIMITS).info.format == "PNG"


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".gif", ".tiff"])
def test_truncated(tmp_path: Path, suffix: str) -> None:
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    path = _save(noisy, tmp_path / f"whole{suffix}")
    data = path.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    message = _refused(cut)
    assert "truncated or corrupt" in message or "damaged" in message


def test_zero_size(tmp_path: Path) -> None:
    message = _refused(png_header_only(tmp_path / "zero.png", 0, 10))
    assert "zero size" in message or "damaged" in message


def test_header_claiming_billions_of_pixels(tmp_path: Path) -> None:
    message = _refused(png_header_only(tmp_path / "huge.png", 100_000, 100_000))
    assert "decompression bomb" in message


def test_real_compressed_bomb_refused_before_decoding(tmp_path: Path) -> None:
    path = png_bomb(tmp_path / "bomb.png", 8000, 8000)  # 64 Mpx in a few tens of KB
    assert path.stat().st_size < 200_000
    message = _refused(path)
    assert "8000x8000" in message and "decompression bomb" in message


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = _save(halves(100, 100), tmp_path / "ok.png")
    message = _refused(path, ImageLimits(max_bytes=LIMITS.max_bytes, max_pixels=1000))
    assert "100x100 = 10,000 pixels; the limit is 1,000" in message


def test_byte_limit(tmp_path: Path) -> None:
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    path = _save(noisy, tmp_path / "small.png")
    assert path.stat().st_size > 100
    message = _refused(path, ImageLimits(max_bytes=100, max_pixels=LIMITS.max_pixels))
    assert "the limit is 100" in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        load_image(tmp_path / "nope.jpg", LIMITS)
    with pytest.raises(InvalidInput, match="not a regular file"):
        load_image(tmp_path, LIMITS)


def test_sniff_format() -> None:
    buffer = io.BytesIO()
    halves().save(buffer, format="WEBP")
    assert sniff_format(buffer.getvalue()[:16]) == "WEBP"
    assert sniff_format(b"%PDF-1.7") is None


_MAGICS = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM", b"II*\x00", b"GIF89a"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(magic=st.sampled_from(_MAGICS), tail=st.binary(max_size=400))
def test_random_bytes_never_crash(magic: bytes, tail: bytes) -> None:
    """Whatever follows a valid magic number, the loader returns pixels or raises InvalidInput."""
    try:
        loaded = decode_image(magic + tail, "fuzz", LIMITS)
    except InvalidInput as exc:
        assert str(exc).startswith("fuzz: ")
    else:
        assert loaded.pixels.ndim == 3 and loaded.pixels.shape[2] == 3


def test_truncation_is_refused_even_if_another_library_allows_it(tmp_path: Path) -> None:
    from PIL import ImageFile

    noisy = Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    path = _save(noisy, tmp_path / "whole.jpg")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # what `import face_recognition` does
    try:
        assert "truncated or corrupt" in _refused(path)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
