"""Acting on a deployment as an authenticated user: every such command takes a token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from faceledger.cli.options import make_settings
from faceledger.policy.governance import ActorView
from faceledger.services.accounts import authenticate_token
from faceledger.services.deployment import Deployment, open_deployment

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="FACELEDGER_TOKEN",
        show_envvar=True,
        show_default=False,
        help="Your API token (default: $FACELEDGER_TOKEN).",
    ),
]


@contextmanager
def acting(data_dir: Path | None, token: str | None, **overrides: Any) -> Iterator[tuple[Deployment, ActorView]]:
    """Open the deployment and authenticate; an unknown token is refused (and ledgered) before anything."""
    deployment = open_deployment(make_settings(**overrides), data_dir)
    try:
        yield deployment, authenticate_token(deployment, token)
    finally:
        deployment.close()
