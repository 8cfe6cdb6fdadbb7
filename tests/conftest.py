"""Shared fixtures. The real face data lives outside the repo (../shared/data or FACELEDGER_TEST_DATA);
tests that need it skip with the reason when it is absent, and fail instead when CI requires it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faceledger.config import Settings
from faceledger.engine.pipeline import FaceEngine

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("FACELEDGER_TEST_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _data_dir()
    if not (path / "samples").is_dir() or not (path / "lfw").is_dir():
        reason = f"real face data not found at {path} (set FACELEDGER_TEST_DATA to the shared data folder)"
        if os.environ.get("FACELEDGER_REQUIRE_TEST_DATA"):
            pytest.fail(reason + "; FACELEDGER_REQUIRE_TEST_DATA is set, so this is an error")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def samples(data_dir: Path) -> Path:
    return data_dir / "samples"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(workers=2)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> FaceEngine:
    return FaceEngine(settings).load()
