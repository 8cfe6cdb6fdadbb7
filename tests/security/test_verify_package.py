"""verify.py against packages an operator has doctored (the adversarial review's findings): a second copy
of the ledger beside the one it checks, fields no hash covers, a field named twice, a checkpoint written a
second way (Unicode digits, spare base64 bits), an empty tree with any root, a key the package chose
itself, and witness lines nobody checked."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from faceledger.transparency.verify import (
    ED25519_COSIGNATURE,
    HASHED_FIELDS,
    Checkpoint,
    VerificationFailed,
    cosign,
    entry_digest,
    main,
    sign_checkpoint,
    verifier_key,
    verify_package,
)
from tests.store.test_merkle_tree import ref_leaf, ref_mth, ref_path

OFFICE = Ed25519PrivateKey.generate()
KEY = verifier_key("city.example/faceledger", OFFICE)


def entries(count: int) -> list[dict[str, Any]]:
    made, prev = [], "0" * 64
    for seq in range(1, count + 1):
        fields = {
            "seq": seq,
            "at": "2026-12-01T00:00:00+00:00",
            "actor_id": 1,
            "actor": "analyst",
            "action": "search",
            "case_id": 3,
            "outcome": "done",
            "subjects": "{}",
            "details": json.dumps({"n": seq}),
            "reasons": "[]",
            "prev_hash": prev,
        }
        prev = entry_digest(fields, HASHED_FIELDS)
        made.append({**fields, "hash": prev})
    return made


def package(folder: Path, count: int = 5, *, lines: list[str] | None = None) -> Path:
    made = entries(count)
    leaves = [ref_leaf(e["hash"]) for e in made]
    checkpoint = sign_checkpoint(Checkpoint(KEY.name, count, ref_mth(leaves), "2026-12-01T00:00:00Z"), KEY, OFFICE)
    proofs = {
        "hashed_fields": list(HASHED_FIELDS),
        "inclusion": [
            {
                "seq": e["seq"],
                "tree_size": count,
                "entry_hash": e["hash"],
                "audit_path": [h.hex() for h in ref_path(i, leaves)],
            }
            for i, e in enumerate(made)
        ],
    }
    (folder / "ledger").mkdir(parents=True)
    (folder / "ledger.jsonl").write_text("\n".join(lines or [json.dumps(e) for e in made]) + "\n")
    (folder / "ledger" / "checkpoint.txt").write_text(checkpoint.text())
    (folder / "ledger" / "public-key.txt").write_text(KEY.text() + "\n")
    (folder / "ledger" / "proofs.json").write_text(json.dumps(proofs))
    return folder


def test_an_honest_package_verifies_and_says_what_it_did_not_check(tmp_path: Path) -> None:
    done = verify_package(package(tmp_path / "p"), KEY.text())
    assert "5 disclosed entries" in done[1]
    key_file = tmp_path / "office.pub"
    key_file.write_text(KEY.text())
    assert main([str(tmp_path / "p"), "--public-key", str(key_file)]) == 0
    assert main([str(tmp_path / "p")]) == 3, "the enclosed key alone is not an independent check"


def test_a_second_copy_of_the_ledger_is_refused(tmp_path: Path) -> None:
    folder = package(tmp_path / "p")
    (folder / "case").mkdir()
    (folder / "case" / "ledger.jsonl").write_text((folder / "ledger.jsonl").read_text())
    (folder / "ledger.jsonl").write_text((folder / "ledger.jsonl").read_text().replace('"analyst"', '"nobody"', 1))
    with pytest.raises(VerificationFailed, match=r"more than one ledger\.jsonl"):
        verify_package(folder, KEY.text())


@pytest.mark.parametrize(
    "doctor",
    [
        lambda line: line[:-1] + ', "approved_by": "Judge X"}',  # a field no hash covers
        lambda line: line[:-1] + ', "actor": "analyst"}',  # a field named twice
    ],
)
def test_fields_outside_the_hash_are_refused(tmp_path: Path, doctor: Any) -> None:
    lines = [json.dumps(e) for e in entries(5)]
    lines[1] = doctor(lines[1])
    with pytest.raises(VerificationFailed, match=r"ledger\.jsonl is not an entry|names a field twice"):
        verify_package(package(tmp_path / "p", lines=lines), KEY.text())


def test_a_checkpoint_has_one_spelling(tmp_path: Path) -> None:
    text = (package(tmp_path / "p") / "ledger" / "checkpoint.txt").read_text()
    origin, size, root, rest = text.split("\n", 3)
    arabic = "".join(chr(0x0660 + int(d)) for d in size)
    with pytest.raises(VerificationFailed, match="not a number"):
        Checkpoint.parse(f"{origin}\n{arabic}\n{root}\n{rest}")
    raw = base64.b64decode(root)
    spare = base64.b64encode(raw).decode()
    twin = spare[:-2] + chr(ord(spare[-2]) ^ 1) + spare[-1]  # the same 32 bytes, other unused bits
    if base64.b64decode(twin) == raw:
        with pytest.raises(VerificationFailed, match="one way"):
            Checkpoint.parse(f"{origin}\n{size}\n{twin}\n{rest}")
    empty = sign_checkpoint(Checkpoint(KEY.name, 0, bytes(32), "2026-12-01T00:00:00Z"), KEY, OFFICE)
    with pytest.raises(VerificationFailed, match="empty tree"):
        Checkpoint.parse(empty.text())


def test_witness_lines_are_checked_or_said_unchecked(tmp_path: Path) -> None:
    folder = package(tmp_path / "p")
    signed = Checkpoint.parse((folder / "ledger" / "checkpoint.txt").read_text())
    witness_private = Ed25519PrivateKey.generate()
    witness = verifier_key("council.example/w1", witness_private, ED25519_COSIGNATURE)
    (folder / "ledger" / "checkpoint.txt").write_text(cosign(signed, witness, witness_private, 1_764_000_000).text())
    unchecked = verify_package(folder, KEY.text())
    assert any(line.startswith("UNVERIFIED") and "council.example/w1" in line for line in unchecked)
    checked = verify_package(folder, KEY.text(), [witness])
    assert any("cosigned by the witness council.example/w1 at 1764000000" in line for line in checked)
    impostor = verifier_key("council.example/w1", Ed25519PrivateKey.generate(), ED25519_COSIGNATURE)
    with pytest.raises(VerificationFailed, match="no valid cosignature"):
        verify_package(folder, KEY.text(), [impostor])
