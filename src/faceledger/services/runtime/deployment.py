"""A deployment: one data directory (config, database, vector index, thumbnails) opened as a unit.

The database is the source of truth. On open, an index that reflects an older gallery version than the
database (a crash between a commit and an index save) is brought level by diffing ids. Several processes
may share one data directory (a CLI beside a server): every save first replays, by ids, what the database
holds now (other processes' commits included), under an exclusive lock file, and never overwrites a file
that records a newer gallery version than the one saved (compare-and-swap)."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from faceledger.clock import Clock, SystemClock
from faceledger.config import Settings
from faceledger.engine.calibration import CalibrationTable, load_pipeline_calibration
from faceledger.engine.models import recognition_model_identity
from faceledger.engine.operator_model import operator_calibration
from faceledger.engine.pipeline import FaceEngine
from faceledger.errors import Conflict, EngineUnavailable, InvalidInput, KeyProblem, NotFound
from faceledger.index.base import DIM as INDEX_DIM
from faceledger.index.base import BlobCodec, VectorIndex
from faceledger.index.factory import open_index
from faceledger.index.per_model import DimOf, ModelIndexes
from faceledger.services.runtime.analyser import Analyser, BoundedAnalyser
from faceledger.services.runtime.pipeline_models import pipeline_model_keys
from faceledger.services.runtime.staging import sweep as sweep_staging
from faceledger.store import db, model_registry
from faceledger.store.keys import KeyFiles
from faceledger.store.migrate import upgrade
from faceledger.store.models import FaceEmbedding, GalleryFace, GalleryState, OperatorModel
from faceledger.store.sealed import DIR_MODE, FILE_MODE, IndexCodec, Role, Sealer, write_private
from faceledger.transparency.keyfile import KeyFileProblem, check_key_location, load_or_create_key
from faceledger.types import IndexBackend, Pipeline

CONFIG_FILE = "faceledger.json"
INDEX_LOCK_FILE = "index.lock"  # beside index/, which a rebuild empties
FORMAT_VERSION = 1
# Written to the config once everything biometric in the data directory is sealed (services/runtime/at_rest.py).
AT_REST = {"cipher": "AES-256-GCM", "format": 1}
_SYNC_CHUNK = 20_000


@dataclass
class Deployment:
    settings: Settings
    data_dir: Path
    config: dict[str, Any]
    engine: Engine
    sessions: sessionmaker[Session]
    index: ModelIndexes  # one vector index per model (index/per_model.py)
    _face_engine: FaceEngine | None = field(default=None, repr=False)
    _calibration: CalibrationTable | None = field(default=None, repr=False)
    _sealer: Sealer | None = field(default=None, repr=False)
    # Operating thresholds already derived, by gallery size and settings (services/governance/operating_threshold.py).
    threshold_cache: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False, compare=False)
    # What images are analysed with: the real models, or a test's fake (services/runtime/analyser.py).
    analyser: Analyser = field(default_factory=BoundedAnalyser, repr=False, compare=False)
    # What services read the time from: the system's, or a test's that it moves (clock.py).
    clock: Clock = field(default_factory=SystemClock, repr=False, compare=False)

    @property
    def thumbnails_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    @property
    def keys(self) -> KeyFiles:
        """The deployment's secret keys, kept outside its data directory."""
        return KeyFiles.for_deployment(self.settings.keys_dir, self.data_dir)

    @property
    def sealer(self) -> Sealer:
        """Seals and opens biometric data at rest with the data key (a KeyProblem when it is missing)."""
        if self._sealer is None:
            self._sealer = Sealer(self.keys.data_key())
        return self._sealer

    def seal_embedding(self, thumbnail: str, vector: np.ndarray) -> bytes:
        """A face's stored embedding, bound to the face (its thumbnail path names it uniquely)."""
        return self.sealer.seal(Role.FACE_EMBEDDING, thumbnail, np.asarray(vector, dtype=np.float32).tobytes())

    def embedding_vector(self, thumbnail: str, blob: bytes) -> np.ndarray:
        return np.frombuffer(self.sealer.open(Role.FACE_EMBEDDING, thumbnail, blob), dtype=np.float32)

    @property
    def face_engine(self) -> FaceEngine:
        if self._face_engine is None:
            self._face_engine = FaceEngine(self.settings).load()
        return self._face_engine

    @property
    def calibration(self) -> CalibrationTable:
        if self._calibration is None:
            if self.settings.pipeline is Pipeline.OPERATOR:  # the table its own evaluation stored
                self._calibration = operator_calibration(self.settings)
            else:
                self._calibration = load_pipeline_calibration(self.settings.pipeline)  # its own distances' table
        return self._calibration

    @property
    def model_key(self) -> str:
        """The configured pipeline's first model (types.Face.embedding's): what searches and opt-outs use."""
        try:
            return self.pipeline_keys[0]
        except EngineUnavailable:  # an operator pipeline whose model is not added: dlib's, as before
            return recognition_model_identity().key

    def gallery_version(self, session: Session) -> int:
        return session.execute(select(GalleryState.version).where(GalleryState.id == 1)).scalar_one()

    def bump_version(self, session: Session) -> int:
        state = session.get(GalleryState, 1, with_for_update=True)
        if state is None:  # pragma: no cover - the first migration inserts the row
            raise NotFound("the gallery state row is missing; the database was not migrated")
        state.version += 1
        return state.version

    @property
    def pipeline_keys(self) -> tuple[str, ...]:
        """The model keys of the configured pipeline, its first model first."""
        return pipeline_model_keys(self.settings)

    def model_index(self, model_key: str) -> VectorIndex:
        return self.index.for_model(model_key)

    def save_index(self) -> None:
        """Replay the database into the index, then save it (see save_level)."""
        save_level(self)

    def close(self) -> None:
        self.engine.dispose()


