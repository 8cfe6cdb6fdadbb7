"""The reports the council, the oversight office and the public read: the accountability report (RCW
43.386.020's contents) and the weekly usage report (as Detroit publishes). Self-contained HTML with
charts inline, plus JSON and CSV; reading them needs the auditor's rights, and writing one is ledgered.
A supervisor's reports count only their own department's part of the ledger (services/governance/scope.py)."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from faceledger import __version__
from faceledger.engine.models import RECOGNITION_MODEL_LICENCE, recognition_model_identity
from faceledger.errors import InvalidInput
from faceledger.policy.governance import BLOCKED_PURPOSES, Action, ActorView, Context
from faceledger.services.gallery.retention import schedule
from faceledger.services.gallery.stats import gallery_stats
from faceledger.services.governance.authority import status as authority_status
from faceledger.services.governance.guard import append, governed, no_context
from faceledger.services.governance.operating_threshold import current_threshold
from faceledger.services.governance.scope import ledger_clause, visible_violations
from faceledger.services.oversight import transparency
from faceledger.services.oversight._spreadsheet import write_csv
from faceledger.services.oversight._usage import Usage, iso_week, usage
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events
from faceledger.store.governance_models import OptOutRequest

# The reports' HTML: Jinja2 files in templates/ beside this module (accountability.html, usage.html),
# autoescaped. Self-contained: the stylesheet (templates/report.css) and the charts are inline.
_LOADER = PackageLoader("faceledger.services.oversight", "templates")
_ENV = Environment(loader=_LOADER, autoescape=True, trim_blocks=True, lstrip_blocks=True)


@cache
def report_style() -> str:
    """The reports' stylesheet exactly as they inline it between <style> and </style>: what a browser
    hashes, so the API's Content-Security-Policy allows it by its SHA-256 (api/request_guard.py)."""
    css, _, _ = _LOADER.get_source(_ENV, "report.css")
    return "\n" + css  # on lines of its own, as the reports have always had it


_ENV.globals["report_style"] = Markup(report_style())  # noqa: S704 - the package's own file, not input


def _render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**context)


@dataclass(frozen=True)
class Written:
    html: Path
    json: Path
    csv: Path | None = None


