"""`faceledger init`, `faceledger gallery ...` and `faceledger index ...`: the deployment's gallery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from faceledger.cli.errors import reports_errors
from faceledger.cli.options import DataDirOption, JsonOption, WorkersOption, emit_json, make_settings
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.policy.governance import ActorView
from faceledger.services.gallery.curation import (
    IngestReport,
    SourceSpec,
    governed_ingest,
    governed_rebuild,
    governed_remove,
    governed_stats,
)
from faceledger.services.runtime.at_rest import seal_plain_data
from faceledger.services.runtime.deployment import Deployment, data_dir_from, index_drift, open_deployment
from faceledger.services.runtime.setup import create_deployment
from faceledger.types import IndexBackend

gallery_app = typer.Typer(help="The gallery: ingest with provenance, search, remove completely.", no_args_is_help=True)
index_app = typer.Typer(help="The vector index, derived from the database.", no_args_is_help=True)


@reports_errors
def init(
    data_dir: DataDirOption = None,
    index_backend: Annotated[IndexBackend, typer.Option("--index-backend", help="Vector index backend.")] = (
        IndexBackend.FAISS
    ),
    admin: Annotated[str, typer.Option("--admin", help="User name of the first admin.")] = "admin",
    department: Annotated[str, typer.Option("--department", help="The first admin's department.")] = "Administration",
    as_json: JsonOption = False,
) -> None:
    """Create a deployment: database, index, ledger and its signing key, and the first admin's token (shown once)."""
    settings = make_settings()
    folder = data_dir_from(settings, data_dir)
    deployment, issued = create_deployment(settings, folder, index_backend, admin=admin, department=department)
    deployment.close()
    if as_json:
        emit_json(
            {
                "data_dir": str(folder),
                "index_backend": index_backend.value,
                "admin": issued.username,
                "token": issued.token,
            }
        )
        return
    typer.echo(f"created {folder} ({index_backend.value} index)")
    typer.echo(f"first admin: {issued.username}; API token (shown once, store it now):")
    typer.echo(issued.token)


