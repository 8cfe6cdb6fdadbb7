"""Run the LFW evaluation and write its report: JSON summary, PNG plots, Markdown and self-contained HTML."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceledger.config import Settings
from faceledger.engine.calibration import CalibrationTable
from faceledger.engine.fusion import fusion_rule_for
from faceledger.engine.parallel import FileResult
from faceledger.eval.embeddings import EmbeddingCache, embed_lfw_models
from faceledger.eval.lfw import LfwImage, images_of, read_pairs
from faceledger.eval.lfw_eval import GroupRates, Identification, Verification, group_rates, identify, verify
from faceledger.eval.lfw_labels import gender_labels, race_labels
from faceledger.eval.metrics import best_threshold
from faceledger.eval.operating import (
    DLIB_REFERENCE_THRESHOLD,
    equal_fmr_threshold,
    reference_fmr,
    shipped_table,
    strict_json,
)
from faceledger.eval.scoring import PairScorer
from faceledger.types import Pipeline

MIN_GROUP_PEOPLE = 20  # below this a group is too thin to rank groups by (its interval says how thin)


@dataclass
class LfwEvaluation:
    settings: Settings
    verification: Verification
    identification: Identification | None
    groups: list[GroupRates]
    pipeline: Pipeline = Pipeline.DLIB
    operating_threshold: float | None = None  # None: settings.match_threshold (the dlib pipeline's)
    threshold_source: str = "settings.match_threshold"
    reference_fmr: float | None = None  # dlib's FMR at 0.6 in its shipped table: the equal-FMR target
    models: tuple[str, ...] = ()
    fusion_rule: str | None = None
    subset: str | None = None  # set when only part of LFW was scored

    @property
    def threshold(self) -> float:
        return self.settings.match_threshold if self.operating_threshold is None else self.operating_threshold

    def summary(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline.value,
            "subset": self.subset,
            "models": list(self.models),
            "fusion_rule": self.fusion_rule,
            "operating_threshold": self.threshold,
            "operating_threshold_source": self.threshold_source,
            "equal_fmr_target": self.reference_fmr,
            "equal_fmr_target_source": f"dlib's FMR at {DLIB_REFERENCE_THRESHOLD} in the shipped dlib View 1 table",
            "verification": self.verification.to_dict(),
            "identification": self.identification.to_dict() if self.identification else None,
            "groups": [g.to_dict() for g in self.groups],
            "group_fmr_worst_best_ratio": worst_best_ratio(self.groups),
            "notes": [
                "Demographic labels are evaluation labels only; faceledger never infers them.",
                "Pairs within a group share people, so intervals (95%) come from resampling people, not pairs.",
                f"Groups of fewer than {MIN_GROUP_PEOPLE} people are listed but left out of the worst/best ratio.",
                "A pair whose image has no usable face counts as a non-match at every threshold.",
                "Group rates and ratios are at the operating threshold, where this pipeline's overall FMR equals "
                f"dlib's at {DLIB_REFERENCE_THRESHOLD} (for dlib: its configured threshold).",
                "FNIR without label errors leaves out non-mated probes who are in the gallery under another "
                "name (eval/lfw_errata.py).",
            ],
        }


def worst_best_ratio(groups: list[GroupRates]) -> dict[str, Any]:
    """Worst/best group FMR per attribute (groups of >= MIN_GROUP_PEOPLE people), with a 95% interval from
    resampling each group's people independently."""
    ratios: dict[str, Any] = {}
    for attribute in sorted({g.attribute for g in groups}):
        usable = [g for g in groups if g.attribute == attribute and g.people >= MIN_GROUP_PEOPLE]
        rates = [(g.false_match.value, g.group, g) for g in usable if g.false_match.value > 0]
        if len(rates) >= 2:
            (best, best_group, low), (worst, worst_group, high) = min(rates, key=_first), max(rates, key=_first)
            entry: dict[str, Any] = {"worst": worst_group, "best": best_group, "ratio": round(worst / best, 2)}
            n = min(len(low.fmr_samples), len(high.fmr_samples))
            if n:
                with np.errstate(divide="ignore", invalid="ignore"):
                    samples = high.fmr_samples[:n] / low.fmr_samples[:n]
                lo, hi = np.nanpercentile(np.where(np.isfinite(samples), samples, np.inf), [2.5, 97.5])
                entry.update(low_95=round(float(lo), 2), high_95=round(float(hi), 2))
            ratios[attribute] = entry
    return ratios