def chart(counts: Counter[str], title: str) -> str:
    """A horizontal bar chart as a base64 PNG (an empty breakdown says so instead)."""
    # Imported here: matplotlib costs about a second at start-up, which every server and CLI process paid.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    items = counts.most_common(12)[::-1]
    figure = Figure(figsize=(7, 0.45 * max(len(items), 2) + 1))  # no pyplot: no global state, no GUI backend
    axes = figure.subplots()
    if items:
        axes.barh([label[:60] for label, _ in items], [count for _, count in items], color="#1d3557")
    else:
        axes.text(0.5, 0.5, "none in this period", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
    axes.set_title(title)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode()


def _accuracy(deployment: Deployment, evaluation: dict[str, Any] | None) -> dict[str, Any]:
    # The operating threshold a search would use now (policy/operating_threshold.py), not a fixed number.
    operating = current_threshold(deployment)
    table, threshold, gallery = deployment.calibration, operating.threshold, operating.gallery_faces
    fmr = table.false_match(threshold)
    return {
        "threshold": threshold,
        "fmr": fmr.describe(),
        "fmr_rate": fmr.rate,
        "fnmr": table.false_non_match_rate(threshold),
        "dataset": table.dataset,
        "impostor_pairs": table.impostor_pairs,
        "genuine_pairs": table.genuine_pairs,
        "gallery_faces": gallery,
        "expected_false_candidates": gallery * fmr.rate,
        "evaluation": evaluation,
        "operating": operating.to_dict(),
    }


def load_evaluation(path: Path | None) -> dict[str, Any] | None:
    """The summary that `faceledger eval lfw --out DIR` writes (DIR or DIR/summary.json)."""
    if path is None:
        return None
    file = path / "summary.json" if path.is_dir() else path
    try:
        data: dict[str, Any] = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{file}: not an evaluation summary ({exc})") from exc
    if "verification" not in data:
        raise InvalidInput(f"{file}: not an evaluation summary (no verification section)")
    return data


def accountability(
    deployment: Deployment, actor: ActorView, out: Path, *, days: int = 365, evaluation: Path | None = None
) -> Written:
    end = deployment.clock.now()
    start = end - timedelta(days=days)
    measured = load_evaluation(evaluation)
    # Read before the report's own transaction: each takes a session of its own.
    grant, gallery, accuracy = (
        authority_status(deployment, actor).to_dict(),
        gallery_stats(deployment),
        _accuracy(deployment, measured),
    )

    def work(session: Session, _: Context) -> dict[str, Any]:
        period = usage(session, start, end, ledger_clause(actor))
        facts = {
            "generated_at": end.isoformat(timespec="seconds"),
            "version": __version__,
            "model": recognition_model_identity().to_dict(),
            "licence": RECOGNITION_MODEL_LICENCE,
            "authority": grant,
            "gallery": gallery,
            "blocked_purposes": sorted(BLOCKED_PURPOSES),
            "retention": schedule(deployment.settings),
            "optouts": _optouts(session),
            "accuracy": accuracy,
            "usage": period.to_dict(),
            "violations": _violations(session, actor),
            "feedback": deployment.settings.feedback_contact,
        }
        append(session, actor, events.ReportAccountability(file=str(out), days=days))
        facts["ledger"] = transparency.report_section(transparency.sign_within(session, deployment))
        return {"facts": facts, "period": period}

    found = governed(deployment, actor, Action.VIEW_LEDGER, no_context(deployment), work)
    facts, period = found["facts"], found["period"]
    charts = {
        "Searches by day": chart(period.by_day, "Searches by day"),
        "Outcomes": chart(period.outcomes, "Search outcomes"),
        "Refusals by reason": chart(period.refusals, "Refusals by reason"),
    }
    out.mkdir(parents=True, exist_ok=True)
    html = _render("accountability.html", f=facts, charts=charts, days=days)
    (out / "accountability.html").write_text(html)
    (out / "accountability.json").write_text(json.dumps(facts, indent=2, default=str) + "\n")
    return Written(out / "accountability.html", out / "accountability.json")


def _optouts(session: Session) -> dict[str, int]:
    rows = session.execute(select(OptOutRequest.status, func.count()).group_by(OptOutRequest.status)).all()
    return {status: int(count) for status, count in rows}


def _violations(session: Session, actor: ActorView) -> list[dict[str, Any]]:
    return [
        {
            "kind": v.kind,
            "summary": v.summary,
            "actor": v.actor,
            "ledger_seqs": v.ledger_seqs,
            "recorded_at": v.recorded_at.isoformat(),
        }
        for v in visible_violations(session, actor)
    ]


def usage_report(deployment: Deployment, actor: ActorView, week: str, out: Path) -> Written:
    start, end = iso_week(week)

    def work(session: Session, _: Context) -> tuple[Usage, dict[str, Any]]:
        found = usage(session, start, end, ledger_clause(actor))
        append(session, actor, events.ReportUsage(week=week, file=str(out)))
        return found, transparency.report_section(transparency.sign_within(session, deployment))

    period, signed = governed(deployment, actor, Action.VIEW_LEDGER, no_context(deployment), work)
    charts = {
        name: chart(counts, f"Searches by {name}" if name != "refusal reason" else "Refusals by reason")
        for name, counts in period.breakdowns().items()
    }
    out.mkdir(parents=True, exist_ok=True)
    stem = f"usage-{week}"
    html = _render("usage.html", u=period.to_dict(), week=week, charts=charts, ledger=signed)
    (out / f"{stem}.html").write_text(html)
    (out / f"{stem}.json").write_text(json.dumps({**period.to_dict(), "ledger": signed}, indent=2) + "\n")
    rows = (
        [week, name, value, count]
        for name, counts in period.breakdowns().items()
        for value, count in counts.most_common()
    )
    write_csv(out / f"{stem}.csv", ["week", "breakdown", "value", "count"], rows)
    return Written(out / f"{stem}.html", out / f"{stem}.json", out / f"{stem}.csv")
