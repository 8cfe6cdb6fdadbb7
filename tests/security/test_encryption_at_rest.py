"""M11: biometric data at rest. After a real ingest and search, no file under the data directory (the
SQLite database, its WAL, the index, thumbnails, probes) holds a plain embedding or a plain image; reading
back still works; a changed, swapped or wrongly keyed blob is refused with a KeyProblem; every file is
0600 and every folder 0700; a data directory written before encryption is sealed when it is opened."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select, update

from faceledger.config import Settings
from faceledger.errors import KeyProblem
from faceledger.services.casework import casefile
from faceledger.services.casework.governed_search import SearchRequest, SearchResult, governed_search
from faceledger.services.gallery import curation
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.runtime.deployment import Deployment, init_deployment, open_deployment, rebuild_index
from faceledger.store.models import FaceEmbedding, GalleryFace
from faceledger.types import IndexBackend
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import ATTESTATION, Office, make_office

pytestmark = pytest.mark.needs_data
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


@dataclass
class Used:
    """A deployment after an ingest of four people and one search for the second one."""

    office: Office
    deployment: Deployment
    person_image: str
    outcome: SearchResult
    plain_vectors: list[bytes]  # the gallery's embeddings, as float32 bytes


@pytest.fixture(scope="module")
def used(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Used]:
    root = tmp_path_factory.mktemp("at-rest")
    deployment = init_deployment(Settings(workers=2), root / "data", IndexBackend.FAISS)
    office = make_office(deployment)
    people = people_with_several(data_dir, 4)
    report = curation.governed_ingest(
        deployment, office.curator, copy_with_manifest(people, root / "g"), SourceSpec("lfw", "test")
    )
    assert report.images_added == 4
    with deployment.sessions() as session:
        rows = session.execute(select(GalleryFace.thumbnail, FaceEmbedding.embedding).join(FaceEmbedding)).all()
    plain = [_plain(deployment, thumbnail, blob) for thumbnail, blob in rows]
    outcome = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, people[1][1][1]))
    yield Used(office, deployment, people[1][1][0].name, outcome, plain)
    deployment.close()


def _plain(deployment: Deployment, thumbnail: str, blob: bytes) -> bytes:
    """A stored embedding's float32 bytes: opened with the data key (where there is one, as stored)."""
    opened = getattr(deployment, "embedding_vector", None)
    vector = np.asarray(opened(thumbnail, blob) if opened else np.frombuffer(blob, dtype=np.float32))
    assert vector.shape == (128,)
    return vector.astype(np.float32).tobytes()


def _files(folder: Path) -> list[Path]:
    return [path for path in sorted(folder.rglob("*")) if path.is_file()]


def _copy(used: Used, tmp_path: Path) -> Settings:
    """A copy of the used deployment (data and keys folders) to spoil without spoiling the original."""
    data = used.deployment.data_dir
    shutil.copytree(data, tmp_path / "data")
    shutil.copytree(data.parent / f"{data.name}.keys", tmp_path / "data.keys")
    return Settings(workers=2)


def test_no_plain_embedding_or_image_is_stored(used: Used) -> None:
    deployment = used.deployment
    assert len(used.plain_vectors) >= 4
    with deployment.sessions() as session:
        assert session.scalars(select(FaceEmbedding.embedding)).all()
    deployment.engine.dispose()  # nothing held back in a connection: the files are what is stored
    stored = b"".join(path.read_bytes() for path in _files(deployment.data_dir))
    assert (deployment.data_dir / "faceledger.db").is_file() and len(stored) > 100_000
    found = [i for i, vector in enumerate(used.plain_vectors) if vector in stored]
    assert not found, f"plain embeddings {found} are stored in the data directory (database, WAL or index)"
    images = [p for p in _files(deployment.data_dir / "thumbnails") + _files(deployment.data_dir / "probes")]
    assert len(images) >= 5, "four gallery thumbnails and the probe face"
    plain_images = [p.name for p in images if p.read_bytes().startswith(IMAGE_SIGNATURES)]
    assert not plain_images, f"plain JPEG/PNG files at rest: {plain_images}"
    for path in _files(deployment.data_dir):
        assert not path.read_bytes().startswith(IMAGE_SIGNATURES), f"{path} is a plain image"


def test_reading_back_still_works(used: Used) -> None:
    office, deployment = used.office, used.deployment
    assert used.outcome.outcome == "candidates"
    top = used.outcome.candidates[0]
    assert top["provenance"]["original_filename"] == used.person_image  # the right face, found again
    image = casefile.candidate_image(deployment, office.reviewer1, top["candidate_id"])
    assert isinstance(image, bytes) and image.startswith(b"\xff\xd8\xff"), "the served image is a plain JPEG"
    with Image.open(io.BytesIO(image)) as opened:
        assert opened.format == "JPEG" and opened.width > 32
    probe = casefile.probe_image(deployment, office.reviewer1, used.outcome.search_id)
    assert isinstance(probe, bytes) and probe.startswith(b"\xff\xd8\xff")