def _first(item: tuple[float, str, GroupRates]) -> float:
    return item[0]


def run_lfw(
    data_dir: Path,
    settings: Settings,
    *,
    folds: list[int],
    cache: EmbeddingCache,
    workers: int | None = None,
    identification: bool = True,
    groups: bool = True,
    on_result: Callable[[FileResult], None] | None = None,
    max_people: int | None = None,
    cached_only: bool = False,
) -> LfwEvaluation:
    """`max_people`: only the first N people's folders for identification and groups (a quick look).
    `cached_only`: only images already in the cache, and only pairs of two of them (a labelled subset)."""
    pipeline = Pipeline(settings.pipeline)
    pairs = [p for p in read_pairs(data_dir / "pairs.txt") if p.fold + 1 in folds]
    wanted: list[LfwImage] = images_of(pairs)
    # the equal-FMR threshold comes from the pipeline's shipped View 1 table, or from View 1 images measured here
    needs_view1 = pipeline is not Pipeline.DLIB and shipped_table(pipeline) is None
    view1 = images_of(read_pairs(data_dir / "pairsDevTrain.txt")) if needs_view1 else []
    wanted += view1
    if identification or groups:
        folders = sorted((data_dir / "lfw").iterdir())[:max_people]
        wanted += [LfwImage(f.name, int(p.stem.rsplit("_", 1)[1])) for f in folders for p in sorted(f.glob("*.jpg"))]
    rule = fusion_rule_for(pipeline)
    per_model = embed_lfw_models(
        list(dict.fromkeys(wanted)),
        data_dir,
        settings,
        cache,
        workers=workers,
        on_result=on_result,
        cached_only=cached_only,
    )
    scorer = PairScorer(per_model, rule)
    if cached_only:
        pairs = [p for p in pairs if p.first in scorer and p.second in scorer]
    target = reference_fmr()
    if pipeline is Pipeline.DLIB:
        threshold, source, explicit = settings.match_threshold, "settings.match_threshold", None
    else:
        threshold, source = equal_fmr_threshold(pipeline, scorer, view1, target)
        explicit = threshold
    found_groups: list[GroupRates] = []
    if groups:
        found_groups += group_rates(scorer, gender_labels(data_dir), "gender", threshold)
        races = race_labels(data_dir)
        by_race = {image: races[image.person] for image in scorer.images if image.person in races}
        found_groups += group_rates(scorer, by_race, "race", threshold)
    fallback = DLIB_REFERENCE_THRESHOLD if pipeline is Pipeline.DLIB else _view1_threshold(data_dir, scorer, threshold)
    return LfwEvaluation(
        settings,
        verify(pairs, scorer, fallback),
        identify(scorer, threshold) if identification else None,
        found_groups,
        pipeline=pipeline,
        operating_threshold=explicit,
        threshold_source=source,
        reference_fmr=target,
        models=tuple(sorted(per_model)),
        fusion_rule=rule.name if rule else None,
        subset=f"cached only: {len(scorer.images):,} images, {len(pairs):,} View 2 pairs" if cached_only else None,
    )


def _view1_threshold(data_dir: Path, scorer: PairScorer, default: float) -> float:
    """For a single scored fold: the most accurate threshold on the View 1 training pairs this run embedded
    (never on View 2), else `default`."""
    train = [p for p in read_pairs(data_dir / "pairsDevTrain.txt") if p.first in scorer and p.second in scorer]
    if sum(p.same_person for p in train) < 10 or sum(not p.same_person for p in train) < 10:
        return default
    scored = [(scorer.pair(p.first, p.second), p.same_person) for p in train]
    return best_threshold([10.0 if d is None else d for d, _ in scored], [s for _, s in scored])[0]


