"""Sealing a data directory written before encryption at rest: plain embeddings in the database, plain
thumbnail and probe files, a plain index, and files other users could read.

`open_deployment` runs this once, for a deployment whose config does not yet say its data is sealed;
`faceledger seal-data` runs it again on demand (after restoring an old database backup, say). It is
idempotent: sealed blobs are left as they are, so a run killed half way is simply run again. Old plain
bytes do not linger: SQLite's secure_delete zeroes the replaced cells and the WAL is checkpointed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, update

from faceledger.services.runtime.deployment import AT_REST, Deployment, write_config
from faceledger.store.db import checkpoint, transaction
from faceledger.store.governance_models import OptOutEmbedding
from faceledger.store.models import FaceEmbedding, GalleryFace
from faceledger.store.sealed import Role, is_sealed, make_private, optout_embedding_name

_CHUNK = 5_000  # rows per transaction: bounded memory at a million faces
_FOLDERS = {"thumbnails": Role.THUMBNAIL, "probes": Role.PROBE}


@dataclass(frozen=True)
class SealReport:
    embeddings: int
    optout_embeddings: int
    files: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seal_plain_data(deployment: Deployment) -> SealReport:
    """Seal whatever is still plain, save the index sealed, make every file 0600 and folder 0700."""
    deployment.keys.create()  # a deployment from before the keys folder gets its keys (existing ones kept)
    faces = _seal_face_embeddings(deployment)
    optouts = _seal_optout_embeddings(deployment)
    files = _seal_files(deployment)
    deployment.save_index()  # rewritten through the index codec: sealed
    checkpoint(deployment.engine)  # the replaced plain rows leave the write-ahead log
    make_private(deployment.data_dir)
    if deployment.config.get("at_rest") != AT_REST:
        deployment.config["at_rest"] = AT_REST
        write_config(deployment)
    return SealReport(faces, optouts, files)


def _seal_face_embeddings(deployment: Deployment) -> int:
    sealer, done, last = deployment.sealer, 0, 0
    while True:
        with transaction(deployment.sessions) as session:
            rows = session.execute(
                select(FaceEmbedding.id, FaceEmbedding.embedding, GalleryFace.thumbnail)
                .join(GalleryFace)
                .where(FaceEmbedding.id > last)
                .order_by(FaceEmbedding.id)
                .limit(_CHUNK)
            ).all()
            plain = [
                {"id": i, "embedding": sealer.seal(Role.FACE_EMBEDDING, thumb, blob)}
                for i, blob, thumb in rows
                if not is_sealed(blob)
            ]
            if plain:
                session.execute(update(FaceEmbedding), plain)
        if not rows:
            return done
        done, last = done + len(plain), rows[-1][0]


def _seal_optout_embeddings(deployment: Deployment) -> int:
    sealer = deployment.sealer
    with transaction(deployment.sessions) as session:  # a handful of rows: one per opt-out request
        rows = session.execute(
            select(OptOutEmbedding.id, OptOutEmbedding.request_id, OptOutEmbedding.model_key, OptOutEmbedding.embedding)
        ).all()
        plain = [
            {"id": i, "embedding": sealer.seal(Role.OPTOUT_EMBEDDING, optout_embedding_name(r, key), blob)}
            for i, r, key, blob in rows
            if not is_sealed(blob)
        ]
        if plain:
            session.execute(update(OptOutEmbedding), plain)
    return len(plain)


def _seal_files(deployment: Deployment) -> int:
    sealed = 0
    for folder, role in _FOLDERS.items():
        root = deployment.data_dir / folder
        for path in sorted(root.rglob("*.jpg")) if root.exists() else []:
            data = path.read_bytes()
            if not is_sealed(data):
                relative = path.relative_to(deployment.data_dir).as_posix()
                deployment.sealer.write_file(path, role, relative, data)
                sealed += 1
    return sealed
