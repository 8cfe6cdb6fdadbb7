"""Options and helpers shared by the command modules."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from faceledger.config import Settings
from faceledger.errors import InvalidInput
from faceledger.types import Detector

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of text.")]
DetectorOption = Annotated[
    Detector | None, typer.Option("--detector", help="hog (fast, default) or cnn (finds harder faces, ~20x slower).")
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The deployment's data directory (default: $FACELEDGER_DATA_DIR)."),
]
WorkersOption = Annotated[int | None, typer.Option("--workers", min=1, help="Processes to use (default: all cores).")]


def make_settings(**overrides: Any) -> Settings:
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def emit_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{option} must be a date as YYYY-MM-DD; got {text!r}") from exc
