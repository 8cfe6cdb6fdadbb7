"""`faceledger witness check | public-key`: an independent witness of a faceledger log (transparency/witness.py).
Needs no deployment: only its own state folder and the log's public key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli.transparency import read_checkpoint_file
from faceledger.transparency.verify import Checkpoint, VerificationFailed, VerifierKey
from faceledger.transparency.witness import WitnessRefused, WitnessState, check, from_url

witness_app = typer.Typer(
    help="Witness a faceledger log: refuse rollbacks and forks, cosign the rest.", no_args_is_help=True
)

StateOption = Annotated[Path, typer.Option("--state", help="This witness's folder: its key and the last checkpoint.")]
NameOption = Annotated[
    str | None, typer.Option("--name", help="This witness's name (first run; e.g. city.example/w1).")
]


def _refuse(message: str) -> typer.Exit:
    typer.echo(f"faceledger witness: {' '.join(message.split())}", err=True)
    return typer.Exit(1)


@witness_app.command("check")
def check_command(
    state: StateOption,
    public_key: Annotated[
        Path, typer.Option("--public-key", help="The log's public key (faceledger ledger public-key).")
    ],
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="The log's new checkpoint.")] = None,
    proof: Annotated[
        Path | None, typer.Option("--proof", help="Consistency proof from the last accepted checkpoint (JSON).")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="Fetch both from the log's API at this base URL.")] = None,
    name: NameOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the cosigned checkpoint here too.")] = None,
) -> None:
    """Accept the log's new checkpoint if its key signed it and it extends the last one accepted; print it
    cosigned. Exit 1, with one line naming the sizes, on a rollback, a fork or a bad signature."""
    if (url is None) == (checkpoint is None):
        raise _refuse("give --checkpoint FILE (with --proof FILE after the first) or --url URL")
    try:
        log_key = VerifierKey.parse(read_checkpoint_file(public_key))
        folder = WitnessState(state)
        if url is not None:
            accepted = from_url(folder, log_key, url, name)
        else:
            assert checkpoint is not None
            new = Checkpoint.parse(read_checkpoint_file(checkpoint))
            given = json.loads(read_checkpoint_file(proof)) if proof is not None else None
            accepted = check(folder, log_key, new, given, name)
    except (WitnessRefused, VerificationFailed) as exc:
        raise _refuse(str(exc)) from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise _refuse(f"the proof is not a consistency proof: {exc}") from None
    text = accepted.checkpoint.text()
    if out is not None:
        out.write_text(text)
    since = "first checkpoint seen" if accepted.previous_size is None else f"extends {accepted.previous_size}"
    typer.echo(
        f"accepted {accepted.checkpoint.origin} at {accepted.checkpoint.size} entries ({since}); cosigned by "
        f"{accepted.witness_key.name}",
        err=True,
    )
    typer.echo(text, nl=False)


@witness_app.command("public-key")
def public_key_command(state: StateOption, name: NameOption = None) -> None:
    """This witness's public key (C2SP vkey), for whoever checks its cosignatures."""
    try:
        key, _ = WitnessState(state).key(name)
    except WitnessRefused as exc:
        raise _refuse(str(exc)) from None
    typer.echo(key.text())
