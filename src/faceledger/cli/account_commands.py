"""`faceledger user requests|approve|reject|roles|enable|reset|revoke` (the two-person rule) and
`faceledger enrol` (a new or reset user redeems the code delivered to them)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from faceledger.cli.errors import reports_errors
from faceledger.cli.options import DataDirOption, JsonOption, emit_json, make_settings
from faceledger.cli.people import RoleOption, print_request, user_app
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.services.people import account_requests, accounts
from faceledger.services.runtime.deployment import open_deployment

UserArgument = Annotated[str, typer.Argument(help="Login name.")]
RequestArgument = Annotated[int, typer.Argument(help="The request's number (`user requests`).")]
NoteOption = Annotated[str, typer.Option("--note", help="Why (on the ledger).")]


@user_app.command("requests")
@reports_errors
def user_requests(
    every: Annotated[bool, typer.Option("--all", help="Decided requests too.")] = False,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Account requests waiting for a second admin."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        rows = account_requests.list_requests(deployment, actor, pending_only=not every)
    if as_json:
        emit_json([row.to_dict() for row in rows])
        return
    for row in rows:
        typer.echo(f"{row.id}: {row.kind} {row.username} {row.payload} asked by {row.requested_by}; {row.status}")


@user_app.command("approve")
@reports_errors
def user_approve(
    request: RequestArgument,
    note: NoteOption = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve another admin's request; a new credential goes to the user's outbox file."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        print_request(account_requests.approve(deployment, actor, request, note), as_json)


@user_app.command("reject")
@reports_errors
def user_reject(
    request: RequestArgument,
    note: NoteOption = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Turn a request down (or withdraw your own)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        print_request(account_requests.reject(deployment, actor, request, note), False)


@user_app.command("roles")
@reports_errors
def user_roles(
    username: UserArgument,
    roles: RoleOption,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Ask for a user's roles to become these (a second admin approves)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        print_request(account_requests.request_roles(deployment, actor, username, roles), False)


@user_app.command("enable")
@reports_errors
def user_enable(
    username: UserArgument,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Ask for a disabled user to be enabled again (a second admin approves)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        print_request(account_requests.request_enable(deployment, actor, username), False)


@user_app.command("reset")
@reports_errors
def user_reset(
    username: UserArgument,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Ask for a credential reset: on approval the password is cleared, every token revoked, every session
    ended, and a new enrolment code delivered to the user."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        print_request(account_requests.request_reset(deployment, actor, username), False)


@user_app.command("revoke")
@reports_errors
def user_revoke(
    username: UserArgument,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Revoke every API token of a user at once: your own (anyone), someone else's (one admin)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        count = accounts.revoke_tokens(deployment, actor, username)
    typer.echo(f"{count} token{'' if count == 1 else 's'} of {username} revoked")


def enrol(
    username: UserArgument,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="Only an API token; no password for the web pages.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Enrol with the one-time code you were given: choose your password, receive your API token (once).
    The code and password are read from standard input (or asked for), never from the command line."""
    code = _secret("enrolment code: ")
    password = None if no_password else _secret("new password (12 characters at least): ")
    deployment = open_deployment(make_settings(), data_dir)
    try:
        issued = account_requests.enrol(deployment, username, code, password, source="cli")
    finally:
        deployment.close()
    typer.echo(f"enrolled {issued.username}; your API token (shown once, store it now):\n{issued.token}")


def _secret(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\n")


enrol_command = reports_errors(enrol)
