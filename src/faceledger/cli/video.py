"""`faceledger video faces` (tracks and a contact sheet) and `faceledger video search` (one chosen frame)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from faceledger.cli.casework import print_search
from faceledger.cli.errors import reports_errors
from faceledger.cli.options import DataDirOption, JsonOption, WorkersOption, emit_json, make_settings
from faceledger.cli.session import TokenFileOption, TokenOption, acting
from faceledger.errors import InvalidInput
from faceledger.services.casework import video_search
from faceledger.services.standalone.analysis import contact_sheet, video_tracks

video_app = typer.Typer(
    help="Faces in video: tracks to choose from, and a search with one chosen frame.", no_args_is_help=True
)
EverySOption = Annotated[float, typer.Option("--every-s", min=0.04, max=60, help="Seconds between sampled frames.")]


@video_app.command("faces")
@reports_errors
def faces(
    video: Annotated[Path, typer.Argument(help="A video file (MP4, MOV, MKV, WebM, AVI ...).")],
    every_s: EverySOption = 0.5,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write contact_sheet.png, crops and faces.json here.")
    ] = None,
    attribution: Annotated[str, typer.Option("--attribution", help="Credit to print on every output.")] = "",
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sample frames, find faces, link them into one track per person, and pick each track's best face."""
    settings = make_settings(workers=workers)
    console = Console(stderr=True)
    columns = (TextColumn("frames"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("frames", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = video_tracks(video, settings, every_s=every_s, workers=workers, attribution=attribution, on_frame=tick)
    data = result.to_dict()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "contact_sheet.png").write_bytes(contact_sheet(result))
        for number, crop in result.crops.items():
            (out / f"track-{number}.jpg").write_bytes(crop)
        (out / "faces.json").write_text(json.dumps(data, indent=2) + "\n")
    if as_json:
        emit_json(data)
        return
    info = result.info
    typer.echo(f"{info.name}: {info.duration_s:.2f} s, {info.width}x{info.height}, sha256 {info.sha256}")
    typer.echo(
        f"{result.frames_sampled} frames sampled every {every_s} s, {result.faces_seen} faces, "
        f"{len(result.tracks)} track(s)"
    )
    for track in data["tracks"]:
        typer.echo(
            f"  track {track['track']}: {track['first_s']:.2f}-{track['last_s']:.2f} s, "
            f"{track['sightings']} frames; best face at {track['best_s']:.2f} s, quality {track['quality']:.2f}"
        )
    if attribution:
        typer.echo(attribution)
    if out is not None:
        typer.echo(f"wrote {out / 'contact_sheet.png'}")


@video_app.command("search")
@reports_errors
def search(
    video: Annotated[Path, typer.Argument(help="The video the frame comes from.")],
    case: Annotated[str, typer.Option("--case", help="Case number.")],
    purpose: Annotated[str, typer.Option("--purpose", help="Your attestation: why this search is needed.")],
    track: Annotated[int | None, typer.Option("--track", min=1, help="Search this track's best face.")] = None,
    at: Annotated[float | None, typer.Option("--at", min=0, help="Search the frame at this many seconds.")] = None,
    face: Annotated[int | None, typer.Option("--face", min=1, help="With --at: which face (default largest).")] = None,
    all_tracks: Annotated[
        bool, typer.Option("--all-tracks", help="Every track (needs a grant and --warrant).")
    ] = False,
    warrant: Annotated[str, typer.Option("--warrant", help="Warrant or exigency reference for --all-tracks.")] = "",
    every_s: EverySOption = 0.5,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search one frame you chose (--track N or --at SECONDS); the ledger records the video and the frame."""
    if sum((track is not None, at is not None, all_tracks)) != 1:
        raise InvalidInput("choose exactly one of --track N, --at SECONDS or --all-tracks")
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        if all_tracks:
            results = video_search.search_every_track(deployment, actor, case, purpose, video, warrant, every_s)
        elif track is not None:
            results = [video_search.search_track(deployment, actor, case, purpose, video, track, every_s)]
        else:
            results = [video_search.search_time(deployment, actor, case, purpose, video, at or 0.0, face)]
    if as_json:
        emit_json([result.to_dict() for result in results])
        return
    for result in results:
        print_search(result)


@video_app.command("override")
@reports_errors
def override(
    video: Annotated[Path, typer.Argument(help="The video.")],
    case: Annotated[str, typer.Option("--case", help="Case number.")],
    track: Annotated[int, typer.Option("--track", min=1, help="The track whose best face may be searched.")],
    reason: Annotated[str, typer.Option("--reason", help="Why searching it is justified despite its quality.")],
    every_s: EverySOption = 0.5,
    data_dir: DataDirOption = None,
    token: TokenOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Let one track's low-quality best face be searched in one case (supervisors); the reason is ledgered."""
    with acting(data_dir, token, token_file=token_file) as (deployment, actor):
        recorded = video_search.override_track(deployment, actor, case, video, track, reason, every_s)
    typer.echo(f"override {recorded} recorded")
