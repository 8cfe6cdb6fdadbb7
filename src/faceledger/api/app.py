"""`create_app(settings)`: the JSON API, the pages, health and readiness, and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from faceledger import __version__
from faceledger.api import (
    errors,
    request_guard,
    routes_casework,
    routes_oversight,
    routes_people,
    routes_transparency,
    web,
    web_casework,
    web_enrol,
    web_reports,
    web_video,
)
from faceledger.api.deps import PUBLIC, AppState, DeploymentDep, rule
from faceledger.api.pages import mount_static, page_error
from faceledger.api.responses import Health, Ready
from faceledger.clock import Clock
from faceledger.config import Settings
from faceledger.services.governance import refusal_counter
from faceledger.services.runtime import staging
from faceledger.services.runtime.analyser import Analyser
from faceledger.services.runtime.deployment import open_deployment


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "faceledger_http_requests", "HTTP requests", ["route", "status"], registry=self.registry
        )
        self.searches = Counter(
            "faceledger_searches", "Governed searches by outcome", ["outcome"], registry=self.registry
        )
        self.search_seconds = Histogram("faceledger_search_seconds", "Governed search latency", registry=self.registry)
        self.refusals = Counter("faceledger_refusals", "Requests refused (401 or 403)", registry=self.registry)
        self.ingest_done = Gauge(
            "faceledger_ingest_images_done", "Images analysed by the running ingest job", registry=self.registry
        )
        self.ingest_total = Gauge(
            "faceledger_ingest_images_total", "Images the running ingest job will analyse", registry=self.registry
        )


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI operationId: its function's name (`list_cases`), which a generated client uses
    as its function's name; tests/api/test_openapi_client.py holds them unique."""
    return route.name


def create_app(
    settings: Settings, data_dir: Path | None = None, *, analyser: Analyser | None = None, clock: Clock | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        deployment = open_deployment(settings, data_dir, analyser=analyser, clock=clock)
        app.state.faceledger = AppState(deployment)
        refusal_counter.flush_closed(deployment)  # counts left by a crash reach the ledger now
        try:
            with staging.serving(deployment):  # the first server up drops step-one uploads left by killed ones
                yield
        finally:
            refusal_counter.flush_closed(deployment, everything=True)
            deployment.close()

    about = "Accountable face search. Candidates are investigative leads, never identifications."
    app = FastAPI(
        title="faceledger",
        version=__version__,
        lifespan=lifespan,
        description=about,
        responses=errors.ERROR_RESPONSES,
        generate_unique_id_function=operation_id,
    )
    metrics = Metrics()
    app.state.metrics = metrics
    errors.install(app, page_error=page_error)

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.monotonic()
        if hasattr(request.app.state, "faceledger"):  # expired step-one uploads go on requests: no timer
            await run_in_threadpool(staging.sweep_if_due, request.app.state.faceledger.deployment)
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, str(response.status_code)).inc()
        if response.status_code in (401, 403):
            metrics.refusals.inc()
        if path == "/api/v1/searches" and request.method == "POST":
            metrics.search_seconds.observe(time.monotonic() - started)
            metrics.searches.labels("done" if response.status_code == 201 else "refused").inc()
        return response

    @app.get("/health", tags=["service"], **rule(PUBLIC))
    def health() -> Health:
        return Health(status="ok", version=__version__)

    @app.get("/ready", tags=["service"], **rule(PUBLIC))
    def ready(deployment: DeploymentDep) -> Ready:
        with deployment.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return Ready(status="ready", gallery_faces=deployment.index.count())

    @app.get("/metrics", tags=["service"], include_in_schema=False, **rule(PUBLIC))
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for router in (
        routes_people.router,
        routes_casework.router,
        routes_oversight.router,
        routes_transparency.router,
        web.router,
        web_casework.router,
        web_video.router,
        web_reports.router,
        web_enrol.router,
    ):
        app.include_router(router)
    mount_static(app)
    request_guard.install(app)
    return app


def app_from_environment() -> FastAPI:
    """The app for one of several server processes (`faceledger serve --workers N`): settings, data
    directory included, from the environment."""
    return create_app(Settings())
