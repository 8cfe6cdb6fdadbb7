"""Embeddings for evaluation, cached per model, pipeline and image content so that reruns are fast.

The cache is an SQLite file outside the project (default ~/.cache/faceledger/eval-embeddings.db); a key is
(model key + pipeline settings, image sha256). "No usable face" is cached too, as NULL.
The dlib pipeline keeps its original keys (so existing caches stay valid); the YuNet pipelines key each
model's vector by model key AND pipeline name, so dlib-on-HOG, dlib-inside-fused and SFace never collide."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from faceledger.config import Settings
from faceledger.engine.image_input import file_sha256
from faceledger.engine.models import recognition_model_identity
from faceledger.engine.operator_model import settings_spec
from faceledger.engine.parallel import FileResult, analyse_files
from faceledger.eval.lfw import LfwImage, central_face
from faceledger.types import DetectedFace, Pipeline

T = TypeVar("T")
Vector = npt.NDArray[np.float32]
_PIPELINE_FIELDS = (
    "detector",
    "hog_upsample",
    "hog_upsample_max_pixels",
    "hog_min_score",
    "cnn_fallback",
    "cnn_upsample",
    "cnn_min_score",
    "embed_flip",
    "embed_jitters",
    "chip_padding",
    "min_embed_face_px",
)
# the YuNet pipelines' own settings, whatever they are named
_YUNET_PREFIXES = ("yunet_", "sface_", "onnx_")
ModelEmbeddings = dict[str, dict[LfwImage, Vector]]  # model key -> image -> vector


def default_cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "faceledger" / "eval-embeddings.db"


def pipeline_key(settings: Settings) -> str:
    """Everything that changes an embedding: the model's identity and the pipeline's settings. A YuNet
    pipeline's first model has its own key: its vectors are 128-wide too, and under dlib's key they would
    be read back as dlib's."""
    if Pipeline(settings.pipeline) is not Pipeline.DLIB:
        return f"{multi_model_tag(settings)}|first"
    values = {name: str(getattr(settings, name)) for name in _PIPELINE_FIELDS}
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
    return f"{recognition_model_identity().key}|{digest}"


