"""Acting on a deployment as an authenticated user: every such command takes a token, from a file only its
owner can read (--token-file) or the environment (FACELEDGER_TOKEN). A token typed as `--token VALUE` is in
the process's arguments, which every user of the machine can read (`ps`, /proc): it still works, with a
warning, for scripts written before --token-file."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from faceledger.cli.options import make_settings
from faceledger.errors import InvalidInput
from faceledger.policy.governance import ActorView
from faceledger.services.people.accounts import authenticate_token
from faceledger.services.runtime.deployment import Deployment, open_deployment

TOKEN_FILE_MAX_BYTES = 4096  # a token is ~43 characters; anything much bigger is not a token file
ARGUMENT_WARNING = (
    "faceledger: warning: --token is deprecated: a token on the command line can be read by every user of this "
    "machine (ps, /proc); put it in a file only you can read and pass --token-file PATH, or set FACELEDGER_TOKEN"
)


def _warn_if_typed(ctx: typer.Context, value: str | None) -> str | None:
    source = ctx.get_parameter_source("token")  # by name: typer carries its own copy of click's enum
    if value is not None and source is not None and source.name == "COMMANDLINE":
        typer.echo(ARGUMENT_WARNING, err=True)
    return value


TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="FACELEDGER_TOKEN",
        show_envvar=True,
        show_default=False,
        callback=_warn_if_typed,
        help="Your API token from $FACELEDGER_TOKEN. Deprecated as an argument (others see it in `ps`): "
        "use --token-file.",
    ),
]
TokenFileOption = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar="FACELEDGER_TOKEN_FILE",
        show_envvar=True,
        show_default=False,
        metavar="PATH",
        help="A file holding your API token, readable by you only (chmod 600).",
    ),
]


def read_token_file(path: Path) -> str:
    """The token in a file that only its owner can read or write; refused (naming why) otherwise."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise InvalidInput(f"--token-file {path}: not a regular file")
        if info.st_mode & 0o077:
            raise InvalidInput(
                f"--token-file {path}: readable or writable by others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); run chmod 600 {path}"
            )
        with path.open("rb") as handle:
            data = handle.read(TOKEN_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"--token-file {path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > TOKEN_FILE_MAX_BYTES:
        raise InvalidInput(f"--token-file {path}: larger than {TOKEN_FILE_MAX_BYTES} bytes; not a token file")
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"--token-file {path}: a token is plain ASCII text") from exc
    if not token:
        raise InvalidInput(f"--token-file {path}: the file is empty")
    return token


def _token(token: str | None, token_file: Path | None) -> str | None:
    return read_token_file(token_file) if token_file is not None else token  # a file given wins over the rest


@contextmanager
def acting(
    data_dir: Path | None, token: str | None, *, token_file: Path | None = None, **overrides: Any
) -> Iterator[tuple[Deployment, ActorView]]:
    """Open the deployment and authenticate; an unknown token is refused (and ledgered) before anything."""
    secret = _token(token, token_file)  # a bad token file is refused before the deployment is opened
    deployment = open_deployment(make_settings(**overrides), data_dir)
    try:
        yield deployment, authenticate_token(deployment, secret)
    finally:
        deployment.close()
