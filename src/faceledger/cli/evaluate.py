"""`faceledger eval ...`: measure the system on real faces, and advise on thresholds."""

from __future__ import annotations

import os
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from faceledger.cli.errors import reports_errors
from faceledger.cli.options import DataDirOption, JsonOption, WorkersOption, make_settings
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.config import Settings
from faceledger.errors import InvalidInput
from faceledger.eval.choices import measure_choices
from faceledger.eval.compare import compare_report
from faceledger.eval.embeddings import EmbeddingCache, default_cache_path
from faceledger.eval.operating import sanitise, strict_json
from faceledger.eval.operator_eval import operator_view1_table
from faceledger.eval.report import run_lfw, threshold_advice, write_report
from faceledger.policy.operating_threshold import operating_threshold
from faceledger.services.governance.operating_threshold import calibration_table
from faceledger.services.model_admin.operator_models import operator_settings, record_evaluation
from faceledger.services.runtime.deployment import Deployment
from faceledger.types import BUILTIN_PIPELINES, Pipeline

_PIPELINE_HELP = (
    "Which pipeline to measure (default: settings.pipeline): dlib, sface, fused, or a model added "
    "with faceledger models add (then --data-dir: its report is stored in the deployment)."
)
eval_app = typer.Typer(help="Measure accuracy on real faces; advise on thresholds.", no_args_is_help=True)
_BUILTIN = {p.value: p for p in BUILTIN_PIPELINES}


def _added_models(names: list[str], data_dir: Path | None) -> list[str]:
    """The names in `names` that are not built-in pipelines: models added to the deployment, which is then needed."""
    added = [name for name in names if name not in _BUILTIN]
    if added and data_dir is None and make_settings().data_dir is None:
        raise InvalidInput(
            f"--pipeline {added[0]}: not one of {', '.join(_BUILTIN)}; a model added with "
            "faceledger models add is evaluated in its deployment: pass --data-dir"
        )
    return added


def _pipeline_settings(name: str, deployment: Deployment | None, workers: int | None) -> Settings:
    if name in _BUILTIN:
        return make_settings(workers=workers, pipeline=_BUILTIN[name])
    if deployment is None:
        raise InvalidInput(f"--pipeline {name}: an added model needs its deployment (--data-dir)")
    return operator_settings(deployment, name, base=make_settings(workers=workers))


