"""The sample video's tracks on the sface pipeline (CC BY 2.0, (c) 2012 Aaron "tango" Tang; see
../shared/data/video/SOURCES.md): SFace's distances link with distances carried from dlib's 0.55 and 0.7."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from faceledger.config import Settings
from faceledger.engine.scales import link_distances
from faceledger.engine.video_faces import VideoFaces, analyse_video
from faceledger.types import Pipeline

pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def analysed(data_dir: Path) -> VideoFaces:
    return analyse_video(data_dir / "video" / "video_01.mp4", Settings(workers=2, pipeline=Pipeline.SFACE))


def test_sface_links_each_person_into_one_track(analysed: VideoFaces) -> None:
    # Five people stand in the room; YuNet also finds the two behind their phones in some frames. With
    # dlib's 0.55/0.7 on SFace's scale (its same-person pairs lie ~0.8-1.1 apart) every sighting began a
    # track of its own (24 tracks of 36 faces); carried at equal false-match rate: 4 people on screen the
    # whole time and 2 single sightings.
    assert analysed.frames_sampled == 7 and analysed.faces_seen >= 30
    assert 4 <= len(analysed.tracks) <= 7
    long_tracks = [t for t in analysed.tracks if len(t.sightings) == analysed.frames_sampled]
    assert len(long_tracks) >= 4


def test_sface_long_tracks_are_different_people(analysed: VideoFaces) -> None:
    # Only the tracks seen the whole time: a single sighting may be a half-hidden face of one of them.
    link = link_distances(Pipeline.SFACE)
    long_tracks = [t for t in analysed.tracks if len(t.sightings) == analysed.frames_sampled]
    for one, other in itertools.combinations(long_tracks, 2):
        a, b = one.best.face.embedding, other.best.face.embedding
        assert a is not None and b is not None
        assert float(np.linalg.norm(a.vector - b.vector)) > link.same_person
