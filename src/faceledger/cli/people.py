"""`faceledger user ...` and `faceledger authority ...`: who may act, and the council's grant."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from faceledger.cli.errors import reports_errors
from faceledger.cli.options import DataDirOption, JsonOption, emit_json, parse_date
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.services.governance import authority
from faceledger.services.governance.authority import AuthorityStatus
from faceledger.services.people import account_requests, accounts

user_app = typer.Typer(help="Users, roles, certification, tokens (admins).", no_args_is_help=True)
authority_app = typer.Typer(help="The council's authorisation and the kill switch.", no_args_is_help=True)
RoleOption = Annotated[
    list[str],
    typer.Option(
        "--role",
        metavar="ROLE",
        help="admin, council, curator, analyst, reviewer, supervisor, auditor (repeat for several).",
    ),
]


@user_app.command("add")
@reports_errors
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    roles: RoleOption,
    department: Annotated[str, typer.Option("--department", help="The user's department.")],
    certified_until: Annotated[
        str | None, typer.Option("--certified-until", help="Training valid until YYYY-MM-DD.")
    ] = None,
    display_name: Annotated[str, typer.Option("--name", help="Full name.")] = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask for a new user; a second admin approves (`user approve`), and the user enrols with the code
    delivered to their outbox file. While you are the only admin you may add the second admin alone."""
    until = parse_date(certified_until, "--certified-until") if certified_until else None
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        asked = account_requests.request_user(
            deployment,
            actor,
            username,
            roles=roles,
            department=department,
            display_name=display_name,
            certified_until=until,
        )
    print_request(asked, as_json)


def print_request(asked: account_requests.RequestPublic, as_json: bool) -> None:
    if as_json:
        emit_json(asked.to_dict())
    elif asked.status == "pending":
        typer.echo(
            f"request {asked.id} ({asked.kind} {asked.username}) is pending: another admin approves it "
            f"with `faceledger user approve {asked.id}`"
        )
    else:
        where = f"; enrolment code for the user in {asked.delivered_to}" if asked.delivered_to else ""
        typer.echo(f"request {asked.id} ({asked.kind} {asked.username}) {asked.status}{where}")


@user_app.command("list")
@reports_errors
def user_list(
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every user with roles, department and certification."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        users = accounts.list_users(deployment, actor)
    if as_json:
        emit_json([user.to_dict() for user in users])
        return
    for user in users:
        until = user.certified_until.isoformat() if user.certified_until else "not certified"
        state = " (disabled)" if user.disabled else ""
        typer.echo(f"{user.username}{state}: {', '.join(user.roles)}; {user.department}; certified until {until}")


@user_app.command("certify")
@reports_errors
def user_certify(
    username: Annotated[str, typer.Argument(help="Login name.")],
    until: Annotated[str, typer.Option("--until", help="Training valid until YYYY-MM-DD.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Record a user's training: analysts and reviewers cannot work once it expires."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        user = accounts.certify(deployment, actor, username, parse_date(until, "--until"))
    typer.echo(f"{user.username} certified until {until}")


@user_app.command("disable")
@reports_errors
def user_disable(
    username: Annotated[str, typer.Argument(help="Login name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (on the ledger).")] = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Disable a user: their tokens and sessions stop working at once (one admin: it only restricts;
    re-enabling, `user enable`, takes two)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        accounts.disable(deployment, actor, username, reason)
    typer.echo(f"{username} disabled")


@user_app.command("token")
@reports_errors
def user_token(
    username: Annotated[str, typer.Argument(help="Login name.")],
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Another API token: for yourself, printed once; for someone else, a request a second admin approves,
    whose code goes to that user's outbox file (never to you)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        if username == actor.name:
            typer.echo(accounts.issue_token(deployment, actor, username, label).token)
            return
        asked = account_requests.request_token(deployment, actor, username, label)
    print_request(asked, False)


@user_app.command("password")
@reports_errors
def user_password(
    username: Annotated[str, typer.Argument(help="Login name.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Change your own password for the web UI, read from standard input (one line); your web sessions
    end. For someone else, ask for a credential reset (`user reset`)."""
    password = sys.stdin.readline().rstrip("\n")
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        accounts.set_password(deployment, actor, username, password)
    typer.echo(f"password set for {username}")


def _print_status(state: AuthorityStatus, as_json: bool) -> None:
    if as_json:
        emit_json(state.to_dict())
        return
    line = f"authorisation: {state.state.value.replace('_', ' ').upper()}"
    if state.reference:
        line += f" ({state.reference}; {state.starts_on} to {state.ends_on}"
        line += f", {state.days_left} days left)" if state.days_left is not None else ")"
    typer.echo(line)
    if state.halt_reason:
        typer.echo(f"halted: {state.halt_reason}")
    if state.purposes:
        typer.echo(
            f"purposes: {', '.join(state.purposes)}; offence types: {', '.join(state.offence_types) or 'any'}"
            f"; at most {state.max_candidates} candidates per search"
        )
    if state.operating is not None:
        typer.echo(f"operating {state.operating.describe()}")
    elif state.operating_problem:
        typer.echo(f"operating threshold unavailable: {state.operating_problem}")


@authority_app.command("grant")
@reports_errors
def authority_grant(
    reference: Annotated[str, typer.Option("--reference", help="The council's resolution or grant reference.")],
    purposes: Annotated[
        list[str], typer.Option("--purpose", metavar="PURPOSE", help="An allowed purpose (repeat for several).")
    ],
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last day, YYYY-MM-DD.")],
    offence_type: Annotated[
        list[str] | None, typer.Option("--offence-type", help="Allowed offence or complaint type (repeat; none: any).")
    ] = None,
    max_candidates: Annotated[int, typer.Option("--max-candidates", help="Candidates shown per search.")] = 5,
    allow_bulk_video: Annotated[
        bool,
        typer.Option("--allow-bulk-video", help="Allow searching every face of a video, with a warrant reference."),
    ] = False,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record the council's grant (council members): purposes, dates (at most FACELEDGER_AUTHORITY_MAX_DAYS),
    candidate cap. Refused while halted: lift a halt with `authority resume`."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        state = authority.grant(
            deployment,
            actor,
            reference=reference,
            purposes=purposes,
            offence_types=offence_type or [],
            starts_on=parse_date(start, "--start"),
            ends_on=parse_date(end, "--end"),
            max_candidates=max_candidates,
            allows_bulk_video=allow_bulk_video,
        )
    _print_status(state, as_json)


@authority_app.command("halt")
@reports_errors
def authority_halt(
    reason: Annotated[str, typer.Option("--reason", help="Why (on the ledger and shown to every user).")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """The kill switch: every search, review and export is refused from now on."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        state = authority.halt(deployment, actor, reason)
    _print_status(state, False)


@authority_app.command("resume")
@reports_errors
def authority_resume(
    reason: Annotated[str, typer.Option("--reason", help="Why (on the ledger).")] = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Lift a halt (council members)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        state = authority.resume(deployment, actor, reason)
    _print_status(state, False)


@authority_app.command("status")
@reports_errors
def authority_status(
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Whether searching is authorised now, until when, and for what."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        state = authority.status(deployment, actor)
    _print_status(state, as_json)
