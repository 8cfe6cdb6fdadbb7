"""Low: images a killed ingest had committed are on the ledger once the ingest is resumed.

The kill is simulated by a progress callback that raises after the first batch has committed (one
image per batch): the job stays `running`, as after kill -9, and the committed image stays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from faceledger.services.gallery import curation
from faceledger.services.gallery._ingest import IngestReport, SourceSpec
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.models import GalleryImage
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import make_office

pytestmark = pytest.mark.needs_data
SPEC = SourceSpec("lfw", "test basis")


class Killed(Exception):
    pass


def test_a_resumed_ingest_ledgers_what_the_killed_run_committed(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment(ingest_batch_images=1)
    office = make_office(deployment, grant=False, case=False)
    manifest = copy_with_manifest(people_with_several(data_dir, 4), tmp_path / "in")

    def kill(done: int, _total: int, _report: IngestReport) -> None:
        if done == 2:
            raise Killed

    with pytest.raises(Killed):
        curation.governed_ingest(deployment, office.curator, manifest, SPEC, workers=1, on_progress=kill)
    with deployment.sessions() as session:
        committed = session.scalar(select(func.count()).select_from(GalleryImage)) or 0
    assert committed == 2
    assert not office.entries(action="gallery_ingest")  # the killed run never reached its closing entry

    resumed = curation.governed_ingest(deployment, office.curator, manifest, SPEC, workers=1)
    assert resumed.images_added == 2 and resumed.images_known == 2
    interrupted = [e.to_dict()["details"] for e in office.entries(action="gallery_ingest_interrupted")]
    assert len(interrupted) == 1 and interrupted[0]["images_committed"] == 2
    finished = office.entries(action="gallery_ingest")[-1].to_dict()["details"]
    with deployment.sessions() as session:
        total = session.scalar(select(func.count()).select_from(GalleryImage))
    assert interrupted[0]["images_committed"] + finished["images_added"] == total == 4

    curation.governed_ingest(deployment, office.curator, manifest, SPEC, workers=1)  # a clean rerun
    assert len(office.entries(action="gallery_ingest_interrupted")) == 1  # each killed run ledgered once
