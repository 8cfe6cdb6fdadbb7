"""Video input with PyAV (FFmpeg's libraries, shipped in the wheel): checked before decoding (size,
duration, resolution), sampled at a fixed interval, or one frame at a chosen time. Damaged, truncated or
unsupported files are refused with an InvalidInput that names the file and the reason."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceledger.engine.image_input import file_sha256
from faceledger.errors import InvalidInput, NotFound, TooLarge, WorkLimitExceeded
from faceledger.types import RGBImage


@dataclass(frozen=True)
class VideoLimits:
    max_bytes: int
    max_seconds: float
    max_pixels: int  # per frame
    max_decoded_pixels: int | None = None  # frames x pixels decoded for one video; None: no budget


@dataclass(frozen=True)
class VideoInfo:
    name: str
    sha256: str
    duration_s: float
    width: int
    height: int
    fps: float
    codec: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "duration_s": round(self.duration_s, 3), "fps": round(self.fps, 3)}


def _av() -> Any:
    import av  # a heavy import, needed only for video

    return av


def _open(path: Path) -> Any:
    av = _av()
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise InvalidInput(f"{path.name}: not a readable video ({_reason(exc)})") from exc


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.split(": '", 1)[0] if ": '" in text else text  # FFmpeg appends the full path; keep the reason


def probe_video(path: Path, limits: VideoLimits) -> VideoInfo:
    """What the file is, checked against the limits before any frame is decoded."""
    if not path.is_file():
        raise NotFound(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInput(f"{path.name}: file is empty")
    if size > limits.max_bytes:
        raise TooLarge(f"{path.name}: file is {size:,} bytes; the limit is {limits.max_bytes:,}")
    with _open(path) as container:
        if not container.streams.video:
            raise InvalidInput(f"{path.name}: has no video stream (not a video, or truncated)")
        if container.format.name == "image2" or container.format.name.endswith("_pipe"):
            raise InvalidInput(f"{path.name}: is a still image, not a video; search it as a photo")
        stream = container.streams.video[0]
        duration = _duration(container, stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        codec = stream.codec_context.name
        frame_count = int(stream.frames or 0)
    if width * height > limits.max_pixels:
        raise TooLarge(f"{path.name}: frames are {width}x{height}; the limit is {limits.max_pixels:,} pixels")
    if duration > limits.max_seconds:
        raise TooLarge(f"{path.name}: {duration:.1f} s long; the limit is {limits.max_seconds:.0f} s")
    if limits.max_decoded_pixels is not None:
        # What decoding will cost, from the stream's own metadata; enforced again while decoding.
        frames = max(frame_count, round(duration * fps))
        if frames * width * height > limits.max_decoded_pixels:
            raise WorkLimitExceeded(
                f"{path.name}: decoding {frames:,} frames of {width}x{height} is {frames * width * height:,} "
                f"pixels; the decoded-pixel budget (video_max_decoded_pixels) is {limits.max_decoded_pixels:,}"
            )
    return VideoInfo(path.name, file_sha256(path), duration, width, height, fps, codec)


def _duration(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    raise InvalidInput("the video does not say how long it is; it may be damaged")


def _frames(path: Path, max_decoded_pixels: int | None) -> Iterator[tuple[float, Any]]:
    """Decoded frames (not yet converted: only the frames that are used are), counting the pixels
    decoded against the budget, whatever the metadata claimed."""
    av = _av()
    decoded = 0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                decoded += frame.width * frame.height
                if max_decoded_pixels is not None and decoded > max_decoded_pixels:
                    raise WorkLimitExceeded(
                        f"{path.name}: decoding went past the decoded-pixel budget "
                        f"(video_max_decoded_pixels) of {max_decoded_pixels:,}"
                    )
                if frame.time is not None:
                    yield float(frame.time), frame
        except av.FFmpegError as exc:
            raise InvalidInput(f"{path.name}: the video data is damaged ({_reason(exc)})") from exc


def _rgb(frame: Any, max_pixels: int | None) -> RGBImage:
    """The frame as RGB, scaled down by FFmpeg (cheap) when it is larger than max_pixels."""
    width, height = frame.width, frame.height
    if max_pixels is not None and width * height > max_pixels:
        scale = (max_pixels / (width * height)) ** 0.5
        width, height = max(2, int(width * scale)), max(2, int(height * scale))
        frame = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
        return np.ascontiguousarray(frame.to_ndarray())
    return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))


def sample_frames(
    path: Path, info: VideoInfo, every_s: float, limits: VideoLimits | None = None, frame_max_pixels: int | None = None
) -> Iterator[tuple[float, RGBImage]]:
    """The first frame at or after 0, every_s, 2*every_s, ...; a file that stops early is refused as truncated.
    Frames larger than frame_max_pixels come scaled down."""
    if every_s <= 0:
        raise InvalidInput(f"the sampling interval must be positive; got {every_s}")
    next_at, last = 0.0, -1.0
    for time_s, frame in _frames(path, limits.max_decoded_pixels if limits else None):
        last = time_s
        if time_s + 1e-6 >= next_at:
            yield time_s, _rgb(frame, frame_max_pixels)
            next_at = (int(time_s / every_s) + 1) * every_s
    frame_s = 1 / info.fps if info.fps else 0.1
    if last < info.duration_s - max(1.0, 3 * frame_s):
        raise InvalidInput(
            f"{info.name}: the video stops at {max(last, 0):.2f} s of {info.duration_s:.2f} s: "
            "it is truncated or damaged"
        )


def frame_at(path: Path, time_s: float, limits: VideoLimits | None = None) -> tuple[float, RGBImage]:
    """The frame shown at `time_s` (the last frame starting at or before it), at full resolution."""
    chosen: tuple[float, Any] | None = None
    for frame_time, frame in _frames(path, limits.max_decoded_pixels if limits else None):
        if frame_time > time_s + 1e-6:
            break
        chosen = (frame_time, frame)
    if chosen is None:
        raise InvalidInput(f"{path.name}: no frame at {time_s:.2f} s")
    return chosen[0], _rgb(chosen[1], None)
