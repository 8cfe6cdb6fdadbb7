"""A new deployment with its first admin and its ledger's signing key."""

from __future__ import annotations

from pathlib import Path

from faceledger.config import Settings
from faceledger.services.people.accounts import IssuedToken, bootstrap_admin
from faceledger.services.runtime.deployment import Deployment, init_deployment
from faceledger.store import events, ledger
from faceledger.store.db import transaction
from faceledger.types import IndexBackend


def create_deployment(
    settings: Settings, data_dir: Path, backend: IndexBackend, *, admin: str, department: str
) -> tuple[Deployment, IssuedToken]:
    """Data directory, database, index, signing key, the first admin (whose token is shown once), and
    the ledger's first entry."""
    deployment = init_deployment(settings, data_dir, backend)
    with transaction(deployment.sessions) as session:
        first = events.DeploymentInit(index_backend=backend.value, model=deployment.config["model"])
        ledger.append(session, ledger.SYSTEM, first)
    return deployment, bootstrap_admin(deployment, admin, department)