@eval_app.command("lfw")
@reports_errors
def lfw_command(
    data: Annotated[
        Path | None, typer.Option("--data", help="Folder with lfw/, pairs.txt, lfw_labels/ (default: ../shared/data).")
    ] = None,
    folds: Annotated[int, typer.Option("--folds", min=1, max=10, help="How many of View 2's folds to score.")] = 10,
    out: Annotated[Path, typer.Option("--out", help="Where the report and plots go.")] = Path("eval-report"),
    no_identification: Annotated[bool, typer.Option("--no-identification", help="Verification only.")] = False,
    cache: Annotated[Path | None, typer.Option("--cache", help="Embedding cache file.")] = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", help=_PIPELINE_HELP)] = None,
    people: Annotated[
        int | None, typer.Option("--people", min=10, help="Only the first N people for identification and groups.")
    ] = None,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """LFW verification (10-fold), identification and per-group error rates, with a report and plots. For an
    added model (needs the deployment) the report and its View 1 calibration table are stored, ledgered."""
    data = data or Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data"))
    if not (data / "pairs.txt").is_file():
        raise InvalidInput(f"{data}: no pairs.txt here; point --data at the LFW data folder")
    if pipeline is not None and _added_models([pipeline], data_dir):  # evaluated inside its deployment
        with acting(data_dir, token, token_file=token_file) as (deployment, actor):
            settings = operator_settings(deployment, pipeline, base=make_settings(workers=workers))
            summary, written = _run_and_report(data, settings, folds, out, no_identification, cache, people, workers)
            embedding_cache = EmbeddingCache(cache or default_cache_path())
            try:
                table = operator_view1_table(data, settings, embedding_cache, workers=workers)
            finally:
                embedding_cache.close()
            stored = record_evaluation(deployment, actor, pipeline, sanitise(summary), table)
        summary = {
            **summary,
            "stored": {
                "model": stored.name,
                "sha256": stored.sha256,
                "calibration_impostor_pairs": table["impostor_pairs"],
            },
        }
    else:
        settings = make_settings(workers=workers, pipeline=_BUILTIN[pipeline] if pipeline else None)
        summary, written = _run_and_report(data, settings, folds, out, no_identification, cache, people, workers)
    _print_summary(summary, written, folds, as_json)


def _run_and_report(
    data: Path,
    settings: Settings,
    folds: int,
    out: Path,
    no_identification: bool,
    cache: Path | None,
    people: int | None,
    workers: int | None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    embedding_cache = EmbeddingCache(cache or default_cache_path())
    console = Console(stderr=True)
    try:
        full = not no_identification
        with Progress(
            TextColumn("embedding LFW images not yet cached"),
            BarColumn(),
            TextColumn("{task.completed}"),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as progress:
            task = progress.add_task("embed", total=None)
            evaluation = run_lfw(
                data,
                settings,
                folds=list(range(1, folds + 1)),
                cache=embedding_cache,
                workers=workers,
                identification=full,
                groups=full,
                max_people=people,
                on_result=lambda _: progress.advance(task),
            )
    finally:
        embedding_cache.close()
    written = write_report(evaluation, out)
    return evaluation.summary(), written


def _print_summary(summary: dict[str, Any], written: dict[str, Path], folds: int, as_json: bool) -> None:
    if as_json:
        typer.echo(strict_json({**summary, "report": {name: str(path) for name, path in written.items()}}))
        return
    v = summary["verification"]
    typer.echo(f"pipeline {summary['pipeline']}, operating threshold {summary['operating_threshold']:.4f}")
    typer.echo(f"verification: accuracy {v['mean_accuracy']:.4f} ± {v['std_accuracy']:.4f} over {folds} fold(s)")
    for far, row in v["tar_at_far"].items():
        typer.echo(f"  TAR at FAR {far}: {row['tar']:.4f}")
    if summary["identification"]:
        ident = summary["identification"]
        typer.echo(
            f"identification: rank-1 {ident['rank1']:.4f}, rank-5 {ident['rank5']:.4f}, "
            f"FNIR at FPIR 1%: {ident['fnir_at_fpir']['0.01']['fnir']:.4f}"
        )
    if "stored" in summary:
        typer.echo(
            f"stored for {summary['stored']['model']} (sha256 {summary['stored']['sha256']}) with its View 1 "
            "calibration table: it may now be enabled (faceledger models enable)"
        )
    typer.echo(f"report: {written['html']}")


@eval_app.command("compare")
@reports_errors
def compare_command(
    pipelines: Annotated[
        list[str] | None,
        typer.Option(
            "--pipeline",
            help="A pipeline, or a model added to --data-dir's deployment (repeat; default: the built-in ones).",
        ),
    ] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Folder with lfw/, pairs.txt, lfw_labels/.")] = None,
    folds: Annotated[int, typer.Option("--folds", min=1, max=10, help="How many of View 2's folds to score.")] = 10,
    people: Annotated[
        int | None, typer.Option("--people", min=10, help="Only the first N people for identification and groups.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Where the report and plots go.")] = Path("eval-compare"),
    cache: Annotated[Path | None, typer.Option("--cache", help="Embedding cache file.")] = None,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Several pipelines on LFW in one report: verification, TAR at FAR 1e-3/1e-4, open-set FNIR at FPIR
    1%/0.1%, per-group FMR/FNMR at each pipeline's operating threshold, ROC and DET overlays."""
    data = data or Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data"))
    if not (data / "pairs.txt").is_file():
        raise InvalidInput(f"{data}: no pairs.txt here; point --data at the LFW data folder")
    chosen = list(dict.fromkeys(pipelines or list(_BUILTIN)))
    with ExitStack() as stack:
        deployment = None
        if _added_models(chosen, data_dir):  # added models are measured with their stored, sha256-checked file
            deployment, _ = stack.enter_context(acting(data_dir, token, token_file=token_file))
        settings = [_pipeline_settings(name, deployment, workers) for name in chosen]
        embedding_cache = stack.enter_context(closing(EmbeddingCache(cache or default_cache_path())))
        evaluations = [
            run_lfw(data, s, folds=list(range(1, folds + 1)), cache=embedding_cache, workers=workers, max_people=people)
            for s in settings
        ]
    report = compare_report(evaluations, out)
    if as_json:
        typer.echo(strict_json(report))
        return
    for row in report["pipelines"]:
        typer.echo(
            f"{row['pipeline']:<6} accuracy {row['accuracy']:.4f}  "
            f"TAR@FAR 1e-3 {row['tar_at_far']['0.001']:.4f}  rank-1 {row['rank1']:.4f}  "
            f"FNIR@FPIR 1% {row['fnir_at_fpir']['0.01']:.4f}"
        )
    typer.echo(f"report: {report['files']['html']}")


@eval_app.command("choices")
@reports_errors
def choices_command(
    data: Annotated[Path | None, typer.Option("--data", help="Folder with lfw/ and the View 1 pairs files.")] = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Embedding cache file.")] = None,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pipeline options (flip, padding, upsampling, CNN fallback) measured on LFW View 1 only."""
    data = data or Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data"))
    embedding_cache = EmbeddingCache(cache or default_cache_path())
    try:
        rows = measure_choices(data, make_settings(workers=workers), embedding_cache, workers)
    finally:
        embedding_cache.close()
    if as_json:
        typer.echo(strict_json(rows))
        return
    for row in rows:
        typer.echo(
            f"{row['variant']:<42} DevTest accuracy {row['devtest_accuracy']:.4f}  "
            f"TAR@FAR 0.01 {row['devtest_tar_at_far_0.01']:.4f}  no face {row['images_without_face']}"
        )


@eval_app.command("threshold")
@reports_errors
def threshold_command(
    gallery_size: Annotated[int, typer.Option("--gallery-size", min=1, help="Faces in the gallery.")],
    fpir: Annotated[
        float, typer.Option("--fpir", help="Acceptable share of strangers who get any false candidate, e.g. 0.01.")
    ],
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            help="Whose distances (default: settings.pipeline); an added model's name "
            "reads the table its stored evaluation measured (needs --data-dir).",
        ),
    ] = None,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """The distance threshold that keeps false candidates at a target rate for a gallery of a given size, for
    every demographic group the pipeline's table measured on enough people (the policy a deployment applies)."""
    if not 0 < fpir < 1:
        raise InvalidInput("--fpir must be between 0 and 1, e.g. 0.01")
    configured = make_settings()
    if pipeline is None and configured.pipeline is Pipeline.OPERATOR:
        pipeline = configured.operator_model  # the added model the settings search with
    if pipeline is not None and _added_models([pipeline], data_dir):
        with acting(data_dir, token, token_file=token_file) as (deployment, _):
            settings = operator_settings(deployment, pipeline)
            table = calibration_table(settings)  # the table its stored evaluation measured for this file
    else:
        settings = make_settings(pipeline=_BUILTIN[pipeline] if pipeline else None)
        table = calibration_table(settings)  # its own distances' table, never dlib's for another
    advice = threshold_advice(table, gallery_size, fpir)
    # The deployment's policy (policy/operating_threshold.py): the worst group's 95% upper bound, not the average.
    policy = operating_threshold(table, gallery_size, fpir, settings.threshold_min_group_people)
    name = pipeline or settings.pipeline.value
    advice.update(pipeline=name, table_model=table.model.key, operating_threshold=policy.to_dict())
    if as_json:
        typer.echo(strict_json(advice))
        return
    typer.echo(
        f"{name} pipeline ({table.model.key}), gallery {gallery_size:,} faces, target FPIR "
        f"{fpir:g}: use distance <= {policy.threshold:.3f} ({policy.describe()}; then "
        f"{100 * table.false_non_match_rate(policy.threshold):.1f}% of same-person pairs fall above it)"
    )
    typer.echo(
        f"on the average alone each comparison may falsely match at most {advice['required_fmr']:.2e}: distance "
        f"<= {advice['threshold']:.3f} (then {100 * advice['false_non_match_rate_at_threshold']:.1f}% of "
        "same-person pairs fall above it)"
    )
    typer.echo(advice["note"])