def data_dir_from(settings: Settings, data_dir: Path | None) -> Path:
    chosen = data_dir or settings.data_dir
    if chosen is None:
        raise InvalidInput("no data directory: pass --data-dir or set FACELEDGER_DATA_DIR")
    return chosen


def init_deployment(
    settings: Settings,
    data_dir: Path,
    backend: IndexBackend,
    *,
    analyser: Analyser | None = None,
    clock: Clock | None = None,
) -> Deployment:
    """Create a data directory (or adopt an empty one), migrate the database, write the config.
    `analyser`, `clock`: as for open_deployment."""
    if (data_dir / CONFIG_FILE).exists():
        raise Conflict(f"{data_dir} is already a faceledger data directory")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise InvalidInput(f"{data_dir} exists and is not empty; choose a new or empty folder")
    keys = KeyFiles.for_deployment(settings.keys_dir, data_dir)
    keys.check_location()
    signing_key = keys.signing_key_path(settings.ledger_signing_key)
    try:
        check_key_location(signing_key, data_dir)  # before anything is made
    except KeyFileProblem as exc:
        raise KeyProblem(str(exc)) from None
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    config = {
        "format": FORMAT_VERSION,
        "created_at": (clock or SystemClock()).now().isoformat(),
        "index_backend": backend.value,
        "model": recognition_model_identity().to_dict(),
        "at_rest": AT_REST,
        "pipeline": settings.pipeline.value,
        "ledger_origin": f"faceledger.invalid/{uuid.uuid4().hex[:16]}",  # the log's name in its checkpoints
        # Prefixes this deployment's Milvus collections: deployments sharing one Milvus server or cluster
        # never read or write each other's faces (made before this: no prefix, as they were).
        "index_namespace": f"d{uuid.uuid4().hex[:12]}",
    }
    keys.create()  # before the index, which is sealed with it
    try:  # the Ed25519 key that signs the checkpoints outsiders verify (services/oversight/transparency.py)
        load_or_create_key(signing_key, data_dir)
    except KeyFileProblem as exc:
        raise KeyProblem(str(exc)) from None
    deployment = _connect(settings, data_dir, config, analyser, clock)
    with db.transaction(deployment.sessions) as session:  # the pipeline's models, searched from the start
        for key in pipeline_model_keys(settings):
            model_registry.register(session, key, enabled=True)
            deployment.index.open_model(key)
    write_config(deployment)
    deployment.save_index()
    return deployment


def deployment_settings(settings: Settings, config: dict[str, Any]) -> Settings:
    """The settings with the pipeline the deployment was made with, unless FACELEDGER_PIPELINE names one:
    a new release's default never silently changes the matcher of a gallery embedded with another one.
    A deployment made before its pipeline was recorded was made with dlib, the only pipeline then."""
    if "pipeline" in settings.model_fields_set:
        return settings
    try:
        made_with = Pipeline(config.get("pipeline", Pipeline.DLIB.value))
    except ValueError as exc:
        raise InvalidInput(f"{CONFIG_FILE} names an unknown pipeline {config.get('pipeline')!r}") from exc
    return settings if made_with is settings.pipeline else settings.model_copy(update={"pipeline": made_with})


