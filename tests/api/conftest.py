from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from faceledger.api.app import create_app
from faceledger.services.runtime.deployment import Deployment
from tests.office import Office, make_office


class Api:
    """An office and a client of its HTTP service; `as_(user)` sends that user's bearer token."""

    def __init__(self, office: Office, client: TestClient) -> None:
        self.office, self.client = office, client

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.office.tokens[user]}"}


@pytest.fixture
def api(make_deployment: Callable[..., Deployment]) -> Iterator[Api]:
    office = make_office(make_deployment())
    app = create_app(office.deployment.settings, office.deployment.data_dir)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(office, client)
