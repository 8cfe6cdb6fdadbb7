"""What to ingest: a folder (recursively) or a manifest (CSV or JSONL) of local files with provenance.

A manifest is checked whole before anything is stored: missing columns, missing files and paths that
escape the manifest's folder are refused with the line they are on; so are source and page URLs that
are not http(s) (a `javascript:` link would run in a reviewer's browser).

Only files under the configured ingest roots are read (none configured: ingest by path is off), never
the data directory or the keys folder, and every file is resolved (symlinks followed) and checked, not
just the folder named. Missing and forbidden look the same, so the server's filesystem cannot be probed;
errors never quote a file's contents."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from faceledger.engine.image_input import SUPPORTED_FORMATS
from faceledger.errors import InvalidInput, NotIngestable
from faceledger.services.runtime.deployment import Deployment

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif"}
MANIFEST_COLUMNS = {"file", "source_url", "page_url", "collected_at", "subject_id", "subject_name"}
URL_SCHEMES = ("http", "https")
MAX_URL_CHARS = 2048


@dataclass(frozen=True)
class InputRoots:
    """Where ingest may read: under one of `roots` and under none of `forbidden` (both resolved)."""

    roots: tuple[Path, ...]
    forbidden: tuple[Path, ...]

    @classmethod
    def of(cls, roots: Sequence[Path], forbidden: Sequence[Path]) -> InputRoots:
        return cls(tuple(root.resolve() for root in roots), tuple(path.resolve() for path in forbidden))

    def allows(self, resolved: Path) -> bool:
        inside = any(resolved.is_relative_to(root) for root in self.roots)
        return inside and not any(resolved.is_relative_to(path) for path in self.forbidden)

    def check(self, path: Path) -> Path:
        """The input resolved, or NotIngestable: the same words whether it is missing or not allowed."""
        if not self.roots:
            raise NotIngestable("ingest by path is off: no ingest roots are configured (FACELEDGER_INGEST_ROOTS)")
        try:
            resolved = path.resolve()
            found = resolved.exists()
        except (OSError, RuntimeError):  # a name too long, a symlink loop
            found = False
        if not found or not self.allows(resolved):
            raise NotIngestable(f"{path}: no such folder or manifest under the ingest roots")
        return resolved


@dataclass(frozen=True)
class IngestItem:
    path: Path
    source_url: str = ""
    page_url: str = ""
    collected_at: datetime | None = None
    subject_external_id: str = ""
    subject_name: str = ""


def read_inputs(path: Path, allowed: InputRoots) -> list[IngestItem]:
    resolved = allowed.check(path)
    if resolved.is_dir():
        files = sorted(p for p in resolved.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        return [IngestItem(_allowed_file(file, resolved, allowed)) for file in files]
    suffix = resolved.suffix.lower()
    if suffix == ".csv":
        return _manifest(resolved, _csv_rows(resolved), allowed)
    if suffix in (".jsonl", ".ndjson"):
        return _manifest(resolved, _jsonl_rows(resolved), allowed)
    raise InvalidInput(
        f"{path}: give a folder of images or a manifest (.csv or .jsonl); images are {', '.join(SUPPORTED_FORMATS)}"
    )


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "file" not in reader.fieldnames:
                raise InvalidInput(f"{path}: the manifest's first line needs a 'file' column")
            unknown = set(reader.fieldnames) - MANIFEST_COLUMNS
            if unknown:  # counted, not quoted: an error never echoes a file's contents
                raise InvalidInput(f"{path}: {len(unknown)} unknown columns; known: {sorted(MANIFEST_COLUMNS)}")
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path}: not a readable UTF-8 CSV") from exc


def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not readable UTF-8 JSON lines") from exc
    for number, line in enumerate(text.splitlines(), start=1):
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
            known = sorted(MANIFEST_COLUMNS)
            raise InvalidInput(f"{path}: line {number} has {len(unknown)} unknown fields; known: {known}")
        rows.append(row)
    return rows


def _allowed_file(file: Path, folder: Path, allowed: InputRoots) -> Path:
    """A file found in an input folder, resolved; a symlink out of the roots refuses the whole input."""
    resolved = file.resolve()
    if not allowed.allows(resolved) or not resolved.is_file():
        raise NotIngestable(f"{folder}: {file.relative_to(folder)} is not a file under the ingest roots")
    return resolved


def _manifest(manifest: Path, rows: list[dict[str, Any]], allowed: InputRoots) -> list[IngestItem]:
    root = manifest.parent.resolve()
    items = []
    for number, row in enumerate(rows, start=1):
        where = f"{manifest}: entry {number}"
        relative = str(row.get("file") or "").strip()
        if not relative:
            raise InvalidInput(f"{where}: 'file' is empty")
        file = (root / relative).resolve()
        # Outside the manifest's folder, outside the roots and missing read the same.
        if not file.is_relative_to(root) or not allowed.allows(file) or not file.is_file():
            raise NotIngestable(f"{where}: 'file' is not a file in the manifest's folder under the ingest roots")
        items.append(
            IngestItem(
                path=file,
                source_url=_web_url(row.get("source_url"), "source_url", where),
                page_url=_web_url(row.get("page_url"), "page_url", where),
                collected_at=_date(row.get("collected_at"), where),
                subject_external_id=str(row.get("subject_id") or "").strip(),
                subject_name=str(row.get("subject_name") or "").strip(),
            )
        )
    return items


def _web_url(value: Any, column: str, where: str) -> str:
    """An http(s) URL with a host, or empty: anything else (javascript:, data:, file:) is refused."""
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    usable = parts is not None and parts.scheme.lower() in URL_SCHEMES and bool(parts.netloc)
    if not usable or len(text) > MAX_URL_CHARS or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise InvalidInput(f"{where}: {column} must be an http:// or https:// URL (at most {MAX_URL_CHARS} chars)")
    return text


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


def input_roots(deployment: Deployment) -> InputRoots:
    """The configured ingest roots, less the deployment's own folders (probes, thumbnails, keys)."""
    return InputRoots.of(deployment.settings.ingest_roots, (deployment.data_dir, deployment.keys.directory))


def read_ingest_inputs(deployment: Deployment, path: Path) -> list[IngestItem]:
    return read_inputs(path, input_roots(deployment))
