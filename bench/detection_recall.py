"""Detection recall per pipeline on the public-domain sample photos and the sample video (issue 12, item 7).

The photos' faces were counted by eye (tests/engine/test_samples_detection.py says how): `upright` counts
the frontal or near-frontal faces a detector run without rotation search is expected to find, `visible`
every face a person can see, however turned or hidden. A pipeline's recall is found/visible and
found/upright per photo, capped at 1 (a count above the truth is reported as `extra`: a false detection or
a face the counters missed; the photos have no boxes drawn, so only counts are compared). The video has
five people standing in the room (video/SOURCES.md): the bench reports the faces per sampled frame and the
tracks the pipeline's tracker links them into; five is right, more means one person was split.

Run: .venv/bin/python bench/detection_recall.py [--pipeline dlib sface] [--data ../shared/data]"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from faceledger.config import Settings
from faceledger.engine.pipeline import FaceEngine
from faceledger.engine.video_faces import analyse_video
from faceledger.eval.operating import strict_json
from faceledger.types import BUILTIN_PIPELINES, Pipeline

# (upright, visible)
FACES_BY_EYE = {
    "nasa_iss_expedition1_crew.jpg": (3, 3),
    "nasa_iss_expedition12_holiday.jpg": (2, 2),
    "wh_obama_biden_2010_composite.jpg": (2, 2),
    "nasa_iss_sts131_exp23_group.jpg": (6, 13),  # 7 sideways or upside down
    "nasa_obama_calls_iss_2010.jpg": (5, 8),  # a three-quarter profile, two people mostly hidden
    "wh_obama_2012_portrait.jpg": (1, 1),
    "wh_obama_2009_congress.jpg": (1, 1),
    "wh_obama_2010_blue_room.jpg": (1, 1),
    "wh_biden_2010_blue_room.jpg": (1, 1),
    "wh_biden_2013_portrait.jpg": (1, 1),
    "nasa_portrait_william_shepherd.jpg": (1, 1),
    "nasa_portrait_reid_wiseman.jpg": (1, 1),
    "nasa_portrait_peggy_whitson.jpg": (1, 1),
    "nasa_iss_peggy_whitson_2007.jpg": (1, 1),
    "nasa_iss_reid_wiseman_2014.jpg": (1, 1),
}
VIDEO_PEOPLE = 5


def photos(engine: FaceEngine, samples: Path) -> dict[str, Any]:
    rows = []
    for name, (upright, visible) in FACES_BY_EYE.items():
        found = len(engine.analyse(engine.load_image(samples / name)).faces)
        rows.append(
            {"photo": name, "found": found, "upright": upright, "visible": visible, "extra": max(0, found - visible)}
        )
    upright_total = sum(r["upright"] for r in rows)
    visible_total = sum(r["visible"] for r in rows)
    return {
        "recall_upright": round(sum(min(r["found"], r["upright"]) for r in rows) / upright_total, 4),
        "recall_visible": round(sum(min(r["found"], r["visible"]) for r in rows) / visible_total, 4),
        "faces_upright": upright_total,
        "faces_visible": visible_total,
        "extra": sum(r["extra"] for r in rows),
        "photos": rows,
    }


def video(settings: Settings, path: Path) -> dict[str, Any]:
    faces = analyse_video(path, settings, every_s=0.25, workers=1)
    return {
        "people": VIDEO_PEOPLE,
        "frames_sampled": faces.frames_sampled,
        "faces_seen": faces.faces_seen,
        "faces_per_frame": round(faces.faces_seen / max(1, faces.frames_sampled), 2),
        "tracks": len(faces.tracks),
        "too_small_to_track": faces.too_small,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--pipeline", nargs="+", type=Pipeline, default=[Pipeline.DLIB, Pipeline.SFACE], choices=list(BUILTIN_PIPELINES)
    )
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data")))
    args = parser.parse_args()
    for pipeline in args.pipeline:
        started = time.perf_counter()
        settings = Settings(pipeline=pipeline, workers=1)
        engine = FaceEngine(settings).load()
        row = {
            "pipeline": pipeline.value,
            **photos(engine, args.data / "samples"),
            "video": video(settings, args.data / "video" / "video_01.mp4"),
        }
        row["seconds"] = round(time.perf_counter() - started, 1)
        print(strict_json(row, indent=None), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
