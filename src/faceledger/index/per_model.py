"""One vector index per recognition model: a folder (and, on Milvus, a collection) each.

Embeddings of different models never share an index, so a search can never compare across models. The
ids are the gallery's face ids in every model's index. Each model's index records the gallery version
it reflects, and is diffed and saved on its own (services/runtime/deployment.py holds the lock across them)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from faceledger.errors import ModelMismatch
from faceledger.index.base import DIM, BlobCodec, Hits, Ids, IndexBackend, VectorIndex, Vectors

Opener = Callable[[Path, str, BlobCodec | None, int], VectorIndex]  # folder, collection name, codec, width
DimOf = Callable[[str], int]  # a model key's embedding width


def model_slug(model_key: str) -> str:
    """A folder and Milvus collection name for a model key ("name@version#sha12")."""
    return re.sub(r"[^0-9A-Za-z]+", "_", model_key).strip("_")


class _ModelCodec:
    """Binds a model's saved index files to the model too: a file copied from another model's folder
    fails the tag check instead of being searched as this model's."""

    def __init__(self, codec: BlobCodec, slug: str) -> None:
        self._codec, self._slug = codec, slug

    def seal(self, name: str, data: bytes) -> bytes:
        return self._codec.seal(f"{self._slug}/{name}", data)

    def open(self, name: str, blob: bytes) -> bytes:
        return self._codec.open(f"{self._slug}/{name}", blob)

    def is_sealed(self, blob: bytes) -> bool:
        return self._codec.is_sealed(blob)


class ModelIndexes:
    """The per-model indexes of one data directory, opened as models are registered."""

    def __init__(
        self,
        backend: IndexBackend,
        folder: Path,
        opener: Opener,
        codec: BlobCodec | None = None,
        model_keys: Iterable[str] = (),
        dim_of: DimOf | None = None,
    ) -> None:
        self.backend = backend
        self._dim_of = dim_of or (lambda _key: DIM)
        self.folder = folder
        self._opener = opener
        self._codec = codec
        self._indexes: dict[str, VectorIndex] = {}
        for key in model_keys:
            self.open_model(key)

    def open_model(self, model_key: str) -> VectorIndex:
        if model_key not in self._indexes:
            if not self.folder.is_dir():  # the models' parent folder, private as every folder of the data
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(self.folder, 0o700)
            slug = model_slug(model_key)
            codec = _ModelCodec(self._codec, slug) if self._codec is not None else None
            dim = self._dim_of(model_key)
            self._indexes[model_key] = self._opener(self.folder / slug, f"faceledger_{slug}", codec, dim)
        return self._indexes[model_key]

    def for_model(self, model_key: str) -> VectorIndex:
        """The index of a model the gallery has; a ModelMismatch for one it has not."""
        try:
            return self._indexes[model_key]
        except KeyError:
            raise ModelMismatch(f"the gallery has no index for model {model_key}") from None

    def model_keys(self) -> tuple[str, ...]:
        return tuple(self._indexes)

    def remove(self, ids: Ids) -> int:
        """Remove faces from every model's index; how many faces (of the fullest index) went."""
        removed = [index.remove(ids) for index in self._indexes.values()]
        return max(removed, default=0)

    def count(self) -> int:
        """Gallery faces searchable: the fullest model's index (models being re-embedded lag behind)."""
        return max((index.count() for index in self._indexes.values()), default=0)

    def ids(self) -> Ids:
        found = [index.ids() for index in self._indexes.values()]
        return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)

    # The gallery's indexes as one: what a caller that names no model may ask (a version label, a save).
    def save(self, gallery_version: int) -> None:
        for index in self._indexes.values():
            index.save(gallery_version)

    def saved_version(self) -> int | None:
        """The oldest model's: the whole is only as level as its most lagging index."""
        return _oldest(index.saved_version() for index in self._indexes.values())

    def stored_version(self) -> int | None:
        return _oldest(index.stored_version() for index in self._indexes.values())

    def search(self, queries: Vectors, k: int) -> Hits:
        """Only where the gallery has one model: with several, which model's index is meant must be named
        (for_model), as a search never compares embeddings of different models."""
        if len(self._indexes) != 1:
            raise ModelMismatch(f"the gallery has {len(self._indexes)} models' indexes: name the model to search")
        return next(iter(self._indexes.values())).search(queries, k)


def _oldest(versions: Iterable[int | None]) -> int | None:
    found = list(versions)
    if not found or any(v is None for v in found):
        return None
    return min(v for v in found if v is not None)