def threshold_advice(table: CalibrationTable, gallery_size: int, fpir: float) -> dict[str, Any]:
    """The distance threshold at which a stranger's chance of any false candidate in a gallery of N is FPIR:
    FPIR = 1 - (1 - FMR)^N, so FMR = 1 - (1 - FPIR)^(1/N) (about FPIR / N)."""
    fmr = -math.expm1(math.log1p(-fpir) / gallery_size)
    resolvable = 3 / table.impostor_pairs
    threshold = table.distance_for_false_match_rate(fmr)
    return {
        "gallery_size": gallery_size,
        "target_fpir": fpir,
        "required_fmr": fmr,
        "threshold": threshold,
        "false_non_match_rate_at_threshold": round(table.false_non_match_rate(threshold), 4),
        "supported": fmr >= resolvable,
        "note": (
            f"The table rests on {table.impostor_pairs:,} impostor pairs: it resolves false-match rates down to "
            f"about {resolvable:.1e}."
            + (
                ""
                if fmr >= resolvable
                else " The required rate is below that, so this threshold is a lower bound on safety, "
                "not a measurement."
            )
        ),
    }


def write_report(evaluation: LfwEvaluation, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    summary = evaluation.summary()
    plots = _plots(evaluation, out)
    (out / "summary.json").write_text(strict_json(summary) + "\n")
    markdown = _markdown(summary, plots)
    (out / "report.md").write_text(markdown)
    (out / "report.html").write_text(_html(markdown, plots))
    return {"summary": out / "summary.json", "markdown": out / "report.md", "html": out / "report.html", **plots}


def _pyplot() -> Any:
    """pyplot, imported when a report is drawn: importing it costs about a second of CPU, which every CLI
    command and server process (and each of their spawned workers) would otherwise pay at start-up."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a server
    import matplotlib.pyplot as plt

    return plt


def _plots(evaluation: LfwEvaluation, out: Path) -> dict[str, Path]:
    plt = _pyplot()
    plots: dict[str, Path] = {}
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.semilogx(evaluation.verification.roc_far, evaluation.verification.roc_tar)
    axes.set(xlabel="false accept rate", ylabel="true accept rate", title="LFW View 2 verification ROC")
    axes.grid(True, which="both", alpha=0.3)
    plots["roc"] = _save(figure, out / "roc.png")
    if evaluation.identification is not None:
        ident = evaluation.identification
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.loglog(ident.det_fpir + 1e-5, ident.det_fnir + 1e-5)
        axes.set(xlabel="FPIR", ylabel="FNIR", title="Open-set identification DET")
        axes.grid(True, which="both", alpha=0.3)
        plots["det"] = _save(figure, out / "det.png")
        figure, axes = plt.subplots(figsize=(6, 4))
        sizes, fpirs = zip(*ident.fpir_by_gallery_size, strict=True)
        axes.plot(sizes, fpirs, marker="o")
        axes.set(
            xlabel="gallery size",
            ylabel=f"FPIR at distance {evaluation.threshold:.3f}",
            title="How false positives grow with the gallery",
        )
        axes.grid(True, alpha=0.3)
        plots["fpir_by_gallery_size"] = _save(figure, out / "fpir_by_gallery_size.png")
    if evaluation.groups:
        figure, axes = plt.subplots(figsize=(7, 4))
        labels = [f"{g.attribute}: {g.group}" for g in evaluation.groups]
        values = [g.false_match.value for g in evaluation.groups]
        errors = [
            [v - g.false_match.interval[0] for v, g in zip(values, evaluation.groups, strict=True)],
            [g.false_match.interval[1] - v for v, g in zip(values, evaluation.groups, strict=True)],
        ]
        axes.bar(range(len(values)), values, yerr=errors, capsize=3)
        axes.set_xticks(range(len(values)), labels, rotation=30, ha="right")
        axes.set(ylabel="false-match rate (95% CI)", title=f"FMR by group at {evaluation.threshold:.3f}")
        figure.tight_layout()
        plots["groups"] = _save(figure, out / "groups.png")
    return plots


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    _pyplot().close(figure)
    return path


def _markdown(summary: dict[str, Any], plots: dict[str, Path]) -> str:
    v = summary["verification"]
    lines = [
        "# faceledger on LFW",
        "",
        f"Pipeline: {summary['pipeline']}; operating threshold (distance): {summary['operating_threshold']:.4f} "
        f"({summary['operating_threshold_source']})",
        "",
        "## Verification (View 2, threshold chosen on the other folds)",
        "",
        f"- Accuracy: {v['mean_accuracy']:.4f} ± {v['std_accuracy']:.4f} over {len(v['folds'])} fold(s); "
        f"{v['pairs_used']} pairs scored, {v['pairs_without_face']} without a usable face (counted as errors)",
        *[f"- TAR at FAR {k}: {x['tar']:.4f} (distance {x['threshold']:.3f})" for k, x in v["tar_at_far"].items()],
        f"- EER: {v['eer']:.4f}",
        "",
    ]
    ident = summary["identification"]
    if ident:
        lines += [
            "## Identification",
            "",
            f"- Gallery {ident['gallery_size']}, mated probes {ident['mated_probes']}, "
            f"non-mated probes {ident['nonmated_probes']}",
            f"- Rank-1 {ident['rank1']:.4f}, rank-5 {ident['rank5']:.4f}",
            *[
                f"- FNIR at FPIR {k}: {x['fnir']:.4f} (distance {x['threshold']:.3f})"
                for k, x in ident["fnir_at_fpir"].items()
            ],
            *[
                f"- FNIR at FPIR {k} without the {ident['label_error_probes']} label-error probes: {x['fnir']:.4f}"
                for k, x in ident["fnir_at_fpir_without_label_errors"].items()
            ],
            f"- FPIR at the operating threshold: {ident['fpir_at_operating_threshold']:.4f}",
            "",
        ]
    if summary["groups"]:
        header = "| attribute | group | people | images | FMR (95% CI) | FNMR (95% CI) |"
        lines += ["## Error rates by group (evaluation labels only)", "", header, "|---|---|---|---|---|---|"]
        for g in summary["groups"]:
            lines.append(
                f"| {g['attribute']} | {g['group']} | {g['people']} | {g['images']} | "
                f"{_rate(g['fmr'])} | {_rate(g['fnmr'])} |"
            )
        lines += ["", f"Worst/best FMR ratio: {strict_json(summary['group_fmr_worst_best_ratio'], None)}", ""]
    lines += [f"- {note}" for note in summary["notes"]]
    lines += ["", *[f"![{name}]({path.name})" for name, path in plots.items()], ""]
    return "\n".join(lines)


def _rate(rate: dict[str, Any]) -> str:
    return f"{rate['rate']:.2e} ({rate['low_95']:.1e}-{rate['high_95']:.1e}; {rate['errors']:,}/{rate['trials']:,})"


def _html(markdown: str, plots: dict[str, Path]) -> str:
    """A self-contained page: the plots are embedded, nothing is fetched from anywhere."""
    body: list[str] = []
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in line.strip("|").split("|")))
            continue
        if in_table and not line.startswith("|"):
            body.append("</table>")
            in_table = False
        body.append(_html_line(line, plots))
    style = "body{font-family:sans-serif;max-width:60em;margin:auto}td{border:1px solid #ccc;padding:2px 6px}"
    return f"<!doctype html><meta charset=utf-8><title>faceledger on LFW</title><style>{style}</style>" + "\n".join(
        body
    )


def _html_line(line: str, plots: dict[str, Path]) -> str:
    if line.startswith("!["):
        name = line[2 : line.index("]")]
        data = base64.b64encode(plots[name].read_bytes()).decode()
        return f'<img alt="{html.escape(name)}" style="max-width:100%" src="data:image/png;base64,{data}">'
    if line.startswith("# "):
        return f"<h1>{html.escape(line[2:])}</h1>"
    if line.startswith("## "):
        return f"<h2>{html.escape(line[3:])}</h2>"
    if line.startswith("- "):
        return f"<li>{html.escape(line[2:])}</li>"
    return f"<p>{html.escape(line)}</p>" if line and not line.startswith("|---") else ""
