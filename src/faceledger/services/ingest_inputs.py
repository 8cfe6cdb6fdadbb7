"""What to ingest: a folder (recursively) or a manifest (CSV or JSONL) of local files with provenance.

A manifest is checked whole before anything is stored: missing columns, missing files and paths that
escape the manifest's folder are refused with the line they are on."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from faceledger.engine.image_input import SUPPORTED_FORMATS
from faceledger.errors import InvalidInput, NotFound

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif"}
MANIFEST_COLUMNS = {"file", "source_url", "page_url", "collected_at", "subject_id", "subject_name"}


@dataclass(frozen=True)
class IngestItem:
    path: Path
    source_url: str = ""
    page_url: str = ""
    collected_at: datetime | None = None
    subject_external_id: str = ""
    subject_name: str = ""


def read_inputs(path: Path) -> list[IngestItem]:
    if not path.exists():
        raise NotFound(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        return [IngestItem(p) for p in files]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _manifest(path, _csv_rows(path))
    if suffix in (".jsonl", ".ndjson"):
        return _manifest(path, _jsonl_rows(path))
    raise InvalidInput(
        f"{path}: give a folder of images or a manifest (.csv or .jsonl); images are {', '.join(SUPPORTED_FORMATS)}"
    )


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "file" not in reader.fieldnames:
                raise InvalidInput(f"{path}: the manifest needs a 'file' column; found {reader.fieldnames or []}")
            unknown = set(reader.fieldnames) - MANIFEST_COLUMNS
            if unknown:
                raise InvalidInput(f"{path}: unknown columns {sorted(unknown)}; known: {sorted(MANIFEST_COLUMNS)}")
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: not a readable UTF-8 CSV ({exc})") from exc


def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}: line {number} is not JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or "file" not in row:
            raise InvalidInput(f"{path}: line {number} needs a 'file' field")
        unknown = set(row) - MANIFEST_COLUMNS
        if unknown:
            raise InvalidInput(f"{path}: line {number} has unknown fields {sorted(unknown)}")
        rows.append(row)
    return rows


def _manifest(manifest: Path, rows: list[dict[str, Any]]) -> list[IngestItem]:
    root = manifest.parent.resolve()
    items = []
    for number, row in enumerate(rows, start=1):
        where = f"{manifest}: entry {number}"
        relative = str(row.get("file") or "").strip()
        if not relative:
            raise InvalidInput(f"{where}: 'file' is empty")
        file = (root / relative).resolve()
        if not file.is_relative_to(root):
            raise InvalidInput(f"{where}: {relative!r} is outside the manifest's folder {root}")
        if not file.is_file():
            raise InvalidInput(f"{where}: {relative!r} does not exist")
        items.append(
            IngestItem(
                path=file,
                source_url=str(row.get("source_url") or ""),
                page_url=str(row.get("page_url") or ""),
                collected_at=_date(row.get("collected_at"), where),
                subject_external_id=str(row.get("subject_id") or "").strip(),
                subject_name=str(row.get("subject_name") or "").strip(),
            )
        )
    return items


def _date(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError as exc:
            raise InvalidInput(f"{where}: collected_at {text!r} is not an ISO date (YYYY-MM-DD)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
