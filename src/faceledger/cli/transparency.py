"""`faceledger ledger public-key | checkpoint | prove | consistency`: what an outsider needs to check the
ledger without trusting the operator (services/oversight/transparency.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli.errors import reports_errors
from faceledger.cli.options import DataDirOption, JsonOption, emit_json, make_settings
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.errors import InvalidInput
from faceledger.services.oversight import audit_ledger, transparency
from faceledger.services.runtime.deployment import open_deployment

_MAX_CHECKPOINT_BYTES = 64 * 1024


def read_checkpoint_file(path: Path) -> str:
    """A checkpoint file's text, refused unread when it cannot be one (a checkpoint is a few hundred bytes)."""
    try:
        if path.stat().st_size > _MAX_CHECKPOINT_BYTES:
            raise InvalidInput(f"{path}: {path.stat().st_size:,} bytes is not a checkpoint")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the checkpoint {path}: {exc}") from None


def register(ledger_app: typer.Typer) -> None:
    ledger_app.command("public-key")(public_key_command)
    ledger_app.command("checkpoint")(checkpoint_command)
    ledger_app.command("prove")(prove_command)
    ledger_app.command("consistency")(consistency_command)
    ledger_app.command("cosigned")(cosigned_command)


@reports_errors
def public_key_command(
    out: Annotated[Path | None, typer.Option("--out", help="Also write it to this file.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """The log's public key (C2SP vkey: NAME+KEYID+KEY), for the council to publish and witnesses to pin."""
    deployment = open_deployment(make_settings(), data_dir)
    try:
        text = transparency.public_key(deployment).text()
    finally:
        deployment.close()
    if out is not None:
        out.write_text(text + "\n")
    typer.echo(text)


@reports_errors
def checkpoint_command(
    out: Annotated[Path | None, typer.Option("--out", help="Write the checkpoint to this file too.")] = None,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sign the ledger's Merkle tree as it stands now (Ed25519, C2SP checkpoint format) and print it."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        issued = audit_ledger.signed_checkpoint(deployment, actor)
    text = issued.checkpoint.text()
    if out is not None:
        out.write_text(text)
    if as_json:
        emit_json(issued.to_dict())
        return
    if issued.key_created:
        typer.echo(f"made a new signing key; publish its public key: {issued.key.text()}", err=True)
    typer.echo(text, nl=False)


@reports_errors
def prove_command(
    entry: Annotated[int, typer.Argument(min=1, max=2**31 - 1, help="The ledger entry's number.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="A checkpoint this log signed.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """JSON proof (RFC 9162 audit path) that ENTRY is in the tree the checkpoint signed."""
    text = read_checkpoint_file(checkpoint)
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        emit_json(audit_ledger.prove_inclusion(deployment, actor, entry, text))


@reports_errors
def consistency_command(
    old: Annotated[Path, typer.Argument(help="The older checkpoint.")],
    new: Annotated[Path, typer.Argument(help="The newer checkpoint.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """JSON proof (RFC 9162) that the newer checkpoint's tree extends the older one's."""
    old_text, new_text = read_checkpoint_file(old), read_checkpoint_file(new)
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        emit_json(audit_ledger.prove_consistency(deployment, actor, old_text, new_text))


@reports_errors
def cosigned_command(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of this log as a witness returned it, cosigned.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Keep the witnesses' cosignatures on that checkpoint: /checkpoints/latest then serves them too."""
    text = read_checkpoint_file(checkpoint)
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        added = audit_ledger.keep_cosignatures(deployment, actor, text)
    typer.echo(f"kept the cosignatures of {', '.join(added)}" if added else "no new cosignature in it")