def open_deployment(
    settings: Settings, data_dir: Path | None = None, *, analyser: Analyser | None = None, clock: Clock | None = None
) -> Deployment:
    """The deployment in `data_dir`, its index brought level with its database; `analyser`: what it
    analyses images with (default: the real models in bounded worker processes); `clock`: what its
    services read the time from (default: the system's)."""
    folder = data_dir_from(settings, data_dir)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise NotFound(f"{folder} is not a faceledger data directory (run: faceledger init --data-dir {folder})")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is damaged: {exc}") from exc
    settings = deployment_settings(settings, config)
    legacy = config.get("at_rest") != AT_REST
    if legacy:  # written before encryption at rest (perhaps before the keys folder): seal it once, now
        KeyFiles.for_deployment(settings.keys_dir, folder).create()
    deployment = _connect(settings, folder, config, analyser, clock)
    # Probes a killed process left in staging, expired by the deployment's clock.
    sweep_staging(folder, settings.staged_upload_ttl_s, now=deployment.clock.now().timestamp())
    if legacy:
        from faceledger.services.runtime.at_rest import seal_plain_data  # at_rest builds on this module

        seal_plain_data(deployment)
    if settings.index_sync_on_open:
        sync_index(deployment)
    return deployment


def write_config(deployment: Deployment) -> None:
    write_private(deployment.data_dir / CONFIG_FILE, (json.dumps(deployment.config, indent=2) + "\n").encode())


def _connect(
    settings: Settings, data_dir: Path, config: dict[str, Any], analyser: Analyser | None, clock: Clock | None
) -> Deployment:
    if settings.operator_model_dir is None:  # where `faceledger models add` keeps the added models
        settings = settings.model_copy(update={"operator_model_dir": data_dir / "operator_models"})
    os.chmod(data_dir, DIR_MODE)  # only the service's user may enter the data directory
    if settings.database_url is None:
        _private_sqlite(data_dir / db.SQLITE_FILENAME)
    url = settings.database_url or db.sqlite_url(data_dir)
    engine = db.make_engine(url)
    upgrade(engine)
    backend = settings.index_backend or IndexBackend(config["index_backend"])
    sealer = Sealer(KeyFiles.for_deployment(settings.keys_dir, data_dir).data_key())
    with db.session_factory(engine)() as session:
        keys = model_registry.registered_keys(session)
    _drop_single_model_index(data_dir / "index")
    with index_lock(data_dir, exclusive=False):  # never read half of another process's save
        index = open_model_indexes(
            backend,
            data_dir / "index",
            settings,
            IndexCodec(sealer),
            keys,
            model_widths(db.session_factory(engine)),
            config.get("index_namespace", ""),
        )
    return Deployment(
        settings,
        data_dir,
        config,
        engine,
        db.session_factory(engine),
        index,
        analyser=analyser or BoundedAnalyser(),
        clock=clock or SystemClock(),
        _sealer=sealer,
    )


def model_widths(sessions: sessionmaker[Session]) -> DimOf:
    """A model key's embedding width: an operator-added model's from its row, 128 for the built-in ones."""

    def width(key: str) -> int:
        with sessions() as session:
            found = session.scalar(select(OperatorModel.embedding_dim).where(OperatorModel.model_key == key))
        return int(found) if found is not None else INDEX_DIM

    return width


def open_model_indexes(
    backend: IndexBackend,
    folder: Path,
    settings: Settings,
    codec: BlobCodec,
    keys: list[str],
    dim_of: DimOf | None = None,
    namespace: str = "",
) -> ModelIndexes:
    def opener(model_folder: Path, collection: str, model_codec: BlobCodec | None, dim: int) -> VectorIndex:
        named = f"{namespace}_{collection}" if namespace else collection
        return open_index(backend, model_folder, settings, model_codec, named, dim)

    return ModelIndexes(backend, folder, opener, codec, keys, dim_of)


def _drop_single_model_index(folder: Path) -> None:
    """Files directly in index/ are the one index written before migration 0013 (now one folder per
    model): deleted, not left holding vectors that a later opt-out would no longer reach. Derived data:
    every model's index is rebuilt from the database on open."""
    stale = [child for child in folder.glob("*") if child.is_file()] if folder.is_dir() else []
    if stale:
        with index_lock(folder.parent, exclusive=True):
            for child in stale:
                child.unlink(missing_ok=True)


