"""`faceledger models list | enable NAME | reembed NAME`: the recognition models the gallery holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from faceledger.cli.errors import reports_errors
from faceledger.cli.options import DataDirOption, JsonOption, emit_json
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.config import Settings
from faceledger.errors import EngineUnavailable
from faceledger.services.model_admin.gallery_models import (
    ReembedReport,
    governed_enable,
    governed_list,
    governed_reembed,
)
from faceledger.services.model_admin.operator_models import OperatorModelInfo, add_model, list_operator_models
from faceledger.services.runtime.deployment import open_deployment
from faceledger.services.standalone.analysis import ModelNotice
from faceledger.types import ColourOrder, ModelIdentity, Pipeline, PixelScale, YesNo

models_app = typer.Typer(help="Recognition models: which the gallery holds, which are searched.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="A model's name or key (faceledger models list), or a pipeline.")]


@models_app.command("list")
@reports_errors
def list_command(
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """The gallery's models: enabled for search or not, faces embedded, faces in each model's index."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        models = governed_list(deployment, actor)
        added = {m.model_key: m for m in list_operator_models(deployment)}
    if as_json:
        emit_json({"models": [m.to_dict() for m in models], "added_models": [a.to_dict() for a in added.values()]})
        return
    for m in models:
        state = "enabled" if m.enabled else "not enabled"
        pipeline = ", the configured pipeline's" if m.in_pipeline else ""
        typer.echo(
            f"{m.model_key}: {state}{pipeline}; {m.faces_embedded} of {m.gallery_faces} faces embedded, "
            f"{m.index_faces} in its index"
        )
        if (a := added.get(m.model_key)) is not None:
            typer.echo(
                f"  added by {a.added_by} {a.added_at:%Y-%m-%d %H:%M}; licence {a.licence}; commercial use "
                f"{'yes' if a.commercial_use else 'no'}; sha256 {a.sha256}; "
                f"{f'evaluated {a.evaluated_at:%Y-%m-%d %H:%M}' if a.evaluated_at else 'not evaluated'}"
            )


@models_app.command("add")
@reports_errors
def add_command(
    file: Annotated[Path, typer.Argument(help="The recognizer: ONNX, 1x3x112x112 aligned face in, one embedding out.")],
    name: Annotated[str, typer.Option("--name", help="What the model is called here (models enable NAME).")],
    licence: Annotated[str, typer.Option("--licence", help="The licence the weights are used under (text).")],
    commercial_use: Annotated[YesNo, typer.Option("--commercial-use", help="Does the licence allow commercial use?")],
    colour: Annotated[ColourOrder, typer.Option("--input-colour", help="Channel order it reads.")] = ColourOrder.RGB,
    scale: Annotated[
        PixelScale,
        typer.Option("--pixel-scale", help="raw 0-255, unit 0-1, or symmetric (x-127.5)/127.5 (ArcFace, AdaFace)."),
    ] = PixelScale.SYMMETRIC,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a licensed recognizer (curators): checked, stored read-only by sha256, ledgered; searchable only after
    faceledger eval lfw --pipeline NAME and models reembed/enable NAME."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        info = add_model(
            deployment,
            actor,
            file,
            name=name,
            licence=licence,
            commercial_use=commercial_use is YesNo.YES,
            colour=colour,
            scale=scale,
        )
    if as_json:
        emit_json(info.to_dict())
        return
    typer.echo(
        f"{info.name} added as {info.model_key} ({info.embedding_dim}-d, sha256 {info.sha256}); next: "
        f"faceledger eval lfw --pipeline {info.name}"
    )


@models_app.command("enable")
@reports_errors
def enable_command(
    name: NameArgument,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="Enable although some faces have no embedding by it (ledgered, counted)."),
    ] = False,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search with a model (curators); every gallery face must have its embedding (models reembed)."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        status = governed_enable(deployment, actor, name, allow_missing=allow_missing)
    if as_json:
        emit_json(status.to_dict())
    else:
        typer.echo(f"{status.model_key} enabled: {status.faces_embedded} faces")


@models_app.command("reembed")
@reports_errors
def reembed_command(
    name: NameArgument,
    from_thumbnails: Annotated[
        bool,
        typer.Option(
            "--from-thumbnails", help="Where an original image is gone, embed the stored face thumbnail (worse)."
        ),
    ] = False,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Embed the gallery with a model (curators): resumable (faces that have it are skipped), ledgered."""
    console = Console(stderr=True)
    columns = (
        TextColumn("re-embed"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
    )
    with (
        acting(data_dir, token, token_file=token_file) as (deployment, actor),
        Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress,
    ):
        task = progress.add_task("re-embed", total=None, status="")

        def tick(done: int, total: int, report: ReembedReport) -> None:
            status = f"{report.embedded} embedded, {report.unavailable} without pixels"
            progress.update(task, completed=done, total=total, status=status)

        report = governed_reembed(deployment, actor, name, from_thumbnails=from_thumbnails, on_progress=tick)
    if as_json:
        emit_json(report.to_dict())
        return
    typer.echo(
        f"{report.model_key}: {report.embedded} faces embedded ({report.from_originals} from originals, "
        f"{report.from_thumbnails} from thumbnails), {report.already_embedded} already had it, "
        f"{report.unavailable} without an original (see --from-thumbnails), {report.not_found_again} "
        f"not found again; {report.seconds:.1f} s"
    )
    for failure in report.failures[:20]:
        typer.echo(f"  failed: {failure}")


def added_models(settings: Settings, data_dir: Path | None) -> list[OperatorModelInfo]:
    """The deployment's added models, for `faceledger version` (none when no deployment is named)."""
    folder = data_dir or settings.data_dir
    if folder is None:
        return []
    deployment = open_deployment(settings, folder)
    try:
        return list_operator_models(deployment)
    finally:
        deployment.close()


def operator_notices(settings: Settings, added: list[OperatorModelInfo]) -> list[ModelNotice]:
    """The operator pipeline's embedder: the added model it names (FACELEDGER_OPERATOR_MODEL)."""
    if settings.pipeline is not Pipeline.OPERATOR:
        return []
    chosen = [a for a in added if a.name == settings.operator_model]
    if not chosen:
        raise EngineUnavailable(
            f"the operator pipeline names the added model {settings.operator_model!r}, which "
            "this deployment does not have (faceledger version --data-dir DATA_DIR)"
        )
    a = chosen[0]
    identity = ModelIdentity(a.name, "operator", a.sha256)
    return [ModelNotice("embedder", identity, f"{a.licence} (commercial use: {'yes' if a.commercial_use else 'no'})")]


__all__ = ["added_models", "models_app", "operator_notices"]
