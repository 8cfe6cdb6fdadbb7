"""Casework: `case ...`, `search`, `quality-override`, `candidate ...`, `review`, `lead ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from faceledger.cli.errors import reports_errors
from faceledger.cli.options import DataDirOption, DetectorOption, JsonOption, emit_json
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.services.casework import cases, review
from faceledger.services.casework.cases import CasePublic
from faceledger.services.casework.governed_search import SearchRequest, SearchResult, governed_search, record_override

case_app = typer.Typer(help="Cases: open, assign, close, show (supervisors).", no_args_is_help=True)
candidate_app = typer.Typer(help="Candidates: look at one, or the review queue.", no_args_is_help=True)
lead_app = typer.Typer(help="Leads: sign off, record corroboration, export.", no_args_is_help=True)
CaseOption = Annotated[str, typer.Option("--case", help="Case number (in your department).")]
CandidateArg = Annotated[int, typer.Argument(help="Candidate id (from a search).")]


def _print_case(case: CasePublic, as_json: bool) -> None:
    if as_json:
        emit_json(case.to_dict())
        return
    typer.echo(
        f"case {case.number} ({case.department}): {case.status}; purpose {case.purpose}; "
        f"offence {case.offence_type}; {case.searches} searches"
    )
    typer.echo(f"assigned: {', '.join(case.assigned) or 'nobody'}")


@case_app.command("open")
@reports_errors
def case_open(
    number: Annotated[str, typer.Argument(help="Case number, unique in your department.")],
    purpose: Annotated[str, typer.Option("--purpose", help="One of the authorisation's purposes.")],
    offence_type: Annotated[str, typer.Option("--offence-type", help="The offence or complaint type.")],
    description: Annotated[str, typer.Option("--description", help="What the case is about.")] = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open a case for an allowed purpose."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        case = cases.open_case(
            deployment, actor, number, purpose=purpose, offence_type=offence_type, description=description
        )
    _print_case(case, as_json)


@case_app.command("assign")
@reports_errors
def case_assign(
    number: Annotated[str, typer.Argument(help="Case number.")],
    user: Annotated[list[str], typer.Option("--user", help="An analyst or reviewer to assign (repeat).")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Assign analysts (who may then search) and reviewers to a case."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        case = cases.assign(deployment, actor, number, user)
    _print_case(case, as_json)


@case_app.command("close")
@reports_errors
def case_close(
    number: Annotated[str, typer.Argument(help="Case number.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (on the ledger).")] = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close a case: no more searches; its results are purged on the retention schedule."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        case = cases.close(deployment, actor, number, reason)
    _print_case(case, as_json)


@case_app.command("show")
@reports_errors
def case_show(
    number: Annotated[str, typer.Argument(help="Case number (or #id for overseers).")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """A case, who is assigned, and how many searches it has."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        case = cases.show(deployment, actor, number)
    _print_case(case, as_json)


