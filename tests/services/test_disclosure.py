"""Case disclosure (RCW 43.386.070), on the fake analyser's faces: every search of the case is in the zip
(with candidates, without, refused), nothing of another case is; reviews, sign-off and images are there;
the ledger excerpt rehashes; a tampered row is named; an analyst not on the case is refused, and both are
ledgered."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from faceledger.cli.disclose import disclose
from faceledger.errors import PolicyDenied
from faceledger.services.casework import cases, review
from faceledger.services.casework.disclosure import HASHED_FIELDS, DisclosureSummary, disclose_case
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.gallery import retention
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.governance.guard import find_case
from faceledger.services.oversight import transparency
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events, ledger
from faceledger.store.governance_models import Search
from tests.fakes import FakeAnalyser
from tests.lfwdata import copy_with_manifest
from tests.office import ATTESTATION, Office, make_office

SPEC = SourceSpec("lfw-test", "research test data")
GALLERY = 5  # people in the gallery; the next three are strangers


@dataclass
class Casework:
    office: Office
    case_id: int
    candidate: int  # reviewed twice and signed off
    other_search: int  # in case C-2


@pytest.fixture
def casework(make_deployment: Callable[..., Deployment], tmp_path: Path) -> Casework:
    fake = FakeAnalyser()
    people = fake.people_with_several(tmp_path / "photos", GALLERY + 3)
    office = make_office(make_deployment(analyser=fake))
    deployment = office.deployment
    governed_ingest(deployment, office.curator, copy_with_manifest(people[:GALLERY], tmp_path / "gallery"), SPEC)
    probe = people[1][1][1]  # another photo of a gallery person
    hit = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, probe))
    assert hit.outcome == "candidates"
    for _, images in people[GALLERY:]:  # strangers: the first has no candidate under the threshold
        if not governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, images[0])).candidates:
            break
    else:
        pytest.fail("every stranger had a candidate under the threshold")
    with pytest.raises(PolicyDenied, match="attestation"):
        governed_search(deployment, office.analyst, SearchRequest("C-1", "because", probe))
    candidate = hit.candidates[0]["candidate_id"]
    review.review(deployment, office.reviewer1, candidate, "possible", "same ears and hairline")
    review.review(deployment, office.reviewer2, candidate, "possible")
    review.sign_off(deployment, office.supervisor, candidate, "two reviewers agree")
    office.open_case("C-2")
    other = governed_search(deployment, office.analyst, SearchRequest("C-2", ATTESTATION, probe))
    with deployment.sessions() as session:
        case_id = find_case(session, "C-1", office.supervisor).id
    return Casework(office, case_id, candidate, other.search_id)


def _read(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        found: dict[str, Any] = {name: archive.read(name) for name in archive.namelist()}
    for name in ("case.json", "searches.json", "verification.json"):
        found[name] = json.loads(found[name])
    found["ledger.jsonl"] = [json.loads(line) for line in found["ledger.jsonl"].decode().splitlines()]
    found["README.txt"] = found["README.txt"].decode()
    return found


def test_the_zip_holds_every_search_of_the_case_and_verifies(casework: Casework, tmp_path: Path) -> None:
    office, deployment = casework.office, casework.office.deployment
    out = tmp_path / "disclosed" / "C-1.zip"
    summary = disclose_case(deployment, office.auditor, "C-1", out)
    assert summary.verified and summary.first_bad_seq is None, summary.problem
    assert summary.path == out and summary.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert list(out.parent.iterdir()) == [out], "no temporary file is left behind"
    zipped = _read(out)

    listed = zipped["searches.json"]["searches"]
    ledgered = office.entries(action="search", case_id=casework.case_id)
    assert sorted(s["ledger_seq"] for s in listed) == [e.seq for e in ledgered], "every search, done or refused"
    with deployment.sessions() as session:
        done = session.scalar(select(func.count()).select_from(Search).where(Search.case_id == casework.case_id)) or 0
    assert (summary.searches, summary.refused) == (done, len(ledgered) - done)
    assert {"candidates", "no_candidates", "refused"} <= {s["outcome"] for s in listed}
    refused = [s for s in listed if s["status"] == "refused"]
    assert refused and "attestation" in refused[0]["reasons"][0] and refused[0]["probe_sha256"]
    assert casework.other_search not in {s.get("search_id") for s in listed}
    assert {e["case_id"] for e in zipped["ledger.jsonl"]} == {casework.case_id}

    candidates = [c for s in listed for c in s["candidates"]]
    assert len(candidates) == summary.candidates
    for item in [*candidates, *(s["probe_image"] for s in listed if s["status"] == "done")]:
        image = item.get("image", item)
        assert zipped[image["file"]][:2] == b"\xff\xd8", "a JPEG"
    signed = next(c for c in candidates if c["candidate_id"] == casework.candidate)
    assert [r["reviewer"] for r in signed["reviews"]] == ["reviewer1", "reviewer2"]
    assert signed["reviews"][0]["note"] == "same ears and hairline" and signed["state"] == "confirmed"
    assert signed["lead"]["signed_off_by"] == "supervisor" and signed["false_match"] and signed["provenance"]
    hit = next(s for s in listed if s["outcome"] == "candidates")
    assert hit["searcher"] == "analyst" and hit["attestation"] == ATTESTATION and hit["probe_face"]["box"]
    assert zipped["case.json"]["case"]["number"] == "C-1"
    assert {a["user"] for a in zipped["case.json"]["assignments"]} == {"analyst", "reviewer1", "reviewer2"}

    lines = zipped["ledger.jsonl"]
    assert [e["seq"] for e in lines] == sorted(e["seq"] for e in lines)
    assert all(ledger.entry_hash(e) == e["hash"] for e in lines)
    assert zipped["verification.json"]["chain"]["ok"] and zipped["verification.json"]["excerpt"]["hashes_recompute"]
    assert "Investigative lead — not an identification" in zipped["README.txt"]
    assert all(name in zipped["README.txt"] for name in HASHED_FIELDS)

    entry = office.entries()[-1]
    disclosed = entry.record()
    assert (entry.action, entry.outcome, entry.case_id) == ("case_disclose", ledger.DONE, casework.case_id)
    assert isinstance(disclosed, events.CaseDisclose)
    assert (disclosed.sha256, disclosed.file, disclosed.searches) == (summary.sha256, "C-1.zip", done)
    # Every entry the whole casework wrote reads back through its typed record.
    for each in office.entries():
        record = each.record()
        expected = events.CLASSES.get((each.action, each.outcome), events.Refusal)
        assert isinstance(record, expected), (each.seq, each.action)


def test_refused_to_an_analyst_not_on_the_case_and_purged_searches_still_listed(
    casework: Casework, tmp_path: Path
) -> None:
    office = casework.office
    office.add("analyst2", "analyst")
    out = tmp_path / "C-1.zip"
    with pytest.raises(PolicyDenied, match="needs the role"):
        disclose_case(office.deployment, office.analyst2, "C-1", out)
    entry = office.entries()[-1]
    assert (entry.action, entry.outcome) == ("view_ledger", ledger.REFUSED)
    with pytest.raises(PolicyDenied, match="needs the role"):  # assigned, but a disclosure is for overseers
        disclose_case(office.deployment, office.analyst, "C-1", out)
    with pytest.raises(PolicyDenied, match="no case"):
        disclose_case(office.deployment, office.auditor, "C-404", out)
    assert office.entries()[-1].outcome == ledger.REFUSED
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))

    cases.close(office.deployment, office.supervisor, "C-1", "charges filed")
    retention.run(office.deployment, office.admin, now=datetime.now(UTC) + timedelta(days=91))
    summary = disclose_case(office.deployment, office.auditor, "C-1", out)
    zipped = _read(out)
    listed = [s for s in zipped["searches.json"]["searches"] if s["status"] == "done"]
    assert len(listed) == summary.searches >= 2 and all(s["purged"] and s["purged_at"] for s in listed)
    assert all("retention" in s["probe_image"]["absent"] for s in listed)
    shown = next(s for s in listed if s["outcome"] == "candidates")["candidates"]
    assert casework.candidate in {c["candidate_id"] for c in shown}, "as the ledger recorded them"
    assert all("retention" in c["image"]["absent"] for c in shown)
    assert not [name for name in zipped if name.startswith("images/")] and summary.verified


def test_a_tampered_ledger_row_is_named_and_the_cli_exits_8(
    casework: Casework, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    office, deployment = casework.office, casework.office.deployment
    if deployment.settings.database_url:  # the command opens the deployment itself, as a user would
        monkeypatch.setenv("FACELEDGER_DATABASE_URL", deployment.settings.database_url)
    app = typer.Typer()
    app.command()(disclose)
    command = ["C-1", "--data-dir", str(deployment.data_dir), "--token", office.tokens["supervisor"], "--json"]
    done = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "before.zip")])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["verified"] is True

    seq = office.entries(action="review", case_id=casework.case_id)[0].seq
    with deployment.sessions() as session, session.begin():
        session.execute(
            text("UPDATE ledger_entries SET details = :d WHERE seq = :s"),
            {"d": '{"decision":"not","state":"rejected"}', "s": seq},
        )
    summary: DisclosureSummary = disclose_case(deployment, office.auditor, "C-1", tmp_path / "after.zip")
    assert not summary.verified and summary.first_bad_seq == seq and f"entry {seq}" in summary.problem
    checked = _read(tmp_path / "after.zip")["verification.json"]
    assert checked["verified"] is False and checked["chain"]["first_bad_seq"] == seq
    assert checked["excerpt"]["mismatched_seqs"] == [seq]
    assert office.entries()[-1].action == "case_disclose", "a disclosure of a broken ledger is ledgered too"

    refused = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "cli-after.zip")])
    assert refused.exit_code == 8 and f"entry {seq}" in refused.output
    assert (tmp_path / "cli-after.zip").is_file()


def _venv_with_only_cryptography(folder: Path) -> Path:
    """A fresh virtual environment whose only third-party package is `cryptography` (and what it needs):
    the installed copy is linked in rather than downloaded, so the test needs no network."""
    import cffi
    import cryptography
    import pycparser

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    only = folder / "only"
    only.mkdir()
    for module in (cryptography, cffi, pycparser):
        source = Path(module.__file__).parent  # type: ignore[arg-type]
        (only / source.name).symlink_to(source)
    backend = next(Path(cffi.__file__).parent.parent.glob("_cffi_backend*.so"))  # type: ignore[arg-type]
    (only / backend.name).symlink_to(backend)
    site = next((folder / "lib").glob("python3*/site-packages"))
    (site / "only.pth").write_text(str(only) + "\n")
    return folder / "bin" / "python"


def _rezip(source: Path, target: Path, change: Callable[[str, bytes], bytes]) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, change(name, old.read(name)))
    return target


def test_the_zip_verifies_offline_with_its_own_verify_py(casework: Casework, tmp_path: Path) -> None:
    office, deployment = casework.office, casework.office.deployment
    out = tmp_path / "C-1.zip"
    disclose_case(deployment, office.auditor, "C-1", out)
    with zipfile.ZipFile(out) as archive:
        (tmp_path / "verify.py").write_bytes(archive.read("verify.py"))
        proofs = json.loads(archive.read("ledger/proofs.json"))
        lines = archive.read("ledger.jsonl").decode().splitlines()
    assert proofs["hashed_fields"] == list(ledger.HASHED_FIELDS) and len(proofs["inclusion"]) == len(lines)
    key = tmp_path / "office.pub"  # the key as the council publishes it, not the package's copy
    key.write_text(transparency.public_key(deployment).text() + "\n")
    python = _venv_with_only_cryptography(tmp_path / "venv")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}

    def verify(package: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(python), "-I", str(tmp_path / "verify.py"), str(package), "--public-key", str(key)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    isolated = subprocess.run(
        [str(python), "-I", "-c", "import faceledger"], capture_output=True, env=env, timeout=60, check=False
    )
    assert isolated.returncode != 0, "the venv must not see faceledger"
    good = verify(out)
    assert good.returncode == 0, good.stderr
    assert f"{len(lines)} disclosed entries" in good.stdout and "verified" in good.stdout

    first = json.loads(lines[0])
    altered = _rezip(
        out,
        tmp_path / "entry.zip",
        lambda name, data: (
            data.replace(f'"actor": "{first["actor"]}"'.encode(), f'"actor": "{first["actor"]}x"'.encode(), 1)
            if name == "ledger.jsonl"
            else data
        ),
    )
    failed = verify(altered)
    assert failed.returncode == 1 and f"entry {first['seq']} was altered" in failed.stderr, failed.stderr

    target = next(p for p in proofs["inclusion"] if p["audit_path"])
    digest = target["audit_path"][0]
    flipped = ("0" if digest[0] != "0" else "1") + digest[1:]
    bad_proof = _rezip(
        out,
        tmp_path / "proof.zip",
        lambda name, data: data.replace(digest.encode(), flipped.encode()) if name == "ledger/proofs.json" else data,
    )
    failed = verify(bad_proof)
    assert failed.returncode == 1 and "does not lead to the root" in failed.stderr, failed.stderr

    def grown(name: str, data: bytes) -> bytes:  # the checkpoint claims one entry more than was signed
        if name != "ledger/checkpoint.txt":
            return data
        origin, size, rest = data.decode().split("\n", 2)
        return f"{origin}\n{int(size) + 1}\n{rest}".encode()

    failed = verify(_rezip(out, tmp_path / "checkpoint.zip", grown))
    assert failed.returncode == 1 and "not signed by" in failed.stderr, failed.stderr