@reports_errors
def seal_data(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """Encrypt at rest whatever is still plain (data from an older version, an old database restored) and
    make the data directory private (files 0600, folders 0700). Needs the keys folder; safe to repeat."""
    deployment = open_deployment(make_settings(), data_dir)  # a first open already seals once
    try:
        report = seal_plain_data(deployment)
    finally:
        deployment.close()
    if as_json:
        emit_json(report.to_dict())
        return
    typer.echo(
        f"sealed {report.embeddings} embedding(s), {report.optout_embeddings} opt-out embedding(s), "
        f"{report.files} file(s)"
    )


@gallery_app.command("ingest")
@reports_errors
def ingest_command(
    path: Annotated[Path, typer.Argument(help="A folder of images (recursively) or a manifest (.csv, .jsonl).")],
    source: Annotated[str, typer.Option("--source", help="Name of the source the images come from.")],
    legal_basis: Annotated[
        str | None, typer.Option("--legal-basis", help="Why collecting these images is lawful (new sources).")
    ] = None,
    collection_method: Annotated[str, typer.Option("--collection-method", help="How they were collected.")] = "",
    contact: Annotated[str, typer.Option("--contact", help="Who answers for the source.")] = "",
    workers: WorkersOption = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Analyse on this Ray cluster (host:port of its head); the database writes stay here.",
        ),
    ] = None,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add images to the gallery (curators): deduplicated, incremental, resumable after a kill; ledgered."""
    with acting(data_dir, token, token_file=token_file, workers=workers) as (deployment, actor):
        report = _ingest_with_progress(
            deployment, actor, path, workers, source, legal_basis, collection_method, contact, ray
        )
    _print_ingest(report, as_json)


def _ingest_with_progress(
    deployment: Deployment,
    actor: ActorView,
    path: Path,
    workers: int | None,
    source: str,
    legal_basis: str | None,
    collection_method: str,
    contact: str,
    ray_address: str | None = None,
) -> IngestReport:
    spec = SourceSpec(source, legal_basis, collection_method, contact)
    console = Console(stderr=True)
    columns = (
        TextColumn("ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("ingest", total=None, status="")

        def tick(done: int, total: int, report: IngestReport) -> None:
            status = f"{report.images_added} added, {len(report.failures)} failed"
            progress.update(task, completed=done, total=total, status=status)

        return governed_ingest(
            deployment, actor, path, spec, workers=workers, on_progress=tick, ray_address=ray_address
        )


def _print_ingest(report: IngestReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_dict())
        return
    typer.echo(
        f"{report.files_seen} files: {report.images_added} images added ({report.faces_added} faces), "
        f"{report.images_known} already in the gallery, {report.duplicates_in_input} duplicates in the input, "
        f"{len(report.failures)} failed; {report.seconds:.1f} s"
    )
    for file, reason in report.failures[:20]:
        typer.echo(f"  failed: {file}: {reason}")
    if len(report.failures) > 20:
        typer.echo(f"  ... and {len(report.failures) - 20} more (see --json)")


@gallery_app.command("remove")
@reports_errors
def remove_command(
    image: Annotated[int | None, typer.Option("--image", help="A gallery image id.")] = None,
    sha256: Annotated[str | None, typer.Option("--sha256", help="A gallery image's content hash.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Every image of a source, and the source.")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Every image of a subject (external id).")] = None,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove images completely (curators): rows, index entries, thumbnails; ledgered."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        removal = governed_remove(deployment, actor, image_id=image, sha256=sha256, source=source, subject=subject)
    if as_json:
        emit_json(removal.to_dict())
    else:
        typer.echo(
            f"removed {removal.what}: {removal.images} images, {removal.faces} faces, {removal.thumbnails} thumbnails"
        )


@gallery_app.command("stats")
@reports_errors
def stats_command(
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Images, faces, sources, failures, and the index's backend and drift."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        stats = governed_stats(deployment, actor)
    if as_json:
        emit_json(stats)
        return
    index = stats["index"]
    typer.echo(
        f"{stats['images']} images, {stats['faces']} faces, {stats['subjects']} subjects, "
        f"{stats['ingest_failures']} ingest failures; gallery version {stats['gallery_version']}"
    )
    for entry in stats["sources"]:
        typer.echo(f"  source {entry['name']}: {entry['images']} images (legal basis: {entry['legal_basis']})")
    state = "in step" if index["clean"] else f"{index['missing_from_index']} missing, {index['not_in_database']} extra"
    typer.echo(f"index {index['backend']}: {index['faces']} faces, {state}")


@index_app.command("check")
@reports_errors
def index_check(
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the index with the database (the source of truth); exit 1 on drift."""
    with acting(data_dir, token, token_file=token_file, index_sync_on_open=False) as (deployment, actor):
        governed_stats(deployment, actor)
        drift, _, _ = index_drift(deployment)
    if as_json:
        emit_json(drift.to_dict())
    else:
        typer.echo(
            f"database {drift.database_faces} faces, index {drift.index_faces}: {drift.missing_from_index} "
            f"missing from the index, {drift.not_in_database} not in the database"
        )
    if not drift.clean:
        raise typer.Exit(1)


@index_app.command("rebuild")
@reports_errors
def index_rebuild(
    data_dir: DataDirOption = None, token: TokenOption = None, token_file: TokenFileOption = None
) -> None:
    """Rebuild the index from the database (curators)."""
    with acting(data_dir, token, token_file=token_file, index_sync_on_open=False) as (deployment, actor):
        governed_rebuild(deployment, actor)
        count = deployment.index.count()
    typer.echo(f"index rebuilt: {count} faces")


__all__ = ["gallery_app", "index_app", "init"]