class EmbeddingCache:
    def __init__(self, path: Path | None) -> None:
        self._connection: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(path, timeout=120)  # another process may be writing it
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (pipeline TEXT, sha256 TEXT, vector BLOB, "
                "PRIMARY KEY (pipeline, sha256))"
            )
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS model_embeddings (tag TEXT, sha256 TEXT, model TEXT, vector BLOB, "
                "PRIMARY KEY (tag, sha256, model))"
            )

    def get(self, pipeline: str, digests: Sequence[str]) -> dict[str, Vector | None]:
        if self._connection is None:
            return {}
        found: dict[str, Vector | None] = {}
        for start in range(0, len(digests), 500):
            chunk = list(digests[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._connection.execute(
                f"SELECT sha256, vector FROM embeddings WHERE pipeline = ? AND sha256 IN ({marks})",  # noqa: S608
                [pipeline, *chunk],
            )
            for digest, blob in rows:
                found[digest] = None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def put(self, pipeline: str, items: dict[str, Vector | None]) -> None:
        if self._connection is None:
            return
        with self._connection:
            self._connection.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                [(pipeline, d, None if v is None else np.asarray(v, np.float32).tobytes()) for d, v in items.items()],
            )

    def get_models(self, tag: str, digests: Sequence[str]) -> dict[str, dict[str, Vector] | None]:
        """Per image: {model key: vector}, or None when no face was embedded."""
        if self._connection is None:
            return {}
        found: dict[str, dict[str, Vector] | None] = {}
        for start in range(0, len(digests), 500):
            chunk = list(digests[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._connection.execute(
                f"SELECT sha256, model, vector FROM model_embeddings WHERE tag = ? AND sha256 IN ({marks})",  # noqa: S608
                [tag, *chunk],
            )
            for digest, model, blob in rows:
                vectors = found.setdefault(digest, None if model == "" else {})
                if model and vectors is not None:
                    vectors[model] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def put_models(self, tag: str, items: dict[str, dict[str, Vector] | None]) -> None:
        """An image with no embedded face is stored as one row with an empty model name."""
        if self._connection is None:
            return
        rows: list[tuple[str, str, str, bytes | None]] = []
        for digest, vectors in items.items():
            if not vectors:
                rows.append((tag, digest, "", None))
            rows += [(tag, digest, key, np.asarray(v, np.float32).tobytes()) for key, v in (vectors or {}).items()]
        with self._connection:
            self._connection.executemany(
                "DELETE FROM model_embeddings WHERE tag = ? AND sha256 = ?", [(tag, digest) for digest in items]
            )
            self._connection.executemany("INSERT OR REPLACE INTO model_embeddings VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def embed_lfw(
    images: Sequence[LfwImage],
    data_dir: Path,
    settings: Settings,
    cache: EmbeddingCache,
    *,
    workers: int | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    cached_only: bool = False,
) -> dict[LfwImage, Vector]:
    """The central face's embedding of each image; images with no usable face are left out."""
    pipeline = pipeline_key(settings)
    digests = {image: file_sha256(image.path(data_dir)) for image in images}
    cached = cache.get(pipeline, list(digests.values()))
    missing = [] if cached_only else [image for image in images if digests[image] not in cached]

    def vector_of(face: DetectedFace) -> Vector | None:
        return face.embedding.vector if face.embedding is not None else None

    fresh = _embed_central_faces(
        missing,
        digests,
        data_dir,
        settings,
        vector_of,
        lambda done: cache.put(pipeline, done),
        workers=workers,
        on_result=on_result,
    )
    everything = {**cached, **fresh}
    return {image: vector for image in images if (vector := everything.get(digests[image])) is not None}


def _embed_central_faces(
    missing: Sequence[LfwImage],
    digests: dict[LfwImage, str],
    data_dir: Path,
    settings: Settings,
    pick: Callable[[DetectedFace], T | None],
    save: Callable[[dict[str, T | None]], None],
    *,
    workers: int | None,
    on_result: Callable[[FileResult], None] | None,
) -> dict[str, T | None]:
    """`pick` of each image's central face (None: no usable face), by image digest; saved every 200 images,
    so that a long run that is stopped keeps what it measured."""
    fresh: dict[str, T | None] = {}
    unsaved: dict[str, T | None] = {}
    paths = [image.path(data_dir) for image in missing]
    for image, result in zip(
        missing, analyse_files(paths, settings, workers=workers, on_result=on_result), strict=True
    ):
        value = None
        if result.faces is not None:
            face = central_face(result.faces.faces, result.faces.image.width, result.faces.image.height)
            value = pick(face) if face is not None else None
        fresh[digests[image]] = unsaved[digests[image]] = value
        if len(unsaved) >= 200:
            save(unsaved)
            unsaved = {}
    save(unsaved)
    return fresh


def multi_model_tag(settings: Settings) -> str:
    """The YuNet pipelines' cache tag: the pipeline's name and every setting that changes its vectors."""
    dumped = settings.model_dump(mode="json")
    names = [*_PIPELINE_FIELDS, *(n for n in sorted(dumped) if n.startswith(_YUNET_PREFIXES))]
    values = {name: str(dumped.get(name)) for name in names}
    if Pipeline(settings.pipeline) is Pipeline.OPERATOR:  # the added model's file, not just its name
        values["operator_sha256"] = settings_spec(settings).sha256
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
    return f"{Pipeline(settings.pipeline).value}|{digest}"


def embed_lfw_models(
    images: Sequence[LfwImage],
    data_dir: Path,
    settings: Settings,
    cache: EmbeddingCache,
    *,
    workers: int | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    cached_only: bool = False,
) -> ModelEmbeddings:
    """Every model's embedding of each image's central face, per model key. A model that did not embed an
    image's face simply has no entry for it (the fusion rule scores such a pair with the other models).
    `cached_only`: embed nothing, return what the cache holds (a partial run while embedding continues)."""
    if Pipeline(settings.pipeline) is Pipeline.DLIB:
        single = embed_lfw(
            images, data_dir, settings, cache, workers=workers, on_result=on_result, cached_only=cached_only
        )
        return {recognition_model_identity().key: single}
    tag = multi_model_tag(settings)
    digests = {image: file_sha256(image.path(data_dir)) for image in images}
    cached = cache.get_models(tag, list(digests.values()))
    missing = [] if cached_only else [image for image in images if digests[image] not in cached]

    def vectors_of(face: DetectedFace) -> dict[str, Vector]:
        return {e.model.key: np.asarray(e.vector, np.float32) for e in face.embeddings}

    fresh = _embed_central_faces(
        missing,
        digests,
        data_dir,
        settings,
        vectors_of,
        lambda done: cache.put_models(tag, done),
        workers=workers,
        on_result=on_result,
    )
    everything = {**cached, **fresh}
    by_model: ModelEmbeddings = {}
    for image in images:
        for key, vector in (everything.get(digests[image]) or {}).items():
            by_model.setdefault(key, {})[image] = vector
    return by_model
