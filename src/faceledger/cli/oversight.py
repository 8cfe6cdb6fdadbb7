"""`faceledger ledger ...`, `retention ...` and `optout ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli.errors import EXIT_CODES, LEDGER_UNVERIFIABLE_EXIT_CODE, reports_errors
from faceledger.cli.options import DataDirOption, JsonOption, emit_json, make_settings
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.errors import InvalidInput, LedgerTampered
from faceledger.services.gallery import optout, retention
from faceledger.services.oversight import audit_ledger

ledger_app = typer.Typer(
    help="The tamper-evident ledger: verify, show, sign; checkpoints and proofs for outsiders.", no_args_is_help=True
)
retention_app = typer.Typer(help="The retention schedule and the purge it calls for.", no_args_is_help=True)
optout_app = typer.Typer(help="Opt-out requests: remove a person and keep them out.", no_args_is_help=True)


@ledger_app.command("verify")
@reports_errors
def ledger_verify(
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute the hash chain, the signed checkpoints and the anchor. Exit 0: verified; 8: tampered (the
    first bad entry is named); 20: unverifiable (no usable key or anchor, or entries no checkpoint covers)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        result = audit_ledger.verify(deployment, actor)
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        typer.echo(f"ledger verified: {result.entries} entries, {result.checkpoints} signed checkpoints")
    if result.status is audit_ledger.VerifyStatus.TAMPERED:
        typer.echo(
            f"faceledger: error: ledger does not verify at entry {result.first_bad_seq}: {result.problem}", err=True
        )
        raise typer.Exit(EXIT_CODES[LedgerTampered])
    if result.status is audit_ledger.VerifyStatus.UNVERIFIABLE:
        typer.echo(f"faceledger: error: ledger unverifiable (not verified): {result.problem}", err=True)
        raise typer.Exit(LEDGER_UNVERIFIABLE_EXIT_CODE)


@ledger_app.command("show")
@reports_errors
def ledger_show(
    since: Annotated[int, typer.Option("--since", help="Entries after this sequence number.")] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="How many.")] = 50,
    action: Annotated[str | None, typer.Option("--action", help="Only this action, e.g. search.")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="done or refused.")] = None,
    case_id: Annotated[int | None, typer.Option("--case-id", help="Only this case (its id).")] = None,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ledger entries in order (auditors and admins: all; a supervisor: their own department's)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        entries = audit_ledger.show(
            deployment, actor, since=since, limit=limit, action=action, outcome=outcome, case_id=case_id
        )
    if as_json:
        emit_json(entries)
        return
    for e in entries:
        why = f" — {'; '.join(e['reasons'])}" if e["reasons"] else ""
        typer.echo(f"{e['seq']:>6} {e['at'][:19]} {e['actor']:<14} {e['action']:<18} {e['outcome']}{why}")


@ledger_app.command("sign")
@reports_errors
def ledger_sign(data_dir: DataDirOption = None, token: TokenOption = None, token_file: TokenFileOption = None) -> None:
    """Add a signed checkpoint of the ledger's head now."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        seq = audit_ledger.sign(deployment, actor)
    typer.echo(f"signed checkpoint at entry {seq}")


@retention_app.command("schedule")
@reports_errors
def retention_schedule(as_json: JsonOption = False) -> None:
    """The published retention schedule."""
    rules = retention.schedule(make_settings())
    if as_json:
        emit_json(rules)
        return
    for what, rule in rules.items():
        typer.echo(f"{what}: {rule}")


@retention_app.command("run")
@reports_errors
def retention_run(
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Purge what the schedule says is due, and ledger it (admins)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        summary = retention.run(deployment, actor)
    if as_json:
        emit_json(summary)
        return
    purged = len(summary["searches_purged"])
    typer.echo(
        f"purged {purged} searches ({summary['candidates_deleted']} candidates, "
        f"{summary['probe_files_deleted']} probe files) of cases closed before {summary['cutoff'][:10]}"
    )


@optout_app.command("submit")
@reports_errors
def optout_submit(
    photo: Annotated[Path, typer.Argument(help="A photo of the person asking to be removed.")],
    contact: Annotated[str, typer.Option("--contact", help="How to tell them it is done.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Step one: keep a person out, and list the gallery faces their photo matches within the strict
    distance (curators, admins). Nothing is deleted until `optout confirm`."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        state = optout.submit(deployment, actor, photo, contact)
    _print_optout(state, as_json)


@optout_app.command("confirm")
@reports_errors
def optout_confirm(
    request: Annotated[int, typer.Argument(help="The request's number.")],
    face: Annotated[list[int] | None, typer.Option("--face", help="A matched face that is the person; repeat.")] = None,
    none: Annotated[bool, typer.Option("--none", help="None of the matches is the person.")] = False,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Step two: delete completely the matched faces you checked are the person; the others stay."""
    faces = face or []
    if bool(faces) == none:
        raise InvalidInput("name the faces that are the person (--face ID, repeated), or pass --none")
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        state = optout.confirm(deployment, actor, request, faces)
    _print_optout(state, as_json)


@optout_app.command("status")
@reports_errors
def optout_status(
    request: Annotated[int, typer.Argument(help="The request's number.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Where a request stands, and when it was completed."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        state = optout.status(deployment, actor, request)
    _print_optout(state, as_json)


def _print_optout(state: optout.OptOutStatus, as_json: bool) -> None:
    if as_json:
        emit_json(state.to_dict())
        return
    done = f", completed {state.completed_at:%Y-%m-%d}" if state.completed_at else ""
    typer.echo(
        f"opt-out request {state.request_id}: {state.status}{done}; {state.faces_removed} faces and "
        f"{state.images_removed} images removed; future ingests skip this person"
    )
    for match in state.matches:
        mark = "deleted" if match.confirmed else ("to check" if state.status == "pending" else "kept")
        typer.echo(f"  face {match.face_id}: distance {match.distance:.3f} ({mark})")
    if state.status == "pending":
        typer.echo(
            f"check each face (within {state.strict_distance:.2f}), then: faceledger optout confirm "
            f"{state.request_id} --face ID ... (or --none)"
        )
