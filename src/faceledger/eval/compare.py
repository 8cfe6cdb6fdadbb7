"""`faceledger eval compare`: one report over several pipelines' LFW evaluations, side by side.

Each pipeline is judged at its own operating threshold (equal overall FMR: see eval/operating.py), so the
per-group rates compare like with like. ROC and DET curves are overlaid in one plot each."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from faceledger.eval.operating import strict_json
from faceledger.eval.report import LfwEvaluation, _html, _pyplot, _save

HEADLINE_FARS = ("0.001", "0.0001")
HEADLINE_FPIRS = ("0.01", "0.001")


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue's targets name, from one pipeline's summary (None where not measured)."""
    v = summary["verification"]
    ident = summary["identification"] or {}
    return {
        "pipeline": summary["pipeline"],
        "operating_threshold": summary["operating_threshold"],
        "operating_threshold_source": summary["operating_threshold_source"],
        "accuracy": v["mean_accuracy"],
        "accuracy_std": v["std_accuracy"],
        "tar_at_far": {k: v["tar_at_far"].get(k, {}).get("tar") for k in HEADLINE_FARS},
        "rank1": ident.get("rank1"),
        "fnir_at_fpir": {k: ident.get("fnir_at_fpir", {}).get(k, {}).get("fnir") for k in HEADLINE_FPIRS},
        "fnir_at_fpir_without_label_errors": {
            k: ident.get("fnir_at_fpir_without_label_errors", {}).get(k, {}).get("fnir") for k in HEADLINE_FPIRS
        },
        "gallery_size": ident.get("gallery_size"),
        "group_fmr_worst_best_ratio": summary["group_fmr_worst_best_ratio"],
    }


def compare_report(evaluations: list[LfwEvaluation], out: Path) -> dict[str, Any]:
    """Write compare.json, compare.md, compare.html, roc.png and det.png under `out`; return the JSON."""
    out.mkdir(parents=True, exist_ok=True)
    summaries = [e.summary() for e in evaluations]
    plots = _plots(evaluations, out)
    report = {
        "pipelines": [headline(s) for s in summaries],
        "groups": {s["pipeline"]: s["groups"] for s in summaries},
        "details": {s["pipeline"]: s for s in summaries},
        "plots": {name: str(path) for name, path in plots.items()},
    }
    (out / "compare.json").write_text(strict_json(report) + "\n")
    markdown = _markdown(report, plots)
    (out / "compare.md").write_text(markdown)
    (out / "compare.html").write_text(_html(markdown, plots))
    report["files"] = {
        "json": str(out / "compare.json"),
        "markdown": str(out / "compare.md"),
        "html": str(out / "compare.html"),
    }
    return report


def _plots(evaluations: list[LfwEvaluation], out: Path) -> dict[str, Path]:
    plt = _pyplot()
    plots: dict[str, Path] = {}
    figure, axes = plt.subplots(figsize=(6, 4))
    for e in evaluations:
        axes.semilogx(e.verification.roc_far, e.verification.roc_tar, label=e.pipeline.value)
    axes.set(xlabel="false accept rate", ylabel="true accept rate", title="LFW View 2 verification ROC")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    plots["roc"] = _save(figure, out / "roc.png")
    identified = [e for e in evaluations if e.identification is not None]
    if identified:
        figure, axes = plt.subplots(figsize=(6, 4))
        for e in identified:
            assert e.identification is not None  # for mypy: filtered above
            axes.loglog(e.identification.det_fpir + 1e-5, e.identification.det_fnir + 1e-5, label=e.pipeline.value)
        axes.set(xlabel="FPIR", ylabel="FNIR", title="Open-set identification DET")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
        plots["det"] = _save(figure, out / "det.png")
    return plots


def _figure(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _markdown(report: dict[str, Any], plots: dict[str, Path]) -> str:
    lines = [
        "# faceledger pipelines on LFW, side by side",
        "",
        "| pipeline | threshold | accuracy | TAR@FAR 1e-3 | TAR@FAR 1e-4 | rank-1 | FNIR@FPIR 1% | FNIR@FPIR 0.1% "
        "| same, no label errors | race worst/best | gender worst/best |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["pipelines"]:
        ratios = row["group_fmr_worst_best_ratio"]
        lines.append(
            f"| {row['pipeline']} | {_figure(row['operating_threshold'], 3)} | {_figure(row['accuracy'])} "
            f"| {_figure(row['tar_at_far']['0.001'])} | {_figure(row['tar_at_far']['0.0001'])} "
            f"| {_figure(row['rank1'])} | {_figure(row['fnir_at_fpir']['0.01'])} "
            f"| {_figure(row['fnir_at_fpir']['0.001'])} | {_figure(row['fnir_at_fpir_without_label_errors']['0.001'])} "
            f"| {_ratio(ratios.get('race'))} | {_ratio(ratios.get('gender'))} |"
        )
    lines += [
        "",
        "## Error rates by group, at each pipeline's operating threshold (95% intervals)",
        "",
        "| pipeline | attribute | group | people | FMR | FNMR |",
        "|---|---|---|---|---|---|",
    ]
    for pipeline, groups in report["groups"].items():
        for g in groups:
            lines.append(
                f"| {pipeline} | {g['attribute']} | {g['group']} | {g['people']} | {_rate(g['fmr'])} "
                f"| {_rate(g['fnmr'])} |"
            )
    lines += [
        "",
        "- Thresholds: dlib at its configured threshold; the others where their overall FMR equals dlib's at 0.6.",
        "- Demographic labels are evaluation labels only; faceledger never infers them.",
        "",
        *[f"![{name}]({path.name})" for name, path in plots.items()],
        "",
    ]
    return "\n".join(lines)


def _ratio(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "n/a"
    interval = f" ({entry['low_95']}-{entry['high_95']})" if "low_95" in entry else ""
    return f"{entry['ratio']}x {entry['worst']}/{entry['best']}{interval}"


def _rate(rate: dict[str, Any]) -> str:
    value = rate["rate"]
    if value is None or math.isnan(value):  # no pairs in this group
        return "n/a"
    return f"{value:.2e} ({rate['low_95']:.1e}-{rate['high_95']:.1e})"
