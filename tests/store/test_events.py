"""Typed ledger events: every action is written through its class and read back as the same class."""

from __future__ import annotations

import ast
import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from faceledger.errors import InvalidInput
from faceledger.policy.governance import Action
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events, ledger
from faceledger.store.db import transaction
from faceledger.transparency.verify import HASHED_FIELDS
from tests import entries

SRC = Path(__file__).resolve().parents[2] / "src" / "faceledger"
ALICE = ledger.Actor(7, "alice")


def sample(annotation: Any, name: str) -> Any:
    """A value of the annotated type, different per field, so a field written under another's key shows."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return sample(next(a for a in args if a is not type(None)), name)
    if origin is tuple:
        return (sample(args[0], name),)
    if origin is dict or annotation is dict:
        return {name: 1}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation(**filled(annotation))
    return {int: len(name), float: len(name) / 8, bool: True, str: f"{name}-value"}[annotation]


def filled(cls: type[BaseModel]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {field: sample(hints[field], field) for field in cls.model_fields}


EVERY_CLASS = sorted(events.CLASSES.values(), key=lambda cls: cls.NAME.value)


def test_every_governed_action_is_a_ledger_event_name() -> None:
    assert {a.value for a in Action} <= {n.value for n in events.EventName}


def test_every_event_name_is_read_through_one_class_or_as_a_refusal() -> None:
    assert len({cls.NAME for cls in EVERY_CLASS}) == len(EVERY_CLASS)  # one class per action
    # A name with no class of its own is only ever refused: a governed action, signing in, a forged form.
    unclassed = {n.value for n in events.EventName} - {cls.NAME.value for cls in EVERY_CLASS}
    assert unclassed <= {a.value for a in Action} | {"authenticate", "csrf"}
    for cls in EVERY_CLASS:
        fields = set(cls.model_fields)
        assert set(cls.SUBJECTS) <= fields, cls.__name__


@pytest.fixture
def deployment(make_deployment: Callable[..., Deployment]) -> Deployment:
    return make_deployment()


def test_each_event_is_written_and_read_back_as_itself(deployment: Deployment) -> None:
    """Every class at once, in one deployment (on SQLite and on PostgreSQL)."""
    written = {}
    with transaction(deployment.sessions) as session:
        for cls in EVERY_CLASS:
            event = cls(**filled(cls))
            written[ledger.append(session, ALICE, event, case_id=3, reasons=["why"]).seq] = event
    with deployment.sessions() as session:
        for entry in ledger.entries(session, limit=len(written) + 1):
            event, cls = written[entry.seq], type(written[entry.seq])
            assert (entry.action, entry.outcome, entry.case_id) == (cls.NAME.value, cls.OUTCOME, 3)
            subjects, details = json.loads(entry.subjects), json.loads(entry.details)
            assert set(subjects) == set(cls.SUBJECTS), cls.__name__
            assert set(subjects) | set(details) == set(cls.model_fields), cls.__name__
            assert entry.record() == event, cls.__name__
            assert ledger.entry_hash({name: getattr(entry, name) for name in HASHED_FIELDS}) == entry.hash


def test_an_unset_optional_field_is_not_written(deployment: Deployment) -> None:
    photo = entries.search(1, "ab" * 32)
    with transaction(deployment.sessions) as session:
        entry = ledger.append(session, ALICE, photo, case_id=1)
    assert "video_sha256" not in json.loads(entry.details)
    assert json.loads(entry.details)["quality_override"] is None  # set to None: written as null
    assert entry.record() == photo


def test_a_refusal_keeps_what_was_asked(deployment: Deployment) -> None:
    refused = events.Refusal(action=events.EventName.SEARCH, subjects={"case": 2}, asked={"attestation": "x"})
    with transaction(deployment.sessions) as session:
        entry = ledger.append(session, ALICE, refused, case_id=2, reasons=["no active authorisation"])
    assert (entry.action, entry.outcome, json.loads(entry.reasons)) == (
        "search",
        "refused",
        ["no active authorisation"],
    )
    assert entry.record() == refused


def test_an_older_entry_with_keys_no_class_names_reads_and_keeps_them(deployment: Deployment) -> None:
    with transaction(deployment.sessions) as session:
        entry = ledger.write_entry(
            session,
            ALICE,
            events.EventName.CLOSE_CASE,
            subjects={"case": 4},
            details={"reason": "done", "closed_by_rule": "r-7"},
        )
    record = entry.record()
    assert isinstance(record, events.CloseCase)
    assert (record.case, record.reason, record.model_extra) == (4, "done", {"closed_by_rule": "r-7"})


@pytest.mark.parametrize(
    ("subjects", "details", "named"),
    [
        ({"case": 4}, {}, "reason"),  # missing
        ({"case": "four"}, {"reason": "x"}, "case"),  # wrong type
        ({"case": 4}, {"reason": "x", "case": 5}, "case"),  # named twice
    ],
)
def test_an_entry_that_does_not_fit_its_class_is_named(
    deployment: Deployment, subjects: dict[str, Any], details: dict[str, Any], named: str
) -> None:
    with transaction(deployment.sessions) as session:
        entry = ledger.write_entry(session, ALICE, events.EventName.CLOSE_CASE, subjects=subjects, details=details)
    with pytest.raises(InvalidInput, match=rf"ledger entry {entry.seq}: .*close_case.*{named}"):
        entry.record()


def test_an_unknown_action_name_is_refused_on_write_and_on_read(deployment: Deployment) -> None:
    with transaction(deployment.sessions) as session, pytest.raises(InvalidInput, match="no action named"):
        ledger.write_entry(session, ALICE, "made_up")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no action named 'made_up'"):
        events.parse("made_up", "done", "{}", "{}")


def test_services_write_only_through_typed_events() -> None:
    """No service names an action as a bare string or writes raw fields: `ledger.append` takes an event,
    and `ledger.write_entry` (any fields) is the chain's own."""
    found = []
    for path in SRC.rglob("*.py"):
        if path.name == "ledger.py" and path.parent.name == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute | ast.Name):
                continue
            called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            literal = len(node.args) > 2 and isinstance(node.args[2], ast.Constant)
            if called == "write_entry" or (called in ("append", "record_refusal") and literal):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == []
