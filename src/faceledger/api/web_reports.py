"""Auditors' report pages: the accountability report, the weekly usage report, and the anomaly audit."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from faceledger.api.deps import PageCaller, deployment, page_rule
from faceledger.api.pages import attempt, render
from faceledger.policy.governance import Action
from faceledger.services.oversight import reports

router = APIRouter(prefix="/ui", include_in_schema=False)


def this_week(request: Request) -> str:
    year, week, _ = deployment(request).clock.now().isocalendar()
    return f"{year}-W{week:02d}"


def _anomalies(request: Request, actor: Any) -> list[dict[str, Any]] | None:
    if not request.query_params.get("anomalies"):
        return None
    try:
        from faceledger.services.oversight.anomalies import find_anomalies
    except ImportError:  # pragma: no cover - arrives with the anomaly audit
        return []
    return [finding.to_dict() for finding in find_anomalies(deployment(request), actor)]


@router.get("/reports", response_class=HTMLResponse, **page_rule(Action.VIEW_LEDGER))
def reports_page(request: Request, caller: PageCaller) -> Response:
    def act() -> Response:
        return render(
            request,
            caller,
            "reports.html",
            "Reports",
            this_week=this_week(request),
            anomalies=_anomalies(request, caller.actor),
        )

    return attempt(request, caller, act, "error.html", "Reports")


@router.get("/reports/accountability", response_class=HTMLResponse, **page_rule(Action.VIEW_LEDGER))
def accountability(request: Request, caller: PageCaller, days: Annotated[int, Query(ge=1, le=3660)] = 365) -> Response:
    def act() -> Response:
        with tempfile.TemporaryDirectory() as folder:
            written = reports.accountability(deployment(request), caller.actor, Path(folder), days=days)
            return HTMLResponse(written.html.read_text())

    return attempt(request, caller, act, "error.html", "Accountability report")


@router.get("/reports/usage", response_class=HTMLResponse, **page_rule(Action.VIEW_LEDGER))
def usage(request: Request, caller: PageCaller, week: Annotated[str, Query(max_length=10)] = "") -> Response:
    def act() -> Response:
        with tempfile.TemporaryDirectory() as folder:
            written = reports.usage_report(deployment(request), caller.actor, week or this_week(request), Path(folder))
            return HTMLResponse(written.html.read_text())

    return attempt(request, caller, act, "error.html", "Usage report")