def _private_sqlite(path: Path) -> None:
    """The database file made 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
    database file's mode, so they are private too."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():
            os.chmod(companion, FILE_MODE)


@dataclass(frozen=True)
class Drift:
    database_faces: int
    index_faces: int
    missing_from_index: int
    not_in_database: int
    database_version: int
    index_version: int | None

    @property
    def clean(self) -> bool:
        return not self.missing_from_index and not self.not_in_database

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "clean": self.clean}


@contextmanager
def index_lock(data_dir: Path, *, exclusive: bool) -> Iterator[None]:
    """An advisory lock across processes on one data directory: one index writer at a time, and readers
    that load whole files. Held for a save or a load only, never for a search."""
    descriptor = os.open(data_dir / INDEX_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def model_drift(deployment: Deployment, model_key: str) -> tuple[Drift, np.ndarray, np.ndarray]:
    """One model's index against the faces the database holds that model's embedding of."""
    index = deployment.model_index(model_key)
    with deployment.sessions() as session:
        # The version first: the ids read after it are at least as new, so an index levelled to them and
        # labelled with this version is never older than its label (at worst a later refresh re-diffs).
        version = deployment.gallery_version(session)
        db_ids = np.fromiter(
            session.execute(select(FaceEmbedding.face_id).where(FaceEmbedding.model_key == model_key)).scalars(),
            dtype=np.int64,
        )
    index_ids = index.ids()
    missing = np.setdiff1d(db_ids, index_ids)
    extra = np.setdiff1d(index_ids, db_ids)
    drift = Drift(len(db_ids), len(index_ids), len(missing), len(extra), version, index.saved_version())
    return drift, missing, extra


def index_drift(deployment: Deployment) -> tuple[Drift, np.ndarray, np.ndarray]:
    """Every model's drift summed (the fullest model's face counts; the oldest index version)."""
    parts = [model_drift(deployment, key) for key in deployment.index.model_keys()]
    if not parts:
        with deployment.sessions() as session:
            version = deployment.gallery_version(session)
        empty = np.empty(0, dtype=np.int64)
        return Drift(0, 0, 0, 0, version, None), empty, empty
    drifts = [part[0] for part in parts]
    versions = [d.index_version for d in drifts]
    drift = Drift(
        max(d.database_faces for d in drifts),
        max(d.index_faces for d in drifts),
        sum(d.missing_from_index for d in drifts),
        sum(d.not_in_database for d in drifts),
        min(d.database_version for d in drifts),
        None if None in versions else min(v for v in versions if v is not None),
    )
    return drift, np.unique(np.concatenate([p[1] for p in parts])), np.unique(np.concatenate([p[2] for p in parts]))


def sync_index(deployment: Deployment, *, force: bool = False) -> Drift:
    """Bring the index level with the database: add what it lacks, drop what the database no longer has."""
    with deployment.sessions() as session:
        version = deployment.gallery_version(session)
    if not force and all(
        deployment.model_index(key).saved_version() == version for key in deployment.index.model_keys()
    ):
        drift, _, _ = index_drift(deployment)
        if drift.clean:
            return drift
    return save_level(deployment)


def save_level(deployment: Deployment) -> Drift:
    """Under the exclusive index lock: diff the in-memory index by ids against the database (what other
    processes removed goes, what they added comes), then save it labelled with the version read, unless
    the file on disk already reflects a newer version: an older writer never overwrites a newer file."""
    with index_lock(deployment.data_dir, exclusive=True):
        for key in deployment.index.model_keys():  # each model's index levelled and saved on its own
            drift, missing, extra = model_drift(deployment, key)
            index = deployment.model_index(key)
            index.remove(extra)
            for start in range(0, len(missing), _SYNC_CHUNK):
                add_faces_to_index(deployment, missing[start : start + _SYNC_CHUNK], key)
            on_disk = index.stored_version()
            if on_disk is None or on_disk <= drift.database_version:
                index.save(drift.database_version)
        drift, _, _ = index_drift(deployment)
    return drift


def refresh_index(deployment: Deployment) -> None:
    """Catch up with gallery changes another process committed (a CLI ingest beside a running server):
    one version query when nothing changed, a diff by ids when something did."""
    with deployment.sessions() as session:
        version = deployment.gallery_version(session)
    if any(deployment.model_index(key).saved_version() != version for key in deployment.index.model_keys()):
        sync_index(deployment, force=True)


def add_faces_to_index(deployment: Deployment, face_ids: np.ndarray, model_key: str) -> None:
    """Add these faces' embeddings by one model to that model's index."""
    if not len(face_ids):
        return
    with deployment.sessions() as session:
        rows = session.execute(
            select(FaceEmbedding.face_id, FaceEmbedding.embedding, GalleryFace.thumbnail)
            .join(GalleryFace)
            .where(FaceEmbedding.face_id.in_(face_ids.tolist()), FaceEmbedding.model_key == model_key)
        ).all()
    if rows:
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        vectors = np.stack([deployment.embedding_vector(row[2], row[1]) for row in rows])
        deployment.model_index(model_key).add(ids, vectors)


def rebuild_index(deployment: Deployment) -> Drift:
    """Throw the index away and fill it again from the database."""
    folder = deployment.data_dir / "index"
    with index_lock(deployment.data_dir, exclusive=True):
        for child in folder.rglob("*") if folder.exists() else []:  # every model's folder
            if child.is_file():
                child.unlink()
        backend = deployment.settings.index_backend or IndexBackend(deployment.config["index_backend"])
        keys = list(deployment.index.model_keys())
        deployment.index = open_model_indexes(
            backend,
            folder,
            deployment.settings,
            IndexCodec(deployment.sealer),
            keys,
            model_widths(deployment.sessions),
            deployment.config.get("index_namespace", ""),
        )
    return sync_index(deployment, force=True)
