"""CSV that is safe to open in a spreadsheet. A cell starting with = + - @ TAB or CR is read as a formula by
Excel, LibreOffice and Sheets (CSV injection: `=HYPERLINK(...)` from an offence type or a probe's file
name); OWASP's rule is to prefix such a cell with a single quote, which shows the text as written."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """The value as a spreadsheet shows it literally; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Every CSV the product writes goes through here, so every cell is escaped."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([safe_cell(cell) for cell in header])
        writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return path
