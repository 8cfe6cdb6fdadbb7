"""Retention: the published schedule, and the run that purges what it says is due.

Probes and results (candidates, reviews, leads) of a case go `retention_results_days` after the case
closes; probes of refused searches are never stored beyond their hash on the ledger; ledger entries
stay (they hold no images). A purge is itself ledgered, naming what it removed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from faceledger.config import Settings
from faceledger.policy.governance import Action, ActorView, Context
from faceledger.services.governance.guard import append, governed, no_context
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events
from faceledger.store.db import checkpoint
from faceledger.store.governance_models import Candidate, Case, Search
from faceledger.types import CaseStatus

_STRAY_GRACE_S = 3600.0


def schedule(settings: Settings) -> dict[str, str]:
    days = settings.retention_results_days
    return {
        "probes and search results": f"deleted {days} days after the case closes",
        "probes of refused searches": "never stored; only their SHA-256 is on the ledger",
        "opt-out photos": "never stored; the face's embedding stays on the blocklist to keep the person out",
        "gallery images": "kept while their source's legal basis holds; removed completely on request or opt-out",
        "ledger entries": "kept for good; they hold ids, hashes and scores, never images or embeddings",
    }


def run(deployment: Deployment, actor: ActorView, *, now: datetime | None = None) -> dict[str, Any]:
    """Purge what is due as at `now` (default: the deployment's clock)."""
    at = (now or deployment.clock.now()).astimezone(UTC)
    cutoff = at - timedelta(days=deployment.settings.retention_results_days)

    def work(session: Session, _: Context) -> tuple[dict[str, Any], list[Path]]:
        due = (
            session.scalars(
                select(Search)
                .join(Case)
                .where(Case.status == CaseStatus.CLOSED.value, Case.closed_at <= cutoff, Search.purged_at.is_(None))
            )
            .unique()
            .all()
        )
        search_ids = [search.id for search in due]
        purged_files = {search.probe_thumbnail for search in due if search.probe_thumbnail}
        candidates = session.scalars(select(Candidate.id).where(Candidate.search_id.in_(search_ids))).all()
        session.execute(delete(Candidate).where(Candidate.search_id.in_(search_ids)))
        for search in due:
            search.purged_at, search.probe_thumbnail = at, None
        session.flush()
        kept = {path for path in session.scalars(select(Search.probe_thumbnail)) if path}
        files = _unreferenced_probe_files(deployment, kept, purged_files)
        summary = {
            "cutoff": cutoff.isoformat(),
            "searches_purged": search_ids,
            "candidates_deleted": len(candidates),
            "probe_files_deleted": len(files),
        }
        append(
            session,
            actor,
            events.RetentionPurge(
                cutoff=cutoff.isoformat(),
                searches_purged=tuple(search_ids),
                candidates_deleted=len(candidates),
                probe_files_deleted=len(files),
            ),
        )
        return summary, files

    summary, files = governed(deployment, actor, Action.RUN_RETENTION, no_context(deployment), work)
    for path in files:  # only once the purge has committed
        path.unlink(missing_ok=True)
    checkpoint(deployment.engine)  # deleted rows leave SQLite's write-ahead log too
    return summary


def _unreferenced_probe_files(deployment: Deployment, kept: set[str], purged: set[str]) -> list[Path]:
    """Probe faces no live search refers to: those of the searches just purged, and strays (a search refused
    at its last step). A stray younger than the grace period may belong to a search being stored, so it waits."""
    folder = deployment.data_dir / "probes"
    if not folder.exists():
        return []
    oldest = time.time() - _STRAY_GRACE_S  # the system's time: file times are written by it, not the deployment's clock
    found = []
    for path in sorted(folder.rglob("*.jpg")):
        relative = path.relative_to(deployment.data_dir).as_posix()
        if relative not in kept and (relative in purged or path.stat().st_mtime < oldest):
            found.append(path)
    return found
