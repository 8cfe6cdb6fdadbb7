"""The Ed25519 key that signs checkpoints: made 0600 at init, outside the data directory; refused when other
users could read it or when it would sit inside the data directory (a copy of which must not sign)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from faceledger.config import Settings
from faceledger.errors import KeyProblem
from faceledger.services.oversight import transparency
from faceledger.services.runtime.deployment import Deployment, init_deployment
from faceledger.types import IndexBackend

MakeDeployment = Callable[..., Deployment]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_made_private_outside_the_data_directory(make_deployment: MakeDeployment) -> None:
    deployment = make_deployment()
    path = transparency.signing_key_path(deployment)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.resolve().is_relative_to(deployment.data_dir.resolve())
    issued = transparency.issue_checkpoint(deployment)
    assert issued.checkpoint.signed_by(transparency.public_key(deployment)) and not issued.key_created


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_a_key_others_can_read_is_refused(make_deployment: MakeDeployment, mode: int) -> None:
    deployment = make_deployment()
    path = transparency.signing_key_path(deployment)
    os.chmod(path, mode)
    with pytest.raises(KeyProblem, match="can be read by other users"):
        transparency.issue_checkpoint(deployment)
    with pytest.raises(KeyProblem, match="chmod 600"):
        transparency.public_key(deployment)


def test_a_key_inside_the_data_directory_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(ledger_signing_key=data / "signing.key")
    with pytest.raises(KeyProblem, match="inside the data directory"):
        init_deployment(settings, data, IndexBackend.EXACT)
    assert not (data / "signing.key").exists() and not data.exists()


def test_a_key_named_elsewhere_is_made_there(tmp_path: Path) -> None:
    elsewhere = tmp_path / "hsm-mount" / "faceledger.ed25519"
    deployment = init_deployment(Settings(ledger_signing_key=elsewhere), tmp_path / "data", IndexBackend.EXACT)
    try:
        assert elsewhere.is_file() and stat.S_IMODE(elsewhere.stat().st_mode) == 0o600
        assert transparency.issue_checkpoint(deployment).checkpoint.signed_by(transparency.public_key(deployment))
    finally:
        deployment.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_linked_key_is_refused(make_deployment: MakeDeployment) -> None:
    """A hard link could put a second name of the key inside the data directory; a symbolic link could
    point the key anywhere: both are refused on the opened file."""
    deployment = make_deployment()
    path = transparency.signing_key_path(deployment)
    os.link(path, deployment.data_dir / "copy.ed25519")
    with pytest.raises(KeyProblem, match="hard links"):
        transparency.public_key(deployment)
    os.unlink(deployment.data_dir / "copy.ed25519")
    moved = path.with_name("elsewhere.ed25519")
    os.replace(path, moved)
    path.symlink_to(moved)
    with pytest.raises(KeyProblem, match="symbolic link"):
        transparency.public_key(deployment)
