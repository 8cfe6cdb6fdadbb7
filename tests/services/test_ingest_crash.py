"""kill -9 an ingest at several points, rerun it, and get exactly what a clean ingest gets."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lfwdata import copy_with_manifest, people_with_several

pytestmark = [pytest.mark.needs_data, pytest.mark.slow, pytest.mark.both_databases]


def faceledger(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "faceledger", *args],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def images_committed(data_dir: Path) -> int:
    try:
        with sqlite3.connect(f"file:{data_dir / 'faceledger.db'}?mode=ro", uri=True, timeout=5) as connection:
            return int(connection.execute("SELECT count(*) FROM gallery_images").fetchone()[0])
    except sqlite3.Error:
        return 0


def gallery_contents(data_dir: Path) -> tuple[list[tuple[str, int]], int, int]:
    with sqlite3.connect(data_dir / "faceledger.db") as connection:
        images = connection.execute(
            "SELECT i.sha256, count(f.id) FROM gallery_images i LEFT JOIN faces f ON f.image_id = i.id "
            "GROUP BY i.sha256 ORDER BY i.sha256"
        ).fetchall()
        faces = connection.execute("SELECT count(*) FROM faces").fetchone()[0]
    thumbnails = sum(1 for _ in (data_dir / "thumbnails").rglob("*.jpg"))
    return images, faces, thumbnails


def run_to_end(args: list[str], env: dict[str, str]) -> bytes:
    process = faceledger(*args, env=env)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr.decode()
    return stdout


@dataclass(frozen=True)
class CleanIngest:
    """The 64 inputs and what one uninterrupted ingest of them stores: every kill point compares with it."""

    ingest_args: list[str]
    env: dict[str, str]
    contents: tuple[list[tuple[str, int]], int, int]


@pytest.fixture(scope="module")
def clean_ingest(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> CleanIngest:
    # Once per module, not per kill point: the clean run's result depends only on the inputs and the code.
    root = tmp_path_factory.mktemp("ingest-crash")
    inputs = root / "in"
    copy_with_manifest(people_with_several(data_dir, 64), inputs)
    env = {**os.environ, "FACELEDGER_INGEST_BATCH_IMAGES": "8", "FACELEDGER_WORKERS": "2"}
    env.pop("FACELEDGER_DATABASE_URL", None)
    clean = root / "clean"
    token = json.loads(run_to_end(["init", "--data-dir", str(clean), "--json"], env))["token"]
    ingest_args = ["gallery", "ingest", str(inputs / "manifest.csv"), "--source", "lfw", "--legal-basis", "test"]
    run_to_end([*ingest_args, "--data-dir", str(clean), "--token", token], env)
    return CleanIngest(ingest_args, env, gallery_contents(clean))


KILL_AFTER_IMAGES = 40  # after some batches are committed: the harder case to rerun exactly


def test_kill_and_rerun_equals_a_clean_ingest(clean_ingest: CleanIngest, tmp_path: Path) -> None:
    ingest_args, env = clean_ingest.ingest_args, clean_ingest.env
    crashed = tmp_path / "crashed"
    token = json.loads(run_to_end(["init", "--data-dir", str(crashed), "--json"], env))["token"]
    process = faceledger(*ingest_args, "--data-dir", str(crashed), "--token", token, env=env)
    deadline = time.monotonic() + 120
    while images_committed(crashed) < KILL_AFTER_IMAGES and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = images_committed(crashed)
    assert interrupted < 64, "the kill came too late to test anything"

    run_to_end([*ingest_args, "--data-dir", str(crashed), "--token", token], env)
    assert gallery_contents(crashed) == clean_ingest.contents
    command = [
        sys.executable,
        "-m",
        "faceledger",
        "index",
        "check",
        "--data-dir",
        str(crashed),
        "--token",
        token,
    ]
    check = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
