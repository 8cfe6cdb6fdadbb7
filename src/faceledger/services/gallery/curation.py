"""Gallery changes as governed actions: only curators and admins ingest or remove, and every change is
on the ledger (what was asked, what was added or removed, the gallery version after it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.errors import NotIngestable
from faceledger.policy.governance import Action, ActorView, Context
from faceledger.services.gallery._ingest import (
    IngestReport,
    ProgressCallback,
    SourceSpec,
    close_interrupted,
    ingest,
)
from faceledger.services.gallery._removal import Removal, remove_from_gallery
from faceledger.services.gallery.inputs import IngestItem, input_roots, read_ingest_inputs
from faceledger.services.gallery.stats import gallery_stats
from faceledger.services.governance.guard import append, governed, no_context, record_refusal, require_role
from faceledger.services.runtime.deployment import Deployment, rebuild_index
from faceledger.store import events
from faceledger.store.db import transaction
from faceledger.store.models import IngestJob
from faceledger.types import IngestJobStatus

__all__ = [
    "IngestReport",
    "Removal",
    "SourceSpec",
    "check_ingest_input",
    "governed_ingest",
    "governed_jobs",
    "governed_rebuild",
    "governed_remove",
    "governed_stats",
]


def _allowed(deployment: Deployment, actor: ActorView, action: Action, details: dict[str, Any]) -> None:
    governed(deployment, actor, action, no_context(deployment), lambda _s, _c: None, details=details)


def _record(deployment: Deployment, actor: ActorView, event_at: Callable[[int], events.Event]) -> None:
    """Ledger what was done to the gallery, with the gallery's version after it."""
    with transaction(deployment.sessions) as session:
        append(session, actor, event_at(deployment.gallery_version(session)))


def governed_ingest(
    deployment: Deployment,
    actor: ActorView,
    path: Path,
    spec: SourceSpec,
    *,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
    ray_address: str | None = None,
) -> IngestReport:
    asked: dict[str, Any] = {"input": str(path), "source": spec.name, "legal_basis": spec.legal_basis}
    items = _checked_inputs(deployment, actor, path, asked, read_all=True)

    def start(session: Session, _: Context) -> None:
        # What a killed run on this input had committed is accounted for before the rerun skips it.
        for closed in close_interrupted(session, path):
            append(
                session,
                actor,
                events.GalleryIngestInterrupted(
                    **asked,
                    job=closed["job"],
                    images_committed=closed["images_committed"],
                    faces_committed=closed["faces_committed"],
                ),
            )
        append(session, actor, events.GalleryIngestStart(**asked))  # a killed run is on the ledger too

    governed(deployment, actor, Action.CURATE_GALLERY, no_context(deployment), start, details=asked)
    report = ingest(
        deployment, path, spec, workers=workers, on_progress=on_progress, items=items, ray_address=ray_address
    )
    _record(
        deployment,
        actor,
        lambda version: events.GalleryIngest(
            **asked,
            job=report.job_id,
            files_seen=report.files_seen,
            images_added=report.images_added,
            faces_added=report.faces_added,
            images_known=report.images_known,
            failures=len(report.failures),
            faces_skipped_optout=report.faces_skipped_optout,
            gallery_version=version,
        ),
    )
    return report


def check_ingest_input(deployment: Deployment, actor: ActorView, path: Path) -> None:
    """Refuse (ledgered) an input outside the ingest roots before a background ingest starts."""
    _checked_inputs(deployment, actor, path, {"input": str(path)}, read_all=False)


def _checked_inputs(
    deployment: Deployment, actor: ActorView, path: Path, asked: dict[str, Any], *, read_all: bool
) -> list[IngestItem]:
    """Curators only (asked before the filesystem is touched); then the roots, every file checked."""
    require_role(deployment, actor, Action.CURATE_GALLERY)
    try:
        if not read_all:
            input_roots(deployment).check(path)
            return []
        return read_ingest_inputs(deployment, path)
    except NotIngestable as exc:
        raise record_refusal(deployment, actor, events.EventName.GALLERY_INGEST, [str(exc)], details=asked) from exc


def governed_remove(deployment: Deployment, actor: ActorView, **which: Any) -> Removal:
    asked = {key: value for key, value in which.items() if value is not None}
    _allowed(deployment, actor, Action.CURATE_GALLERY, asked)
    removal = remove_from_gallery(deployment, **which)
    _record(
        deployment, actor, lambda version: events.GalleryRemove(**asked, **removal.to_dict(), gallery_version=version)
    )
    return removal


def governed_rebuild(deployment: Deployment, actor: ActorView) -> None:
    _allowed(deployment, actor, Action.CURATE_GALLERY, {"index": "rebuild"})
    drift = rebuild_index(deployment)
    faces = deployment.index.count()
    _record(
        deployment,
        actor,
        lambda version: events.IndexRebuild(faces=faces, drift_before=drift.to_dict(), gallery_version=version),
    )


def governed_stats(deployment: Deployment, actor: ActorView) -> dict[str, Any]:
    def work(_session: Session, _: Context) -> None:
        return None

    governed(deployment, actor, Action.VIEW_GALLERY, no_context(deployment), work)
    return gallery_stats(deployment)


def governed_jobs(deployment: Deployment, actor: ActorView, limit: int = 50) -> list[dict[str, Any]]:
    """Ingest jobs, newest first, with the progress of those still running (from the database, so any
    server process shows it, whichever one runs the job)."""
    governed(deployment, actor, Action.VIEW_GALLERY, no_context(deployment), lambda _session, _context: None)
    with deployment.sessions() as session:
        rows = session.scalars(select(IngestJob).order_by(IngestJob.id.desc()).limit(limit)).all()
        return [
            {
                "job": row.id,
                "input": row.input_path,
                "status": row.status,
                "started_at": row.started_at.isoformat(),
                "images_added": row.images_added,
                "failures": row.failures,
                "progress": _progress(row),
            }
            for row in rows
        ]


def _progress(row: IngestJob) -> dict[str, int] | None:
    if row.status != IngestJobStatus.RUNNING:
        return None
    return {"done": row.images_done, "total": row.images_total, "added": row.images_added, "failed": row.failures}
