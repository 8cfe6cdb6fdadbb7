"""Shared fixtures. The real face data lives outside the repo (../shared/data or FACELEDGER_TEST_DATA);
tests that need it skip with the reason when it is absent, and fail instead when CI requires it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from faceledger.clock import Clock
from faceledger.config import Settings
from faceledger.engine.pipeline import FaceEngine
from faceledger.services.runtime.analyser import Analyser
from faceledger.services.runtime.deployment import Deployment, init_deployment
from faceledger.types import IndexBackend, Pipeline
from tests.databases import fresh_postgres_database

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("FACELEDGER_TEST_DATA", REPO.parent / "shared" / "data")).resolve()


# Ingest reads only under configured roots: tests ingest from their temporary folders and the shared
# data (subprocesses inherit this); tests of the roots themselves pass ingest_roots explicitly.
os.environ.setdefault(
    "FACELEDGER_INGEST_ROOTS", json.dumps([str(Path(tempfile.gettempdir()).resolve()), str(_data_dir())])
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that reads the real face data is marked needs_data whether or not its file says so, so
    `make quick` (which leaves those out) cannot pick one up by accident."""
    for item in items:
        if {"data_dir", "samples"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.needs_data)


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


@pytest.fixture(scope="session")
def dlib_engine() -> FaceEngine:
    """dlib's pipeline whatever the default: for tests of dlib itself (HOG counts, face_recognition parity)."""
    return FaceEngine(Settings(workers=2, pipeline=Pipeline.DLIB)).load()


def _postgres_admin_url() -> str | None:
    return os.environ.get("FACELEDGER_TEST_POSTGRES_URL")


# PostgreSQL runs where the database's own behaviour is what is tested: the store (ledger, events,
# migrations, the Merkle tree), several processes on one database, locks and upserts under load, a kill
# mid-write, and one end-to-end flow per entry point. Those are marked both_databases (or live in
# tests/store/); every other test runs on the SQLite default only, so the two are not run twice for
# governance logic that no database changes.
BOTH_DATABASES_FOLDERS = ("store",)


@pytest.hookimpl(tryfirst=True)  # before the fixture's own params are applied, which a marker overrides
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" not in metafunc.fixturenames:
        return
    if any("database_url" in str(mark.args[0]) for mark in metafunc.definition.iter_markers("parametrize")):
        return  # the test names its databases itself
    folder = Path(str(metafunc.definition.path)).parent.name
    if metafunc.definition.get_closest_marker("both_databases") or folder in BOTH_DATABASES_FOLDERS:
        return
    metafunc.definition.add_marker(pytest.mark.parametrize("database_url", ["sqlite"], indirect=True))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the embedded SQLite default; a fresh PostgreSQL database per test when one is configured."""
    if request.param == "sqlite":
        yield None
        return
    admin_url = _postgres_admin_url()
    if not admin_url:
        reason = "FACELEDGER_TEST_POSTGRES_URL is not set (.ci/run starts PostgreSQL and sets it)"
        if os.environ.get("FACELEDGER_REQUIRE_TEST_DATA"):
            pytest.fail(reason)
        pytest.skip(reason)
    with fresh_postgres_database(admin_url) as url:
        yield url


@pytest.fixture
def make_deployment(tmp_path: Path, database_url: str | None) -> Iterator[Callable[..., Deployment]]:
    opened: list[Deployment] = []

    def make(
        backend: IndexBackend = IndexBackend.FAISS,
        *,
        analyser: Analyser | None = None,
        clock: Clock | None = None,
        **overrides: object,
    ) -> Deployment:
        settings = Settings(workers=2, database_url=database_url, **overrides)  # type: ignore[arg-type]
        folder = tmp_path / f"data-{len(opened)}"
        deployment = init_deployment(settings, folder, backend, analyser=analyser, clock=clock)
        opened.append(deployment)
        return deployment

    yield make
    for deployment in opened:
        deployment.close()


# --- CI time: LFW embeddings computed once per test run -------------------------------------------------
@pytest.fixture(scope="session")
def lfw_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One evaluation embedding cache (eval/embeddings.py) for the whole run. The eval, index and report
    tests embed overlapping LFW images (View 1 test pairs, fold 1 of View 2); with this each image is
    embedded once. Entries are keyed by model, pipeline settings and image hash, so a test reads exactly
    the vectors it would have computed itself."""
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one file for all workers: each image is still embedded once
        shared = tmp_path_factory.getbasetemp().parent / "lfw-embeddings"
        shared.mkdir(exist_ok=True)
        return shared / "embeddings.db"
    return tmp_path_factory.mktemp("lfw-embeddings") / "embeddings.db"
