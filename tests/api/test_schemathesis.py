"""Property-based checks of the JSON API against its own OpenAPI document, with Schemathesis.

Every operation in /openapi.json (41 today; the pages under /ui are not in it) gets requests that
Schemathesis generates from the schema, valid and invalid alike, once as the admin and once as the analyst
(each with a bearer token). Each user has a fresh SQLite deployment with the test office: every role, a grant
and the open case C-1. Each response must pass two checks:

- not_a_server_error: no 5xx, whatever is sent (an exception escaping the app fails the test too);
- response_schema_conformance: when the schema documents a response's status (2xx, 422), the body
  matches what it documents. Refusals and misses (401, 403, 404, 409, 415) are not in the schema, so
  this check leaves them alone; status_code_conformance is not run.

The run is bounded and repeatable. The fuzzing phase sends at most MAX_EXAMPLES requests per operation
and user. The coverage phase adds its deterministic boundary, missing-field and wrong-type cases, but not
the requests with methods an operation lacks (405s). There is no deadline, and generation is derandomised
with a fixed seed. That comes to about 2,300 requests in all.

One guard: POST /api/v1/gallery/jobs starts a background ingest of a folder on the server. A generated
path that exists here (say "/") is replaced with one that does not; everything else goes out as generated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.config import SchemathesisConfig

from faceledger.api.app import create_app
from faceledger.config import Settings
from faceledger.services.runtime.deployment import init_deployment
from faceledger.types import IndexBackend
from tests.office import make_office

USERS = ("admin", "analyst")
MAX_EXAMPLES = 15
SEED = 20260114
INGEST = ("POST", "/api/v1/gallery/jobs")


@dataclass
class Served:
    app: FastAPI
    headers: dict[str, str]
    missing: Path  # a path that does not exist, for the ingest guard


@pytest.fixture(scope="module", params=USERS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One deployment per user, shared by that user's operations."""
    folder = tmp_path_factory.mktemp(f"schemathesis-{request.param}")
    deployment = init_deployment(Settings(workers=1), folder / "data", IndexBackend.EXACT)
    try:
        office = make_office(deployment)
        app = create_app(deployment.settings, deployment.data_dir)
        yield Served(app, {"Authorization": f"Bearer {office.tokens[request.param]}"}, folder / "no-such-folder")
    finally:
        deployment.close()


# The document /openapi.json serves (app.openapi() is what that route returns; building it needs no deployment).
# A module-level schema rather than schemathesis.pytest.from_fixture: that lazy loader sets Node._nodeid, which
# pytest 9.2 no longer has.
# The coverage phase's requests with methods an operation does not have (405s) are left out, for time.
CONFIG = SchemathesisConfig.from_dict({"seed": SEED, "phases": {"coverage": {"unexpected-methods": []}}})
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi(), config=CONFIG)


def _exists(path: str) -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, served: Served) -> None:
    if (case.method.upper(), case.path) == INGEST and isinstance(case.body, dict):
        path = case.body.get("path")
        if isinstance(path, str) and _exists(path):
            case.body["path"] = str(served.missing)
    # In process: Schemathesis runs the app's lifespan (which opens the deployment) for each test and its
    # pytest plugin ends it at teardown.
    case.call_and_validate(
        app=served.app, headers=served.headers, checks=[not_a_server_error, response_schema_conformance]
    )
