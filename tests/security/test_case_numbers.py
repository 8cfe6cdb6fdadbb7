"""Low: a case number could be any 100 characters (slashes, quotes, newlines, markup), and it ends up in file
names, CSV cells, URLs and pages. Now 1-40 of letters, digits, '.', '_' and '-', starting with a letter or
digit; anything else is refused with an error naming the rule."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from faceledger.errors import InvalidInput
from faceledger.services.casework import cases
from faceledger.services.runtime.deployment import Deployment
from tests.office import PURPOSE, make_office

BAD = [
    "../../etc/passwd",
    "C 1",
    "C-1\nforged line",
    "<script>alert(1)</script>",
    '=HYPERLINK("x")',
    "-C1",
    ".hidden",
    "C/1",
    "C\\1",
    "C-1;DROP",
    "Ç-1",
    "C" * 41,
    "#5",
    "",
    "C-1\x00",
]
GOOD = ["C-1", "2026-0042", "OPCR_2026.17", "a" * 40]


def test_unsafe_case_numbers_are_refused_naming_the_rule(make_deployment: Callable[..., Deployment]) -> None:
    office = make_office(make_deployment(), case=False)
    for number in BAD:
        with pytest.raises(InvalidInput, match=r"letters, digits, '\.', '_' or '-'"):
            cases.open_case(office.deployment, office.supervisor, number, purpose=PURPOSE, offence_type="assault")
    assert not cases.list_cases(office.deployment, office.auditor), "nothing was stored"


def test_safe_case_numbers_are_accepted(make_deployment: Callable[..., Deployment]) -> None:
    office = make_office(make_deployment(), case=False)
    for number in GOOD:
        assert (
            cases.open_case(
                office.deployment, office.supervisor, number, purpose=PURPOSE, offence_type="assault"
            ).number
            == number
        )
