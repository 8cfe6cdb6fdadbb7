"""Faces across frames of the sample video (CC BY 2.0, (c) 2012 Aaron "tango" Tang; see
../shared/data/video/SOURCES.md) and refusals of damaged or oversized video."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceledger.config import Settings
from faceledger.engine.contact_sheet import contact_sheet
from faceledger.engine.video import VideoLimits, frame_at, probe_video
from faceledger.engine.video_faces import VideoFaces, analyse_video
from faceledger.errors import InvalidInput, TooLarge
from faceledger.types import Pipeline

pytestmark = pytest.mark.needs_data
ATTRIBUTION = 'Video: (c) 2012 Aaron "tango" Tang, CC BY 2.0, https://www.flickr.com/photos/hahatango/7484510910'
LIMITS = VideoLimits(max_bytes=10_000_000, max_seconds=60, max_pixels=1920 * 1080)


@pytest.fixture(scope="module")
def video(data_dir: Path) -> Path:
    return data_dir / "video" / "video_01.mp4"


@pytest.fixture(scope="module")
def analysed(video: Path) -> VideoFaces:
    return analyse_video(video, Settings(workers=2, pipeline=Pipeline.DLIB), every_s=0.5, attribution=ATTRIBUTION)


def test_one_track_per_person_whose_face_can_be_seen(analysed: VideoFaces) -> None:
    # Counted by looking at the frames and the contact sheet: five people stand in the room; three faces
    # can be seen (the woman in front, the man with the bottle, the man in the turban); the other two
    # hold phones in front of their faces.
    assert len(analysed.tracks) == 3
    assert analysed.info.width == 640 and abs(analysed.info.duration_s - 3.0) < 0.05
    assert analysed.frames_sampled == 7
    long_tracks = [t for t in analysed.tracks if len(t.sightings) == analysed.frames_sampled]
    assert len(long_tracks) == 2, "the two people in front are on screen the whole time"


def test_each_tracks_best_face_is_likely_the_same_person_as_its_other_frames(analysed: VideoFaces) -> None:
    for track in analysed.tracks:
        best = track.best.face.embedding
        assert best is not None
        for sighting in track.sightings:
            assert sighting.face.embedding is not None
            assert float(np.linalg.norm(best.vector - sighting.face.embedding.vector)) <= 0.6


def test_tracks_are_different_people(analysed: VideoFaces) -> None:
    for one, other in itertools.combinations(analysed.tracks, 2):
        a, b = one.best.face.embedding, other.best.face.embedding
        assert a is not None and b is not None
        assert float(np.linalg.norm(a.vector - b.vector)) > 0.6


def test_contact_sheet_and_outputs_keep_the_attribution(analysed: VideoFaces) -> None:
    sheet = Image.open(io.BytesIO(contact_sheet(analysed)))
    assert sheet.height > 3 * 170 and sheet.width == 900
    assert analysed.to_dict()["attribution"] == ATTRIBUTION
    assert set(analysed.crops) == {t.number for t in analysed.tracks}
    assert all(Image.open(io.BytesIO(crop)).format == "JPEG" for crop in analysed.crops.values())


def test_frame_at_returns_the_frame_shown_at_that_time(video: Path) -> None:
    time_s, pixels = frame_at(video, 1.5)
    assert 1.45 <= time_s <= 1.5 and pixels.shape == (480, 640, 3)


def test_damaged_and_oversized_videos_are_refused(video: Path, tmp_path: Path, data_dir: Path) -> None:
    data = video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(InvalidInput, match="truncated"):
        analyse_video(cut, Settings(workers=1))
    header_only = tmp_path / "header.mp4"
    header_only.write_bytes(data[:200])
    with pytest.raises(InvalidInput, match=r"header\.mp4"):
        probe_video(header_only, LIMITS)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match="empty"):
        probe_video(empty, LIMITS)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    with pytest.raises(InvalidInput, match=r"notes\.mp4"):
        probe_video(text, LIMITS)
    with pytest.raises(InvalidInput, match="still image"):
        probe_video(next((data_dir / "samples").glob("*.jpg")), LIMITS)
    with pytest.raises(TooLarge, match="limit is 2 s"):
        probe_video(video, VideoLimits(10_000_000, 2, 1920 * 1080))
    with pytest.raises(TooLarge, match="bytes"):
        probe_video(video, VideoLimits(1000, 60, 1920 * 1080))
    with pytest.raises(TooLarge, match="pixels"):
        probe_video(video, VideoLimits(10_000_000, 60, 320 * 240))
