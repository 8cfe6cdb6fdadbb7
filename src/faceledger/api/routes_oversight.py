"""The gallery, the ledger, opt-out, retention and the measured accuracy."""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from faceledger.api.deps import MAX_ID, PUBLIC, CurrentActor, DeploymentDep, RowId, rule
from faceledger.api.responses import (
    JPEG,
    AccountabilityReport,
    Accuracy,
    FalseMatchPublic,
    GalleryStats,
    IngestJobPublic,
    IngestStarted,
    LedgerEntryPublic,
    ModelPublic,
    OperatingThresholdPublic,
    OptOutPublic,
    Removal,
    RetentionRun,
    RetentionSchedule,
    UsageReport,
    VerificationPublic,
)
from faceledger.api.schemas import IngestCreate, OptOutConfirm
from faceledger.api.uploads import saved_upload
from faceledger.errors import FaceledgerError
from faceledger.policy.governance import Action
from faceledger.services.gallery import optout, retention
from faceledger.services.gallery.curation import (
    IngestReport,
    SourceSpec,
    check_ingest_input,
    governed_ingest,
    governed_jobs,
    governed_remove,
    governed_stats,
)
from faceledger.services.governance.operating_threshold import current_threshold
from faceledger.services.oversight import audit_ledger, reports

router = APIRouter(prefix="/api/v1")
log = logging.getLogger(__name__)


@router.get("/gallery", tags=["gallery"], **rule(Action.VIEW_GALLERY))
def gallery(actor: CurrentActor, deployment: DeploymentDep) -> GalleryStats:
    """Images, faces, sources with their legal basis, and the index's state."""
    return GalleryStats.model_validate(governed_stats(deployment, actor))


@router.get("/gallery/jobs", tags=["gallery"], **rule(Action.VIEW_GALLERY))
def jobs(request: Request, actor: CurrentActor, deployment: DeploymentDep) -> list[IngestJobPublic]:
    """Ingest jobs, newest first, with the progress of those still running (from the database, so any
    server process shows it, whichever one runs the job)."""
    return [IngestJobPublic.model_validate(job) for job in governed_jobs(deployment, actor)]


@router.post("/gallery/jobs", tags=["gallery"], status_code=202, **rule(Action.CURATE_GALLERY))
def start_ingest(body: IngestCreate, request: Request, actor: CurrentActor, deployment: DeploymentDep) -> IngestStarted:
    """Ingest a folder or manifest that is on the server, in the background; follow it at /gallery/jobs."""
    path = Path(body.path)
    check_ingest_input(deployment, actor, path)  # missing or outside the ingest roots: one refusal, ledgered
    metrics = request.app.state.metrics

    def tick(done: int, total: int, report: IngestReport) -> None:  # this process's gauges; the job row has it all
        metrics.ingest_done.set(done)
        metrics.ingest_total.set(total)

    def run() -> None:
        spec = SourceSpec(body.source, body.legal_basis, body.collection_method, body.contact)
        try:
            governed_ingest(deployment, actor, path, spec, on_progress=tick)
        except FaceledgerError as exc:  # the job row and the ledger say what happened
            log.warning("ingest of %s refused or failed: %s", path, exc)
        except Exception:  # a thread's error would otherwise vanish; the job shows as interrupted
            log.exception("ingest of %s failed", path)

    threading.Thread(target=run, name="ingest", daemon=True).start()
    return IngestStarted(started=True, input=body.path)


@router.delete("/gallery/images/{sha256}", tags=["gallery"], **rule(Action.CURATE_GALLERY))
def remove_image(sha256: str, actor: CurrentActor, deployment: DeploymentDep) -> Removal:
    """Remove an image completely: rows, index entries, thumbnails."""
    return Removal.model_validate(governed_remove(deployment, actor, sha256=sha256))


@router.get("/ledger", tags=["ledger"], **rule(Action.VIEW_LEDGER))
def ledger_entries(
    actor: CurrentActor,
    deployment: DeploymentDep,
    since: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=60)] = None,
    outcome: Annotated[str | None, Query(pattern="^(done|refused)$")] = None,
    case_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[LedgerEntryPublic]:
    shown = audit_ledger.show(
        deployment, actor, since=since, limit=limit, action=action, outcome=outcome, case_id=case_id
    )
    return [LedgerEntryPublic.model_validate(entry) for entry in shown]


