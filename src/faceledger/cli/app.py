"""The `faceledger` command line: parse options, call services, render. No business rules here."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from faceledger import __version__
from faceledger.cli import render
from faceledger.cli.account_commands import enrol_command
from faceledger.cli.audit import audit_app
from faceledger.cli.casework import candidate_app, case_app, lead_app, quality_override, review_command, search
from faceledger.cli.disclose import disclose
from faceledger.cli.errors import fail, one_line, reports_errors
from faceledger.cli.evaluate import eval_app
from faceledger.cli.gallery import gallery_app, index_app, init, seal_data
from faceledger.cli.models import added_models, models_app, operator_notices
from faceledger.cli.options import DataDirOption, DetectorOption, JsonOption, WorkersOption, emit_json, make_settings
from faceledger.cli.oversight import ledger_app, optout_app, retention_app
from faceledger.cli.people import authority_app, user_app
from faceledger.cli.reports import report_app
from faceledger.cli.transparency import register as register_transparency
from faceledger.cli.video import video_app
from faceledger.cli.witness import witness_app
from faceledger.services.runtime.deployment import data_dir_from, open_deployment
from faceledger.services.standalone.analysis import AnalysisService, FileResult, model_notices, runtime, save_chips

app = typer.Typer(
    name="faceledger",
    help="Accountable face search. Scores are likelihoods for people to weigh, never identifications.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("init")(init)
app.command("seal-data")(seal_data)
app.add_typer(user_app, name="user")
app.command("enrol")(enrol_command)
app.add_typer(authority_app, name="authority")
case_app.command("disclose")(disclose)
app.add_typer(case_app, name="case")
app.command("search")(search)
app.command("quality-override")(quality_override)
app.add_typer(candidate_app, name="candidate")
app.command("review")(review_command)
app.add_typer(lead_app, name="lead")
register_transparency(ledger_app)
app.add_typer(ledger_app, name="ledger")
app.add_typer(witness_app, name="witness")
app.add_typer(retention_app, name="retention")
app.add_typer(optout_app, name="optout")
app.add_typer(video_app, name="video")
app.add_typer(report_app, name="report")
app.add_typer(audit_app, name="audit")
app.add_typer(gallery_app, name="gallery")
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
app.add_typer(models_app, name="models")


@app.command()
@reports_errors
def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files (JPEG, PNG, WebP, BMP, TIFF, GIF).")],
    as_json: JsonOption = False,
    detector: DetectorOption = None,
    rotation_search: Annotated[
        bool, typer.Option("--rotation-search", help="Also look for sideways and upside-down faces (4x slower).")
    ] = False,
    workers: WorkersOption = None,
    chips_dir: Annotated[
        Path | None, typer.Option("--chips-dir", help="Write each face's aligned 150 px chip as PNG here.")
    ] = None,
) -> None:
    """Find every face in each image: box, landmarks, quality with reasons."""
    settings = make_settings(rotation_search=rotation_search or None, workers=workers)
    service = AnalysisService(settings)
    results = _with_progress(lambda tick: list(service.detect(images, detector, on_result=tick)), len(images))
    if chips_dir is not None:
        for result in results:
            if result.faces is not None:
                save_chips(result.faces, chips_dir)
    failed = [r for r in results if r.faces is None]
    for result in failed:
        sys.stderr.write(f"faceledger: error: {one_line(result.error or 'unknown error')}\n")
    if as_json:
        emit_json([render.file_result_dict(r) for r in results])
    else:
        for result in results:
            if result.faces is not None:
                typer.echo("\n".join(render.image_text(result.faces)))
    if failed:
        raise typer.Exit(3 if len(failed) == len(results) else 1)


@app.command()
@reports_errors
def compare(
    image_a: Annotated[Path, typer.Argument(help="First image.")],
    image_b: Annotated[Path, typer.Argument(help="Second image.")],
    as_json: JsonOption = False,
    face_a: Annotated[int | None, typer.Option("--face-a", min=1, help="Face number in A (default: largest).")] = None,
    face_b: Annotated[int | None, typer.Option("--face-b", min=1, help="Face number in B (default: largest).")] = None,
    detector: DetectorOption = None,
) -> None:
    """How alike two faces are: distance, estimated false-match rate, and a likelihood, never an identity."""
    service = AnalysisService(make_settings())
    result = service.compare(image_a, image_b, face_a=face_a, face_b=face_b, detector=detector)
    if as_json:
        emit_json(result.to_dict())
    else:
        typer.echo("\n".join(render.comparison_text(result)))


@app.command()
@reports_errors
def version(as_json: JsonOption = False, data_dir: DataDirOption = None) -> None:
    """Version, the configured pipeline's models (identity, licence) and the packages that run them; with a
    deployment (--data-dir or FACELEDGER_DATA_DIR), the models its operators added."""
    settings = make_settings()
    pipeline = settings.pipeline
    added = added_models(settings, data_dir)
    models = model_notices(pipeline) + operator_notices(settings, added)
    embedder = next(m for m in models if m.role == "embedder")  # the first: DetectedFace.embedding's model
    packages = runtime(pipeline)
    data = {
        "faceledger": __version__,
        "model": embedder.identity.to_dict(),
        "licence": embedder.licence,
        "pipeline": pipeline.value,
        "models": [m.to_dict() for m in models],
        "runtime": packages,
    }
    if added:
        data["added_models"] = [a.to_dict() for a in added]
    if as_json:
        emit_json(data)
        return
    typer.echo(f"faceledger {__version__}, pipeline {pipeline.value}")
    for m in models:
        notices = f"; notice: {', '.join(m.notice_files)} (faceledger/engine/data/licences)" if m.notice_files else ""
        who = m.identity
        typer.echo(f"{m.role}: {who.name} version {who.version}, weights sha256 {who.weights_sha256}")
        typer.echo(f"  licence {m.licence}{notices}")
    for a in added:
        when = f"evaluated {a.evaluated_at:%Y-%m-%d}" if a.evaluated else "not evaluated (cannot be enabled)"
        typer.echo(
            f"added model {a.name}: sha256 {a.sha256}, licence {a.licence}, commercial use "
            f"{'yes' if a.commercial_use else 'no'}, {when}"
        )
    typer.echo("runtime " + ", ".join(f"{k} {v}" for k, v in packages.items()))


@app.command()
@reports_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    data_dir: DataDirOption = None,
    processes: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Server processes; they share all request state through the data directory and database.",
        ),
    ] = 1,
) -> None:
    """Serve the REST API (docs at /docs) and the web UI (at /ui/) for a deployment."""
    import uvicorn

    from faceledger.api.app import create_app

    settings = make_settings()
    folder = data_dir_from(settings, data_dir)
    open_deployment(settings, folder).close()  # a missing or damaged data directory fails here, in one line
    typer.echo(f"faceledger: serving {folder} at http://{host}:{port}/ui/ (API docs at /docs)", err=True)
    if processes == 1:
        uvicorn.run(create_app(settings, folder), host=host, port=port, log_level="warning")
        return
    os.environ["FACELEDGER_DATA_DIR"] = str(folder)  # each worker process builds its app from the environment
    uvicorn.run(
        "faceledger.api.app:app_from_environment",
        factory=True,
        workers=processes,
        host=host,
        port=port,
        log_level="warning",
    )


def _with_progress(run: Any, total: int) -> list[FileResult]:
    """Run with a progress bar on stderr when there is more than one file and stderr is a terminal."""
    console = Console(stderr=True)
    if total < 2 or not console.is_terminal:
        return list(run(None))
    columns = (
        TextColumn("faces"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("detect", total=total, rate="")

        def tick(_: FileResult) -> None:
            progress.advance(task)
            elapsed = progress.tasks[0].elapsed or 0.0
            done = progress.tasks[0].completed
            progress.update(task, rate=f"{done / elapsed:.1f} img/s" if elapsed else "")

        return list(run(tick))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        raise fail("interrupted", 130) from None