@case_app.command("list")
@reports_errors
def case_list(
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cases you may see."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        found = cases.list_cases(deployment, actor)
    if as_json:
        emit_json([case.to_dict() for case in found])
        return
    for case in found:
        typer.echo(f"{case.number} ({case.department}): {case.status}, {case.purpose}, {case.searches} searches")


def print_search(result: SearchResult) -> None:
    typer.echo(
        f"search {result.search_id} in case {result.case_number}: probe face {result.probe_face['index']}, "
        f"{result.gallery_faces} gallery faces, threshold {result.threshold}"
    )
    if result.operating_point:
        typer.echo(f"operating {result.operating_point['text']}")
    typer.echo(result.notice)
    if not result.candidates:
        typer.echo("no candidates within the threshold (recorded as such)")
    for c in result.candidates:
        source = c["provenance"].get("source_url") or c["provenance"].get("original_filename", "")
        typer.echo(
            f"  candidate {c['candidate_id']}: rank {c['rank']}, distance {c['distance']:.3f} "
            f"({c['likelihood']}; {c['false_match']})\n      source {c['provenance'].get('source')}: {source}"
        )
        if c.get("strangers"):
            typer.echo(f"      {c['strangers']}")
        _model_lines(c.get("provenance") or {})
    typer.echo(f"ledger entry {result.ledger_seq}")


def _model_lines(provenance: dict[str, Any]) -> None:
    """Each model's own distance (several models: the lineup's distance is their fusion), and which of a
    subject's photos matched."""
    scores = provenance.get("model_scores") or {}
    if len(scores) > 1:
        typer.echo(
            "      each model: " + ", ".join(f"{key.split('@')[0]} {value:.3f}" for key, value in scores.items())
        )
    others = (provenance.get("subject") or {}).get("other_photos_near")
    if others:
        typer.echo(f"      the closest of this subject's photos; {others} more of them scored near")


@reports_errors
def search(
    probe: Annotated[Path, typer.Argument(help="The probe photo.")],
    case: CaseOption,
    purpose: Annotated[str, typer.Option("--purpose", help="Your attestation: why this search is needed.")],
    face: Annotated[
        int | None, typer.Option("--face", min=1, help="Which face in the photo (default: largest).")
    ] = None,
    detector: DetectorOption = None,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search the gallery for one probe face, within a case (assigned analysts). Results are leads."""
    request = SearchRequest(case, purpose, probe, face, detector)
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        result = governed_search(deployment, actor, request)
    if as_json:
        emit_json(result.to_dict())
    else:
        print_search(result)


@reports_errors
def quality_override(
    probe: Annotated[Path, typer.Argument(help="The low-quality probe photo.")],
    case: CaseOption,
    reason: Annotated[str, typer.Option("--reason", help="Why searching it is justified anyway.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Let one low-quality probe be searched in one case (supervisors); the reason is ledgered."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        override = record_override(deployment, actor, case, probe, reason)
    typer.echo(f"override {override} recorded")


@candidate_app.command("show")
@reports_errors
def candidate_show(
    candidate: CandidateArg,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """One candidate: scores, provenance, state; other reviews only once yours is in."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        found = review.view(deployment, actor, candidate)
    if as_json:
        emit_json(found.to_dict())
        return
    c = found.candidate
    typer.echo(f"candidate {c['candidate_id']} (case {found.case_number}, search {found.search_id}): {found.state}")
    typer.echo(f"distance {c['distance']:.3f} ({c['likelihood']}; {c['false_match']})")
    if c.get("strangers"):
        typer.echo(c["strangers"])
    typer.echo(c["notice"])
    reviews = found.reviews
    typer.echo(
        "reviews: hidden until you have reviewed"
        if reviews is None
        else "reviews: " + ("; ".join(f"{r['reviewer_id']}: {r['decision']}" for r in reviews) or "none")
    )


@candidate_app.command("queue")
@reports_errors
def candidate_queue(
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Candidates waiting for your review."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        queue = review.review_queue(deployment, actor)
    if as_json:
        emit_json(queue)
        return
    for item in queue:
        typer.echo(f"candidate {item['candidate_id']} (case {item['case']}): distance {item['distance']:.3f}")


@reports_errors
def review_command(
    candidate: CandidateArg,
    decision: Annotated[str, typer.Option("--decision", help="possible, not or inconclusive.")],
    note: Annotated[str, typer.Option("--note", help="What you saw.")] = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Your independent review of a candidate (reviewers; never your own search)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        state = review.review(deployment, actor, candidate, decision, note)
    typer.echo(f"review recorded; candidate {candidate} is now {state.replace('_', ' ')}")


@lead_app.command("signoff")
@reports_errors
def lead_signoff(
    candidate: CandidateArg,
    note: Annotated[str, typer.Option("--note", help="The supervisor's note.")] = "",
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Confirm a lead two reviewers found possible (supervisors)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        state = review.sign_off(deployment, actor, candidate, note)
    typer.echo(f"candidate {candidate} is now {state}: a lead to corroborate, not an identification")


@lead_app.command("corroborate")
@reports_errors
def lead_corroborate(
    candidate: CandidateArg,
    evidence: Annotated[str, typer.Option("--evidence", help="Independent evidence that supports the lead.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Record corroborating evidence; a lead cannot be exported without it."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        state = review.corroborate(deployment, actor, candidate, evidence)
    typer.echo(f"candidate {candidate} is now {state}")


@lead_app.command("export")
@reports_errors
def lead_export(
    candidate: CandidateArg,
    out: Annotated[Path, typer.Option("--out", help="JSON file to write.")],
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Export a confirmed, corroborated lead with its full record (supervisors)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        written = review.export(deployment, actor, candidate, out)
    typer.echo(f"wrote {written}")
