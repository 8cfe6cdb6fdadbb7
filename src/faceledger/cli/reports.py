"""`faceledger report accountability` and `faceledger report usage`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli.errors import reports_errors
from faceledger.cli.options import DataDirOption
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.services.oversight import reports

report_app = typer.Typer(help="Reports for the council, the oversight office and the public.", no_args_is_help=True)
OutOption = Annotated[Path, typer.Option("--out", help="Folder to write the report into.")]


@report_app.command("accountability")
@reports_errors
def accountability(
    out: OutOption = Path("reports"),
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="Usage period, in days up to now.")] = 365,
    evaluation: Annotated[
        Path | None, typer.Option("--eval", help="The output folder of `faceledger eval lfw` (per-group rates).")
    ] = None,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """The accountability report: system, data, purposes, policies, measured accuracy, usage, violations."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        written = reports.accountability(deployment, actor, out, days=days, evaluation=evaluation)
    typer.echo(f"wrote {written.html} and {written.json}")


@report_app.command("usage")
@reports_errors
def usage(
    week: Annotated[str, typer.Option("--week", help="ISO week, e.g. 2026-W48.")],
    out: OutOption = Path("reports"),
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Searches in one week by purpose, offence type, department and user; outcomes; refusals (HTML + CSV)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        written = reports.usage_report(deployment, actor, week, out)
    typer.echo(f"wrote {written.html}, {written.csv} and {written.json}")
