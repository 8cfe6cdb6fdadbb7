"""Migration 0013 moves every face's embedding into face_embeddings without losing a face or a byte, and
registers the model the gallery was searched with; its downgrade gives the embeddings back."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, inspect, select, text

from faceledger.index.per_model import model_slug
from faceledger.services.runtime.deployment import Deployment, open_deployment
from faceledger.store import db
from faceledger.store.migrate import alembic_config, current_revision, head_revision

DLIB = "dlib_face_recognition_resnet_model_v1@1#0123456789ab"
OTHER = "old_model@2#ba9876543210"


@pytest.fixture
def engine(tmp_path: Path, database_url: str | None) -> Engine:
    made = db.make_engine(database_url or db.sqlite_url(tmp_path))
    yield made  # type: ignore[misc]
    made.dispose()


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _gallery_at_0012(engine: Engine, faces: int) -> dict[int, tuple[bytes, str]]:
    """A gallery as 0012 stored it: faces with their embedding and model key in the faces table."""
    _migrate(engine, "0012")
    tables = MetaData()
    tables.reflect(engine)
    now = datetime.now(UTC)
    stored: dict[int, tuple[bytes, str]] = {}
    with engine.begin() as connection:
        source = connection.execute(
            tables.tables["sources"]
            .insert()
            .values(name="s", legal_basis="test", collection_method="", contact="", created_at=now)
        ).inserted_primary_key[0]
        for n in range(faces):
            image = connection.execute(
                tables.tables["gallery_images"]
                .insert()
                .values(
                    sha256=f"{n:064x}",
                    source_id=source,
                    source_url="",
                    page_url="",
                    original_filename=f"{n}.jpg",
                    image_format="JPEG",
                    width=250,
                    height=250,
                    ingested_at=now,
                )
            ).inserted_primary_key[0]
            blob, key = os.urandom(28 + 512), DLIB if n % 5 else OTHER  # a sealed 128-float vector's size
            face = connection.execute(
                tables.tables["faces"]
                .insert()
                .values(
                    image_id=image,
                    face_index=1,
                    box_left=1,
                    box_top=2,
                    box_right=3,
                    box_bottom=4,
                    landmarks=[],
                    detector="hog",
                    detector_score=1.0,
                    quality_score=0.9,
                    quality={},
                    embedding=blob,
                    model_key=key,
                    thumbnail=f"thumbnails/{n}.jpg",
                )
            ).inserted_primary_key[0]
            stored[int(face)] = (blob, key)
    return stored


def test_0013_moves_every_embedding_and_registers_the_models(engine: Engine) -> None:
    stored = _gallery_at_0012(engine, 12)
    _migrate(engine, "head")
    assert current_revision(engine) == head_revision()
    assert {c["name"] for c in inspect(engine).get_columns("faces")}.isdisjoint({"embedding", "model_key"})
    with engine.connect() as connection:
        faces = set(connection.execute(text("SELECT id FROM faces")).scalars())
        moved = {
            row[0]: (bytes(row[1]), row[2])
            for row in connection.execute(text("SELECT face_id, embedding, model_key FROM face_embeddings"))
        }
        models = connection.execute(
            text("SELECT model_key, name, enabled FROM gallery_models ORDER BY model_key")
        ).all()
    assert faces == set(stored)  # not a face lost
    assert moved == stored  # every face's vector, byte for byte, under its model key
    assert [(k, n, bool(e)) for k, n, e in models] == [
        (DLIB, "dlib_face_recognition_resnet_model_v1", True),
        (OTHER, "old_model", True),
    ]


def test_0013_downgrade_gives_each_face_its_embedding_back(engine: Engine) -> None:
    stored = _gallery_at_0012(engine, 6)
    _migrate(engine, "head")
    with engine.begin() as connection:  # a second model's embedding of face 1, as a re-embed adds
        first = min(stored)
        connection.execute(
            text(
                "INSERT INTO face_embeddings (face_id, model_key, embedding, created_at) "
                "VALUES (:f, 'sface@1#aaaaaaaaaaaa', :b, CURRENT_TIMESTAMP)"
            ),
            {"f": first, "b": b"other"},
        )
    _migrate(engine, "0012", down=True)
    assert "face_embeddings" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        back = {
            row[0]: (bytes(row[1]), row[2])
            for row in connection.execute(text("SELECT id, embedding, model_key FROM faces"))
        }
    assert back == stored  # the first stored (the original) embedding, not the re-embedded one
    _migrate(engine, "head")
    with engine.connect() as connection:
        assert connection.execute(select(text("count(*)")).select_from(text("face_embeddings"))).scalar_one() == 6


def test_the_single_index_from_before_0013_is_deleted_on_open(make_deployment: Callable[..., Deployment]) -> None:
    """Its vectors would otherwise stay on disk where no later removal reaches them."""
    deployment = make_deployment()
    folder = deployment.data_dir / "index"
    (folder / "faiss.index").write_bytes(b"an index from before 0013")
    deployment.close()
    reopened = open_deployment(deployment.settings, deployment.data_dir)
    try:
        assert not (folder / "faiss.index").exists()
        (model_folder,) = [p for p in folder.iterdir() if p.is_dir()]  # one folder per model, kept
        assert model_folder.name == model_slug(reopened.model_key) and any(model_folder.iterdir())
    finally:
        reopened.close()