def test_a_changed_or_swapped_thumbnail_is_refused(used: Used) -> None:
    office, deployment = used.office, used.deployment
    candidate = used.outcome.candidates[0]
    path = deployment.data_dir / candidate["provenance"]["thumbnail"]
    path = path if path.is_absolute() else deployment.data_dir / path
    original = path.read_bytes()
    other = next(p for p in _files(deployment.data_dir / "thumbnails") if p != path)
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        with pytest.raises(KeyProblem, match="changed or swapped"):
            casefile.candidate_image(deployment, office.reviewer1, candidate["candidate_id"])
        path.write_bytes(other.read_bytes())  # another face's sealed thumbnail, moved over this one
        with pytest.raises(KeyProblem, match="changed or swapped"):
            casefile.candidate_image(deployment, office.reviewer1, candidate["candidate_id"])
    finally:
        path.write_bytes(original)
    assert casefile.candidate_image(deployment, office.reviewer1, candidate["candidate_id"]).startswith(b"\xff\xd8")


def test_a_changed_or_swapped_embedding_is_refused(used: Used, tmp_path: Path) -> None:
    settings = _copy(used, tmp_path)
    spoilt = open_deployment(settings, tmp_path / "data")
    try:
        with spoilt.sessions.begin() as session:
            rows = select(FaceEmbedding.id, FaceEmbedding.embedding).order_by(FaceEmbedding.id).limit(2)
            first, second = session.execute(rows).all()  # two faces' embeddings: swapped
            session.execute(update(FaceEmbedding).where(FaceEmbedding.id == first[0]).values(embedding=second[1]))
        with pytest.raises(KeyProblem, match="changed or swapped"):  # the index is rebuilt from the rows
            rebuild_index(spoilt)
    finally:
        spoilt.close()


def test_a_wrong_or_missing_data_key_fails_clearly(used: Used, tmp_path: Path) -> None:
    settings = _copy(used, tmp_path)
    key = tmp_path / "data.keys" / "data.key"
    os.chmod(key, 0o600)
    key.write_text(os.urandom(32).hex() + "\n")
    with pytest.raises(KeyProblem, match="not the one it was sealed with"):
        open_deployment(settings, tmp_path / "data").close()
    key.unlink()
    with pytest.raises(KeyProblem, match=r"data\.key is missing"):
        open_deployment(settings, tmp_path / "data").close()


def test_no_file_or_folder_under_the_data_dir_is_group_or_world_accessible(used: Used) -> None:
    data = used.deployment.data_dir
    assert (data / "faceledger.db").is_file() and (data / "thumbnails").is_dir() and (data / "probes").is_dir()
    open_to_others = [
        f"{path.relative_to(data) if path != data else '.'} {stat.S_IMODE(path.stat().st_mode):o}"
        for path in [data, *sorted(data.rglob("*"))]
        if stat.S_IMODE(path.stat().st_mode) & 0o077
    ]
    assert not open_to_others, f"readable by group or others: {open_to_others}"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "faceledger.db").stat().st_mode) == 0o600


def test_a_deployment_written_before_encryption_is_sealed_on_open(used: Used, tmp_path: Path) -> None:
    """Turn a copy back into what an older version wrote (plain files, plain rows, plain index, 0644),
    open it: everything is sealed, the old plain bytes are gone, and search still finds the person."""
    from faceledger.store.sealed import Role

    settings = _copy(used, tmp_path)
    old = open_deployment(settings, tmp_path / "data")
    sealer = old.sealer
    with old.sessions.begin() as session:
        rows = select(FaceEmbedding.id, FaceEmbedding.embedding, GalleryFace.thumbnail).join(GalleryFace)
        for row_id, blob, thumbnail in session.execute(rows).all():
            plain = sealer.open(Role.FACE_EMBEDDING, thumbnail, blob)
            session.execute(update(FaceEmbedding).where(FaceEmbedding.id == row_id).values(embedding=plain))
    for folder, role in (("thumbnails", Role.THUMBNAIL), ("probes", Role.PROBE)):
        for path in _files(old.data_dir / folder):
            path.write_bytes(sealer.read_file(path, role, path.relative_to(old.data_dir).as_posix()))
            os.chmod(path, 0o644)
    old.close()
    shutil.rmtree(old.data_dir / "index")  # an older index: rebuilt from the (plain) rows on open
    config_path = old.data_dir / "faceledger.json"
    config = json.loads(config_path.read_text())
    del config["at_rest"]
    config_path.write_text(json.dumps(config))
    os.chmod(old.data_dir / "faceledger.db", 0o644)
    os.chmod(old.data_dir, 0o755)

    reopened = open_deployment(settings, old.data_dir)
    try:
        outcome = governed_search(reopened, used.office.analyst, SearchRequest("C-1", ATTESTATION, _probe_of(used)))
        assert outcome.candidates[0]["provenance"]["original_filename"] == used.person_image
    finally:
        reopened.close()
    stored = b"".join(path.read_bytes() for path in _files(old.data_dir))
    assert not [v for v in used.plain_vectors if v in stored], "a plain embedding survived the sealing"
    assert not [p for p in _files(old.data_dir) if p.read_bytes().startswith(IMAGE_SIGNATURES)]
    assert not [p for p in [old.data_dir, *old.data_dir.rglob("*")] if stat.S_IMODE(p.stat().st_mode) & 0o077]


def _probe_of(used: Used) -> Path:
    folder = Path(used.office.deployment.data_dir).parent / "g"
    return next(p for p in sorted(folder.glob("*.jpg")) if p.name == used.person_image)
