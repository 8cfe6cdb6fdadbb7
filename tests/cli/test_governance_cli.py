"""The governed workflow from the command line, as the acceptance check runs it: a fresh deployment
refuses to search; grant, case, search, two reviews, sign-off, export; halt refuses; the ledger verifies
until one row of the SQLite file is edited, and then names that row."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.lfwdata import copy_with_manifest, people_with_several

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]
ATTESTATION = "complainant's photo of the officer named in complaint C-7"


class Cli:
    def __init__(self, data_dir: Path) -> None:
        self.env = {**os.environ, "FACELEDGER_DATA_DIR": str(data_dir)}
        self.env.pop("FACELEDGER_DATABASE_URL", None)
        self.tokens: dict[str, str] = {}

    def __call__(self, user: str | None, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = {**self.env, "FACELEDGER_TOKEN": self.tokens[user]} if user else self.env
        return subprocess.run(
            [sys.executable, "-m", "faceledger", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            input=stdin,
        )

    def ok(self, user: str | None, *args: str, stdin: str = "") -> str:
        done = self(user, *args, stdin=stdin)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        return done.stdout

    def json(self, user: str | None, *args: str) -> object:
        return json.loads(self.ok(user, *args, "--json"))

    def enrol(self, folder: Path, user: str) -> None:
        """The user redeems the code from their outbox file (no admin sees it) and keeps the token."""
        text = (folder.parent / f"{folder.name}.outbox" / f"{user}.txt").read_text()
        code = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("code:"))
        self.tokens[user] = self.ok(None, "enrol", user, "--no-password", stdin=code + "\n").splitlines()[-1]


def test_the_governed_workflow_from_the_command_line(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "deployment"
    cli = Cli(folder)
    created = cli.json(None, "init", "--admin", "chair", "--department", "OPCR")
    assert isinstance(created, dict)
    cli.tokens["chair"] = created["token"]
    cli.ok("chair", "user", "add", "chair2", "--role", "admin", "--department", "OPCR")  # the bootstrap
    cli.enrol(folder, "chair2")
    trained = ("--certified-until", "2099-12-31")
    staff = (
        ("cnl", "council", ()),
        ("cur", "curator", ()),
        ("sup", "supervisor", ()),
        ("ana", "analyst", trained),
        ("rev1", "reviewer", trained),
        ("rev2", "reviewer", trained),
    )
    for user, role, extra in staff:
        added = cli.json("chair", "user", "add", user, "--role", role, "--department", "OPCR", *extra)
        assert isinstance(added, dict) and "token" not in added and added["status"] == "pending"
        cli.ok("chair2", "user", "approve", str(added["id"]))
        cli.enrol(folder, user)
    people = people_with_several(data_dir, 6)
    probe = str(people[2][1][1])

    before = cli("ana", "search", probe, "--case", "C-7", "--purpose", ATTESTATION)
    assert before.returncode == 6 and "no authorisation has been granted" in before.stderr

    cli.ok(
        "cur",
        "gallery",
        "ingest",
        str(copy_with_manifest(people, tmp_path / "in")),
        "--source",
        "lfw",
        "--legal-basis",
        "research test data",
    )
    start, end = date.today(), date.today() + timedelta(days=180)
    cli.ok(
        "cnl",
        "authority",
        "grant",
        "--reference",
        "Res. 2026-14",
        "--purpose",
        "misconduct complaint",
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--max-candidates",
        "3",
    )
    cli.ok("sup", "case", "open", "C-7", "--purpose", "misconduct-complaint", "--offence-type", "assault")
    cli.ok("sup", "case", "assign", "C-7", "--user", "ana", "--user", "rev1", "--user", "rev2")
    result = cli.json("ana", "search", probe, "--case", "C-7", "--purpose", ATTESTATION)
    assert isinstance(result, dict) and result["outcome"] == "candidates" and len(result["candidates"]) <= 3
    top = result["candidates"][0]
    assert top["provenance"]["original_filename"] == people[2][1][0].name
    candidate = str(top["candidate_id"])

    own = cli("ana", "review", candidate, "--decision", "possible")
    assert own.returncode == 6 and "searcher cannot review" in own.stderr
    cli.ok("rev1", "review", candidate, "--decision", "possible")
    cli.ok("rev2", "review", candidate, "--decision", "possible")
    cli.ok("sup", "lead", "signoff", candidate)
    cli.ok("sup", "lead", "corroborate", candidate, "--evidence", "roster shows the officer on that shift")
    cli.ok("sup", "lead", "export", candidate, "--out", str(tmp_path / "lead.json"))
    assert json.loads((tmp_path / "lead.json").read_text())["candidate"]["candidate_id"] == int(candidate)

    cli.ok("sup", "authority", "halt", "--reason", "council vote")
    after = cli("ana", "search", probe, "--case", "C-7", "--purpose", ATTESTATION)
    assert after.returncode == 6 and "halted" in after.stderr
    verified = cli.json("chair", "ledger", "verify")
    assert isinstance(verified, dict) and verified["ok"] and verified["entries"] > 15

    refused = cli.json("chair", "ledger", "show", "--outcome", "refused", "--action", "search")
    assert isinstance(refused, list) and len(refused) == 2
    with sqlite3.connect(folder / "faceledger.db") as connection:
        seq = connection.execute(
            "SELECT seq FROM ledger_entries WHERE action = 'search' AND outcome = 'done'"
        ).fetchone()[0]
        connection.execute("UPDATE ledger_entries SET actor = 'someone else' WHERE seq = ?", (seq,))
    broken = cli("chair", "ledger", "verify")
    assert broken.returncode == 8 and f"entry {seq}" in broken.stderr
