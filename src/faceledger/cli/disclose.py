"""`case disclose`: the whole case as one zip for the defence (registered on the case app in app.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli.errors import EXIT_CODES, reports_errors
from faceledger.cli.options import DataDirOption, JsonOption, emit_json
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.errors import LedgerTampered
from faceledger.services.casework.disclosure import DisclosureSummary, disclose_case


@reports_errors
def disclose(
    case: Annotated[str, typer.Argument(help="Case number (or #id for overseers).")],
    out: Annotated[Path, typer.Option("--out", help="The zip file to write.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every search in a case (with candidates, without, refused), its reviews, sign-offs, images and ledger
    entries with a verification result, as one zip (auditors, supervisors, admins). The disclosure is ledgered.
    Exit 8 when the ledger does not verify; the zip is written all the same, the failure recorded in it."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        summary = disclose_case(deployment, actor, case, out)
    if as_json:
        emit_json(summary.to_dict())
    else:
        _print(summary)
    if not summary.verified:
        # Written and ledgered all the same: the defence is owed the record as it is, the failure part of it.
        typer.echo(
            f"faceledger: error: ledger does not verify at entry {summary.first_bad_seq}: {summary.problem}", err=True
        )
        raise typer.Exit(EXIT_CODES[LedgerTampered])


def _print(summary: DisclosureSummary) -> None:
    typer.echo(f"wrote {summary.path} (sha256 {summary.sha256})")
    typer.echo(
        f"{summary.searches} searches done, {summary.refused} refused, {summary.candidates} candidates, "
        f"{summary.ledger_entries} ledger entries; disclosure is ledger entry {summary.ledger_seq}"
    )
    if summary.verified:
        typer.echo("ledger verified: the whole chain, and every disclosed entry's hash")
