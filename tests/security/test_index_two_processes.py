"""H7: two processes on one data directory (a CLI beside a server) never write a stale index back.

Process A (a subprocess, as the CLI would be) removes a face and later ingests one; process B (this test,
as the server) ingests between them. The index file, B's index, and a fresh open all hold exactly the
database's faces afterwards, without any resync on open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from faceledger.config import Settings
from faceledger.services.gallery._ingest import SourceSpec, ingest
from faceledger.services.runtime.deployment import Deployment, open_deployment, refresh_index
from faceledger.store.models import FaceEmbedding, GalleryFace, GalleryImage
from tests.lfwdata import copy_with_manifest, people_with_several

pytestmark = [pytest.mark.needs_data, pytest.mark.both_databases]
SPEC = SourceSpec("lfw", "test basis")

# Process A: open the same data directory, then remove an image or ingest a manifest.
_OTHER_PROCESS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from faceledger.config import Settings
    from faceledger.services.runtime.deployment import open_deployment
    from faceledger.services.gallery._removal import remove_from_gallery
    from faceledger.services.gallery._ingest import SourceSpec, ingest
    data_dir, database_url, action, argument = sys.argv[1:5]
    deployment = open_deployment(Settings(workers=1, database_url=database_url or None), Path(data_dir))
    if action == "remove":
        print(json.dumps(remove_from_gallery(deployment, sha256=argument).to_dict()))
    else:
        print(json.dumps(ingest(deployment, Path(argument), SourceSpec("lfw", "test basis"), workers=1).to_dict()))
    deployment.close()
    """
)


def other_process(deployment: Deployment, action: str, argument: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    database_url = deployment.settings.database_url or ""
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, str(deployment.data_dir), database_url, action, argument],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def database_faces(deployment: Deployment) -> set[int]:
    with deployment.sessions() as session:
        return set(session.scalars(select(GalleryFace.id)))


def index_faces(deployment: Deployment) -> set[int]:
    return {int(i) for i in deployment.index.ids()}


def test_remove_in_one_process_and_ingest_in_another_leave_exactly_the_database(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    people = people_with_several(data_dir, 5)
    first = copy_with_manifest(people[:2], tmp_path / "first")
    by_server = copy_with_manifest(people[2:3], tmp_path / "by-server")
    by_cli = copy_with_manifest(people[3:4], tmp_path / "by-cli")
    later = copy_with_manifest(people[4:5], tmp_path / "later")

    server = make_deployment()  # process B, open throughout, as a running server
    assert ingest(server, first, SPEC, workers=1).images_added == 2
    with server.sessions() as session:
        removed_sha = session.scalars(select(GalleryImage.sha256).order_by(GalleryImage.id)).first()
        assert removed_sha is not None
        removed = set(
            session.scalars(select(GalleryFace.id).join(GalleryImage).where(GalleryImage.sha256 == removed_sha))
        )
    assert removed <= index_faces(server)

    assert other_process(server, "remove", removed_sha)["faces"] == len(removed)  # A: `gallery remove`
    assert ingest(server, by_server, SPEC, workers=1).images_added == 1  # B: an ingest through the server
    assert not removed & index_faces(server), "the server wrote the removed face back into its index"

    before_cli = database_faces(server)
    assert other_process(server, "ingest", str(by_cli))["images_added"] == 1  # A: `gallery ingest`
    cli_faces = database_faces(server) - before_cli
    assert ingest(server, later, SPEC, workers=1).images_added == 1  # B again
    refresh_index(server)  # what every search does first
    truth = database_faces(server)
    assert cli_faces and cli_faces <= truth and not removed & truth
    assert index_faces(server) == truth, "the server's index is not the database's gallery"

    # A fresh open that trusts the file (no resync on open) sees exactly the database's faces.
    settings = Settings(workers=1, database_url=server.settings.database_url, index_sync_on_open=False)
    fresh = open_deployment(settings, server.data_dir)
    try:
        assert fresh.index.stored_version() == fresh.index.saved_version()
        with fresh.sessions() as session:
            assert fresh.index.saved_version() == fresh.gallery_version(session)
        assert index_faces(fresh) == truth, "the saved index file is not the database's gallery"
        # and its searches find the CLI-ingested face
        with fresh.sessions() as session:
            rows = session.execute(select(GalleryFace.thumbnail, FaceEmbedding.embedding).join(FaceEmbedding)).all()
            vectors = [fresh.embedding_vector(thumbnail, blob) for thumbnail, blob in rows]
        nearest = {int(fresh.index.search(vector[None, :], 1).ids[0][0]) for vector in vectors}
        assert nearest == truth
    finally:
        fresh.close()


def test_an_older_writer_never_overwrites_a_newer_index_file(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    people = people_with_several(data_dir, 3)
    server = make_deployment()
    assert ingest(server, copy_with_manifest(people[:2], tmp_path / "a"), SPEC, workers=1).images_added == 2
    other_process(server, "ingest", str(copy_with_manifest(people[2:], tmp_path / "b")))
    with server.sessions() as session:
        version = server.gallery_version(session)
    assert server.index.stored_version() == version  # A saved the newer file
    stale = server.index.saved_version()
    assert stale is not None and stale < version
    server.save_index()  # B, whose memory is older than the file, saves: it replays first
    assert server.index.stored_version() == version and index_faces(server) == database_faces(server)
