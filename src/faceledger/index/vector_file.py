"""Exact vectors by face id in one memory-mapped file: the re-ranking store of a large FAISS index.

Row `id` lies at offset `id * row_bytes`, so every process writing the gallery's index agrees where a face
lives without sharing any map of rows: two servers adding the same face write the same place, and one
removing it zeroes the only copy (an opt-out must not leave an embedding behind). Face ids are the
database's, so the file is dense. Only the compressed codes
stay in RAM; the rows a search re-ranks are read through the page cache, which the kernel may evict.

With a codec each row is sealed on its own (AES-GCM, bound to the file's name and the face id), so the
file is as unreadable at rest as every other biometric file, and a row copied over another fails its tag.
A row of zeros is absent. A row whose tag fails is read again a few times (another process may be writing
or zeroing it right now); if it still fails it is a KeyProblem, never a vector.

Who writes: every process with the index open may, but only while it holds the data directory's
exclusive index lock (services/runtime/deployment.py index_lock) and only rows of faces the database holds at that
moment; a removal zeroes every row it names under the same lock. So no deleted face's row is written back."""

from __future__ import annotations

import mmap
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np

from faceledger.errors import KeyProblem
from faceledger.index.base import BlobCodec, Ids, Vectors

_CHUNK = 65_536  # rows read at once when the whole file is walked (a retrain)
_TORN_READ_TRIES = 4  # a row that still fails its tag after this is a KeyProblem: changed, not torn


class VectorFile:
    def __init__(self, path: Path | None, dim: int, codec: BlobCodec | None) -> None:
        """`path` None: an anonymous temporary file (an index that is never saved)."""
        self._fd, self._map = -1, cast(mmap.mmap | None, None)
        self._path, self._dim, self._codec = path, dim, codec
        self._vector_bytes = 4 * dim
        # a sealed row is as long as the codec makes it (store/sealed.py: header, nonce, tag)
        self.row_bytes = len(codec.seal("width", bytes(self._vector_bytes))) if codec else self._vector_bytes
        if path is None:
            self._fd, name = tempfile.mkstemp(prefix="faceledger-vectors-")
            os.unlink(name)  # anonymous from here on: gone when the descriptor closes
        else:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._inode = os.fstat(self._fd).st_ino
        self._remap = threading.Lock()

    def close(self) -> None:
        self._drop_map()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1  # never closed twice: the number may belong to another file by then

    def __del__(self) -> None:
        self.close()

    def write(self, ids: Ids, vectors: Vectors) -> None:
        fd = self._live(create=True)
        for face_id, vector in zip(ids.tolist(), vectors, strict=True):
            os.pwrite(fd, self._seal(face_id, vector.astype(np.float32).tobytes()), face_id * self.row_bytes)

    def erase(self, ids: Ids) -> None:
        """Overwrite the rows with zeros, durably: the bytes are gone from the file, not just unlisted."""
        fd = self._live(create=False)
        zeros = bytes(self.row_bytes)
        size = os.fstat(fd).st_size
        for face_id in ids.tolist():
            if face_id >= 0 and face_id * self.row_bytes < size:
                os.pwrite(fd, zeros, face_id * self.row_bytes)
        os.fsync(fd)

    def read(self, ids: Ids) -> tuple[Ids, Vectors]:
        """The ids that have a row, and their vectors (absent rows are left out)."""
        view = self._view()
        found, vectors = [], []
        for face_id in ids.tolist():
            row = self._row(view, face_id)
            if row is not None:
                found.append(face_id)
                vectors.append(row)
        if not found:
            return np.empty(0, dtype=np.int64), np.empty((0, self._dim), dtype=np.float32)
        return np.asarray(found, dtype=np.int64), np.stack(vectors)

    def chunks(self, ids: Ids) -> Iterator[tuple[Ids, Vectors]]:
        for start in range(0, len(ids), _CHUNK):
            yield self.read(ids[start : start + _CHUNK])

    def sync(self) -> None:
        os.fsync(self._live(create=False))

    def _live(self, *, create: bool) -> int:
        """The descriptor of the file now at the path: another process's rebuild may have replaced it, and
        a write or an erase on the old one would land in a file nobody reads (an erase that erased nothing)."""
        with self._remap:
            if self._path is not None:
                try:
                    inode = self._path.stat().st_ino
                except FileNotFoundError:
                    inode = None
                if inode != self._inode and (inode is not None or create):
                    flags = os.O_RDWR | (os.O_CREAT if create else 0)
                    fd = os.open(self._path, flags, 0o600)
                    os.close(self._fd)
                    self._fd, self._inode, self._map = fd, os.fstat(fd).st_ino, None
            return self._fd

    def _seal(self, face_id: int, data: bytes) -> bytes:
        return self._codec.seal(self._name(face_id), data) if self._codec is not None else data

    def _name(self, face_id: int) -> str:
        return f"{self._path.name if self._path else 'vectors'}#{face_id}"

    def _view(self) -> mmap.mmap | None:
        """The file mapped whole, mapped again when it grew or was replaced (a rebuild) since. An old map is
        only let go, never closed here: a search on another thread may still be reading it."""
        fd = self._live(create=False)
        with self._remap:
            size = os.fstat(fd).st_size
            if self._map is not None and len(self._map) != size:
                self._map = None
            if self._map is None and size:
                self._map = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
            return self._map

    def _drop_map(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def _row(self, view: mmap.mmap | None, face_id: int) -> np.ndarray | None:
        start = face_id * self.row_bytes
        if view is None or face_id < 0 or start + self.row_bytes > len(view):
            return None
        raw = view[start : start + self.row_bytes]
        if not any(raw):
            return None
        if self._codec is None:
            return np.frombuffer(raw, dtype=np.float32).copy()
        for attempt in range(_TORN_READ_TRIES):
            try:
                return np.frombuffer(self._codec.open(self._name(face_id), raw), dtype=np.float32).copy()
            except KeyProblem:
                if attempt == _TORN_READ_TRIES - 1:
                    raise
                time.sleep(0.002)  # another process may be writing or zeroing this row right now
                raw = view[start : start + self.row_bytes]
                if not any(raw):
                    return None
        return None  # pragma: no cover - the loop returns or raises
