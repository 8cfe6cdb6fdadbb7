"""`faceledger audit anomalies` and `audit violations`: the anomaly audit over the ledger, and the
violations an auditor recorded from it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

import typer

from faceledger.cli.errors import reports_errors
from faceledger.cli.options import DataDirOption, JsonOption, emit_json, parse_date
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.errors import Conflict, InvalidInput
from faceledger.policy.governance import ActorView
from faceledger.services.oversight import anomalies
from faceledger.services.runtime.deployment import Deployment

audit_app = typer.Typer(
    help="The anomaly audit: findings from the ledger, and recorded violations.", no_args_is_help=True
)
SinceOption = Annotated[str | None, typer.Option("--since", metavar="DATE", help="From this day (YYYY-MM-DD, UTC).")]
UntilOption = Annotated[str | None, typer.Option("--until", metavar="DATE", help="To this day, included.")]
CaseloadOption = Annotated[
    float, typer.Option("--caseload-ratio", min=0.001, help="Searches per assigned case above which to flag.")
]
BurstOption = Annotated[
    int, typer.Option("--burst-per-hour", min=1, help="Searches by one user in 60 minutes above which to flag.")
]
HoursOption = Annotated[str, typer.Option("--hours", metavar="START-END", help="Working hours in UTC.")]
RecordOption = Annotated[bool, typer.Option("--record", help="Record each finding as a violation (auditors, admins).")]


def _day_start(text: str | None, option: str, *, after: bool = False) -> datetime | None:
    """Midnight UTC of the day given; for --until the midnight after it, so the day itself is included."""
    if text is None:
        return None
    start = datetime.combine(parse_date(text, option), time(), tzinfo=UTC)
    return start + timedelta(days=1) if after else start


def _hours(text: str) -> tuple[int, int]:
    start, _, end = text.partition("-")
    if not (start.strip().isdigit() and end.strip().isdigit()):
        raise InvalidInput(f"--hours must be two hours as START-END, e.g. 7-19; got {text!r}")
    return int(start), int(end)


@audit_app.command("anomalies")
@reports_errors
def audit_anomalies(
    since: SinceOption = None,
    until: UntilOption = None,
    caseload_ratio: CaseloadOption = 10.0,
    burst_per_hour: BurstOption = 20,
    hours: HoursOption = "7-19",
    record: RecordOption = False,
    note: Annotated[str, typer.Option("--note", help="A note kept with each violation recorded.")] = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Flag searches outside assigned cases, caseload outpaced, one probe across cases, searches out of hours,
    bursts, repeats after 'not a match', and new accounts made by the same two admins working one case
    (FACELEDGER_ANOMALY_NEW_ACCOUNT_DAYS); each finding cites its ledger entries."""
    start, end, working = _day_start(since, "--since"), _day_start(until, "--until", after=True), _hours(hours)
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        findings = anomalies.find_anomalies(
            deployment,
            actor,
            since=start,
            until=end,
            caseload_ratio=caseload_ratio,
            burst_per_hour=burst_per_hour,
            hours=working,
        )
        shown = [finding.to_dict() for finding in findings]
        if record:
            for finding, data in zip(findings, shown, strict=True):
                data.update(_record(deployment, actor, finding, note))
    if as_json:
        emit_json(shown)
        return
    for data in shown:
        _print_finding(data)
    typer.echo(f"{len(shown)} finding{'' if len(shown) == 1 else 's'}")


def _record(deployment: Deployment, actor: ActorView, finding: anomalies.Finding, note: str) -> dict[str, Any]:
    """The violation's id; a finding recorded before is said so, not recorded twice."""
    try:
        return {"violation_id": anomalies.record_violation(deployment, actor, finding, note), "already_recorded": False}
    except Conflict:
        return {"violation_id": None, "already_recorded": True}


def _print_finding(data: dict[str, Any]) -> None:
    typer.echo(f"[{data['kind']}] {data['summary']}")
    for entry in data["entries"]:
        case = f" case {entry['case_id']}" if entry["case_id"] is not None else ""
        typer.echo(f"  {entry['seq']:>6} {entry['at'][:19]} {entry['actor']:<14} {entry['action']}{case}")
    if data.get("violation_id"):
        typer.echo(f"  recorded as violation {data['violation_id']}")
    elif data.get("already_recorded"):
        typer.echo("  already recorded as a violation")


@audit_app.command("violations")
@reports_errors
def audit_violations(
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Violations recorded from the anomaly audit (auditors, admins; a supervisor: their department's)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        rows = anomalies.list_violations(deployment, actor)
    if as_json:
        emit_json(rows)
        return
    for v in rows:
        seqs = ", ".join(str(seq) for seq in v["ledger_seqs"])
        typer.echo(
            f"violation {v['id']} [{v['kind']}] {v['actor']}: {v['summary']} (ledger entries {seqs}); "
            f"recorded {v['recorded_at'][:19]} by {v['recorded_by']}{' — ' + v['note'] if v['note'] else ''}"
        )
    typer.echo(f"{len(rows)} violation{'' if len(rows) == 1 else 's'}")