@router.post("/ledger/verify", tags=["ledger"], **rule(Action.VIEW_LEDGER))
def verify(actor: CurrentActor, deployment: DeploymentDep) -> VerificationPublic:
    """Recompute the chain and check signed checkpoints; names the first bad entry."""
    return VerificationPublic.model_validate(audit_ledger.verify(deployment, actor))


@router.post("/optouts", tags=["opt-out"], status_code=201, **rule(Action.OPT_OUT))
def submit_optout(
    photo: Annotated[UploadFile, File()],
    contact: Annotated[str, Form(min_length=1, max_length=500)],
    actor: CurrentActor,
    deployment: DeploymentDep,
    request: Request,
) -> OptOutPublic:
    with saved_upload(photo, deployment, field="photo") as path:
        submitted = optout.submit(deployment, actor, path, contact)
    return OptOutPublic.model_validate(submitted)


@router.get("/optouts/{request_id}", tags=["opt-out"], **rule(Action.OPT_OUT))
def optout_status(request_id: RowId, actor: CurrentActor, deployment: DeploymentDep) -> OptOutPublic:
    return OptOutPublic.model_validate(optout.status(deployment, actor, request_id))


@router.post("/optouts/{request_id}/confirm", tags=["opt-out"], **rule(Action.OPT_OUT))
def confirm_optout(
    request_id: RowId, body: OptOutConfirm, actor: CurrentActor, deployment: DeploymentDep
) -> OptOutPublic:
    """Delete the matched faces confirmed as the person (step two); the rest stay untouched."""
    return OptOutPublic.model_validate(optout.confirm(deployment, actor, request_id, body.face_ids))


@router.get(
    "/optouts/{request_id}/faces/{face_id}.jpg",
    tags=["opt-out"],
    response_class=Response,
    responses=JPEG,
    **rule(Action.OPT_OUT),
)
def optout_match_image(request_id: RowId, face_id: RowId, actor: CurrentActor, deployment: DeploymentDep) -> Response:
    """A matched face's thumbnail, for the curator deciding whether it is the person."""
    return Response(optout.match_image(deployment, actor, request_id, face_id), media_type="image/jpeg")


@router.get("/retention", tags=["retention"], **rule(PUBLIC))
def retention_schedule(deployment: DeploymentDep) -> RetentionSchedule:
    """The published retention schedule."""
    return RetentionSchedule(retention.schedule(deployment.settings))


@router.post("/retention/run", tags=["retention"], **rule(Action.RUN_RETENTION))
def retention_run(actor: CurrentActor, deployment: DeploymentDep) -> RetentionRun:
    return RetentionRun.model_validate(retention.run(deployment, actor))


@router.get("/accuracy", tags=["accuracy"], **rule(PUBLIC))
def accuracy(deployment: DeploymentDep) -> Accuracy:
    """What a distance means here: the calibration measured on real faces, at the deployed threshold."""
    table = deployment.calibration
    operating = current_threshold(deployment)  # the threshold a search would use now, and its promise
    threshold = operating.threshold
    at = table.false_match(threshold)
    return Accuracy(
        model=ModelPublic.model_validate(deployment.config["model"]),
        threshold=threshold,
        false_match_at_threshold=FalseMatchPublic.model_validate(at.to_dict()),
        false_non_match_rate_at_threshold=table.false_non_match_rate(threshold),
        measured_on=table.dataset,
        method=table.method,
        impostor_pairs=table.impostor_pairs,
        genuine_pairs=table.genuine_pairs,
        operating_threshold=OperatingThresholdPublic.model_validate(operating.to_dict()),
    )


@router.get("/reports/usage", tags=["reports"], **rule(Action.VIEW_LEDGER))
def usage_report(
    actor: CurrentActor, deployment: DeploymentDep, week: Annotated[str, Query(pattern=r"^\d{4}-W\d{2}$")]
) -> UsageReport:
    """Searches in one ISO week by purpose, offence type, department and user; outcomes; refusals."""
    with tempfile.TemporaryDirectory() as folder:
        written = reports.usage_report(deployment, actor, week, Path(folder))
        return UsageReport.model_validate_json(written.json.read_text())


@router.get("/reports/accountability", tags=["reports"], **rule(Action.VIEW_LEDGER))
def accountability_report(
    actor: CurrentActor, deployment: DeploymentDep, days: Annotated[int, Query(ge=1, le=3660)] = 365
) -> AccountabilityReport:
    """The accountability report's facts (the HTML is at /ui/reports/accountability)."""
    with tempfile.TemporaryDirectory() as folder:
        written = reports.accountability(deployment, actor, Path(folder), days=days)
        return AccountabilityReport.model_validate_json(written.json.read_text())
