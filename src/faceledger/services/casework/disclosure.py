"""Disclosure of a whole case to the defence (RCW 43.386.070): every search in it, with candidates, without
and refused, and the ledger entries that prove it, in one zip a defence expert can check without us.

Everything is read in the one transaction that decides access, so the archive is a consistent snapshot;
the disclosure is ledgered in that transaction too (with the archive's SHA-256), and the file only takes
its final name once that entry has committed: a disclosure never leaves the office unrecorded."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from faceledger.engine.image_input import file_sha256
from faceledger.errors import InvalidInput, LedgerTampered, NotFound
from faceledger.policy.governance import Action, ActorView, Context
from faceledger.services.casework.governed_search import LEAD_NOTICE, candidate_dict
from faceledger.services.casework.review import lead_state
from faceledger.services.governance.guard import (
    append,
    authority_view,
    case_id_or_refuse,
    case_view,
    governed,
    require_role,
)
from faceledger.services.governance.ledger_key import verification_checks
from faceledger.services.oversight import transparency
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import checkpoints, events, ledger, merkle
from faceledger.store.governance_models import Candidate, Case, QualityOverride, Search, User
from faceledger.store.models import GalleryFace
from faceledger.store.sealed import Role
from faceledger.transparency import verify as verify_module

HASHED_FIELDS = ledger.HASHED_FIELDS
VERIFIER = Path(verify_module.__file__)  # stdlib + cryptography only: it travels in the package as verify.py
README = """Disclosure of case {number} ({department}), made {at} by {actor} with faceledger.

{notice} Every candidate here is a lead to corroborate with other evidence.

This archive lists every face-recognition search made in this case: those that returned candidates, those
that returned none, and those the system refused. Making it was recorded on the system's ledger (action
"case_disclose") with the SHA-256 of this archive.

case.json          the case: purpose, offence type, status, who opened it, who was assigned and when.
searches.json      every search, in ledger order. "status" is "done" (outcome "candidates" or "no_candidates")
                   or "refused" (with the reasons). A done search gives the searcher, the written attestation,
                   the probe's SHA-256, face box and quality score, any supervisor's quality override, the
                   gallery version and size, the model, the distance threshold, and each candidate shown:
                   rank, distance, estimated false-match rate, likelihood, provenance, every reviewer's
                   decision and note, and any supervisor sign-off, corroboration and export. A search purged
                   under the retention schedule has "purged": true; its candidates are then given as the
                   ledger recorded them. "ledger_seq" points to the search's entry in ledger.jsonl.
ledger.jsonl       every ledger entry about this case, one JSON object a line, in sequence order.
verification.json  the system's own check of the whole ledger when this archive was made.
ledger/, verify.py what lets you check the ledger entries yourself (below).
images/            probe-<search id>.jpg (the face searched) and candidate-<candidate id>.jpg (the gallery
                   face shown). An image no longer held is listed in searches.json as "absent", with why.

Checking ledger.jsonl yourself
Each line holds an entry's fields exactly as stored. "subjects", "details" and "reasons" are strings: the
canonical JSON text that was hashed (parse them again to read them). An entry's "hash" is the SHA-256, as
64 lowercase hex digits, of the UTF-8 bytes of the canonical JSON of an object with exactly these 11 keys:
    {fields}
"hash" itself is not hashed. Canonical JSON: keys sorted, no whitespace (separators "," and ":"), non-ASCII
characters written as themselves (not as \\u escapes), integers as integers, null where actor_id or case_id
is empty. "prev_hash" is the hash of the entry before it in the whole ledger (64 zeros before the first).
Entries of other cases lie between these, so the links can only be followed on the full ledger; what
ties each of these entries to it is below.

Checking it without trusting us: run verify.py
ledger/checkpoint.txt   a checkpoint: the ledger's Merkle tree (RFC 9162) of all its entries, its size, root
                        hash and time, signed with the office's Ed25519 key (C2SP checkpoint format), and any
                        witness cosignatures it carries.
ledger/public-key.txt   the key it was signed with. Get the office's key independently too (the council
                        publishes it; witnesses hold it) and compare: the enclosed copy only shows that the
                        package is consistent with itself.
ledger/proofs.json      for every entry of ledger.jsonl, its inclusion proof (RFC 9162 audit path) in that tree.
verify.py               a short program needing only Python 3.11+ and the `cryptography` package. It
                        recomputes every entry's hash, every inclusion proof and the checkpoint's signature,
                        and names the first thing that fails:

  python -m venv v && v/bin/pip install cryptography
  v/bin/python verify.py THIS_ZIP_OR_ITS_FOLDER --public-key THE_OFFICES_KEY_FILE [--witness-key W.pub ...]

It exits 0 when every check passed against the key you gave, 1 naming what failed, and 3 when you gave
no key (then it has only shown that the package agrees with the key it encloses). Each --witness-key
checks that witness's cosignature on the checkpoint; signature lines of witnesses you name no key for
are reported as UNVERIFIED.

A ledger rewritten after the checkpoint fails here; one rewritten and re-signed with the office's own key
is caught by witnesses holding an earlier checkpoint (faceledger witness check): ask the council for a
checkpoint its witnesses cosigned, and for a consistency proof from it to this one. verification.json is
only the system's own account of its checks. To recompute the hashes by hand, in Python:

  import hashlib, json
  FIELDS = {field_tuple}
  for line in open("ledger.jsonl", encoding="utf-8"):
      e = json.loads(line)
      text = json.dumps({{k: e[k] for k in FIELDS}}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
      assert hashlib.sha256(text.encode("utf-8")).hexdigest() == e["hash"], e["seq"]
"""


@dataclass(frozen=True)
class DisclosureSummary:
    path: Path
    sha256: str
    searches: int  # done searches, from the database
    refused: int  # refused searches, from the ledger
    candidates: int
    ledger_entries: int
    verified: bool  # the whole chain verifies and every excerpt entry's hash recomputes
    first_bad_seq: int | None = None
    problem: str = ""
    ledger_seq: int = 0  # the disclosure's own ledger entry

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


@dataclass
class _Bundle:
    texts: dict[str, str] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)


def disclose_case(deployment: Deployment, actor: ActorView, case_reference: str, out: Path) -> DisclosureSummary:
    asked = {"purpose": "case_disclose", "file": out.name}
    # The package carries the ledger excerpt: those who read the ledger assemble it, within the case rule.
    require_role(deployment, actor, Action.VIEW_LEDGER)
    case_id = case_id_or_refuse(deployment, actor, Action.VIEW_CASE, case_reference, asked)
    written: list[Path] = []

    def context(session: Session) -> Context:
        case = session.get(Case, case_id, populate_existing=True)
        day = deployment.clock.today()
        return Context(day, authority_view(session, day), case=case_view(case) if case else None)

    def work(session: Session, _: Context) -> DisclosureSummary:
        bundle, summary = _collect(session, deployment, actor, case_id)
        out.parent.mkdir(parents=True, exist_ok=True)
        written.append(_write_zip(out, bundle))
        summary = replace(summary, path=out, sha256=file_sha256(written[0]))
        disclosed = events.CaseDisclose(
            case=case_id,
            file=out.name,
            sha256=summary.sha256,
            searches=summary.searches,
            refused=summary.refused,
            candidates=summary.candidates,
            ledger_entries=summary.ledger_entries,
            verified=summary.verified,
            first_bad_seq=summary.first_bad_seq,
        )
        entry = append(session, actor, disclosed, case_id=case_id)
        return replace(summary, ledger_seq=entry.seq)

    try:
        summary = governed(
            deployment,
            actor,
            Action.VIEW_CASE,
            context,
            work,
            case_id=case_id,
            subjects={"case": case_id},
            details=asked,
        )
        os.replace(written[0], out)
    except LedgerTampered:  # raised after the disclosure committed (no fresh signature): the zip is owed
        if written and written[0].exists():
            os.replace(written[0], out)
        raise
    finally:
        for path in written:  # left only when the transaction failed after the zip was written
            path.unlink(missing_ok=True)
    return summary


def _collect(
    session: Session, deployment: Deployment, actor: ActorView, case_id: int
) -> tuple[_Bundle, DisclosureSummary]:
    case = session.get(Case, case_id)
    if case is None:  # pragma: no cover - cases are never deleted, and policy has just seen this one
        raise NotFound(f"case {case_id} disappeared")
    checks = verification_checks(deployment)
    # Verifying first locks the ledger head: every write that could change what follows (a search, a review,
    # a purge) appends to the ledger, so it waits, and the reads below form one snapshot on PostgreSQL too.
    verification = checkpoints.verify(session, checks)
    excerpt = ledger.entries(session, limit=1_000_000_000, case_id=case_id)  # all of the case's entries
    names = dict(session.execute(select(User.id, User.username)).all())
    bad = [e.seq for e in excerpt if ledger.entry_hash(_raw(e)) != e.hash]
    proofs = _proofs(session, deployment, excerpt)
    bundle = _Bundle()
    searches = _done_searches(session, deployment, case_id, names, excerpt, bundle)
    refused = [_refused(e) for e in excerpt if e.action == Action.SEARCH.value and e.outcome == ledger.REFUSED]
    listed = sorted(searches + refused, key=lambda s: (s["ledger_seq"] is None, s["ledger_seq"] or 0))
    candidates = sum(len(s["candidates"]) for s in searches)
    at = deployment.clock.now().isoformat(timespec="seconds")
    first_bad = verification.first_bad_seq if not verification.ok else (bad[0] if bad else None)
    problem = verification.problem or (f"entry {bad[0]} of the excerpt does not match its hash" if bad else "")
    summary = DisclosureSummary(
        Path(),
        "",
        len(searches),
        len(refused),
        candidates,
        len(excerpt),
        verification.ok and not bad,
        first_bad,
        problem,
    )
    bundle.texts = {
        "README.txt": README.format(
            number=case.number,
            department=case.department.name,
            at=at,
            actor=actor.name,
            notice=LEAD_NOTICE,
            fields=", ".join(HASHED_FIELDS),
            field_tuple=json.dumps(HASHED_FIELDS),
        ),
        "case.json": _json(_case(case, names, at, actor, summary)),
        "searches.json": _json({"notice": LEAD_NOTICE, "case": case.number, "searches": listed}),
        "ledger.jsonl": "".join(json.dumps({**_raw(e), "hash": e.hash}, ensure_ascii=False) + "\n" for e in excerpt),
        "verification.json": _json(
            {
                "checked_at": at,
                "verified": summary.verified,
                "chain": verification.to_dict(),
                "status": verification.status.value,
                "checkpoint_key": "present" if checks.signer else "absent: checkpoint signatures not checked",
                "excerpt": {"entries": len(excerpt), "hashes_recompute": not bad, "mismatched_seqs": bad},
                "signed_checkpoint": proofs.get("problem") or "ledger/checkpoint.txt",
            }
        ),
        **proofs.get("files", {}),
    }
    return bundle, summary


def _proofs(session: Session, deployment: Deployment, excerpt: list[ledger.LedgerEntry]) -> dict[str, Any]:
    """A fresh signed checkpoint and every excerpt entry's inclusion proof in its tree. A tree that does not
    verify gets no signature (LedgerTampered): the package then says so instead of carrying one."""
    signed = transparency.sign_within(session, deployment)
    if isinstance(signed, str):
        return {"problem": signed}
    reader = merkle.TreeReader(session, signed.checkpoint.size)
    inclusion = [
        {
            "seq": e.seq,
            "tree_size": reader.size,
            "entry_hash": e.hash,
            "audit_path": [h.hex() for h in reader.inclusion_path(e.seq - 1, reader.size)],
        }
        for e in excerpt
    ]
    issued = signed
    proofs = {"hashed_fields": list(HASHED_FIELDS), "checkpoint_size": issued.checkpoint.size, "inclusion": inclusion}
    return {
        "files": {
            "ledger/checkpoint.txt": issued.checkpoint.text(),
            "ledger/public-key.txt": issued.key.text() + "\n",
            "ledger/proofs.json": _json(proofs),
            "verify.py": VERIFIER.read_text(),
        }
    }


def _raw(entry: ledger.LedgerEntry) -> dict[str, Any]:
    """The fields exactly as hashed: subjects, details and reasons stay the canonical text that was hashed."""
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


def _loads(text: str) -> Any:
    """A stored JSON field, or the raw text where a tampered row no longer parses (verification names it)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _case(case: Case, names: dict[int, str], at: str, actor: ActorView, summary: DisclosureSummary) -> dict[str, Any]:
    return {
        "notice": LEAD_NOTICE,
        "disclosed_at": at,
        "disclosed_by": actor.name,
        "case": {
            "id": case.id,
            "number": case.number,
            "department": case.department.name,
            "purpose": case.purpose,
            "offence_type": case.offence_type,
            "description": case.description,
            "status": case.status,
            "opened_by": names.get(case.opened_by),
            "opened_at": case.opened_at.isoformat(),
            "closed_at": _iso(case.closed_at),
        },
        "assignments": [
            {
                "user": names.get(a.user_id),
                "assigned_by": names.get(a.assigned_by),
                "assigned_at": a.assigned_at.isoformat(),
            }
            for a in sorted(case.assignments, key=lambda a: (a.assigned_at, a.user_id))
        ],
        "counts": {
            "searches_done": summary.searches,
            "searches_refused": summary.refused,
            "candidates": summary.candidates,
            "ledger_entries": summary.ledger_entries,
        },
    }


def _done_searches(
    session: Session,
    deployment: Deployment,
    case_id: int,
    names: dict[int, str],
    excerpt: list[ledger.LedgerEntry],
    bundle: _Bundle,
) -> list[dict[str, Any]]:
    ledgered: dict[int, tuple[int, events.Search]] = {}  # search id -> its ledger entry's seq and record
    for item in excerpt:
        record = _record(item)
        if isinstance(record, events.Search):
            ledgered[record.search] = (item.seq, record)
    overrides = {o.id: o for o in session.scalars(select(QualityOverride).where(QualityOverride.case_id == case_id))}
    rows = (
        session.scalars(
            select(Search).where(Search.case_id == case_id).order_by(Search.id).options(selectinload(Search.candidates))
        )
        .unique()
        .all()
    )
    face_ids = [c.face_id for s in rows for c in s.candidates if c.face_id is not None]
    thumbnails = dict(
        session.execute(select(GalleryFace.id, GalleryFace.thumbnail).where(GalleryFace.id.in_(face_ids))).all()
    )
    found = []
    for search in rows:
        entry = ledgered.get(search.id)
        override = overrides.get(search.quality_override_id or -1)
        quality = override and {
            "id": override.id,
            "supervisor": names.get(override.supervisor_id),
            "reason": override.reason,
            "at": override.created_at.isoformat(),
        }
        probe_absent = (
            f"purged under the retention schedule on {_iso(search.purged_at)}"
            if search.purged_at
            else "no probe face was kept"
        )
        found.append(
            {
                "status": "done",
                "search_id": search.id,
                "ledger_seq": entry[0] if entry else None,
                "searched_at": search.created_at.isoformat(),
                "searcher": names.get(search.user_id),
                "attestation": search.attestation,
                "probe_name": search.probe_name,
                "probe_sha256": search.probe_sha256,
                "probe_face": search.probe_face,
                "quality_override": quality,
                "gallery_version": search.gallery_version,
                "gallery_faces": search.gallery_faces,
                "model": search.model_key,
                "threshold": search.threshold,
                "max_candidates": search.max_candidates,
                "outcome": search.outcome,
                "purged": search.purged_at is not None,
                "purged_at": _iso(search.purged_at),
                "probe_image": _image(deployment, bundle, f"probe-{search.id}", search.probe_thumbnail, probe_absent),
                "candidates": [_candidate(deployment, c, names, thumbnails, bundle) for c in search.candidates],
            }
        )
        if search.purged_at is not None:  # the rows went with the purge; the ledger kept what was shown
            shown = entry[1].candidates if entry else ()
            found[-1]["candidates"] = [
                {**c.model_dump(mode="json", exclude_unset=True), "image": {"absent": probe_absent}} for c in shown
            ]
            found[-1]["candidates_from"] = "ledger (purged from the database under the retention schedule)"
    return found


def _candidate(
    deployment: Deployment, row: Candidate, names: dict[int, str], thumbnails: dict[int, str], bundle: _Bundle
) -> dict[str, Any]:
    absent = (
        "the gallery face was removed after the search (curation, withdrawn source or opt-out); its scores "
        "and provenance above are as recorded at the search"
    )
    lead = row.lead
    return {
        **candidate_dict(deployment, row),
        "state": lead_state(row),
        "image": _image(deployment, bundle, f"candidate-{row.id}", thumbnails.get(row.face_id or -1), absent),
        "reviews": [
            {
                "reviewer": names.get(r.reviewer_id),
                "decision": r.decision,
                "note": r.note,
                "at": r.created_at.isoformat(),
            }
            for r in sorted(row.reviews, key=lambda r: r.id)
        ],
        "lead": None
        if lead is None
        else {
            "signed_off_by": names.get(lead.supervisor_id),
            "signed_at": lead.signed_at.isoformat(),
            "note": lead.signoff_note,
            "corroboration": lead.corroboration,
            "corroborated_by": names.get(lead.corroborated_by or -1),
            "corroborated_at": _iso(lead.corroborated_at),
            "exported_at": _iso(lead.exported_at),
        },
    }


def _image(deployment: Deployment, bundle: _Bundle, stem: str, relative: str | None, absent: str) -> dict[str, Any]:
    """Read now, in the transaction that listed it: a purge deleting the file before the zip is written
    cannot leave a listed image out of the archive."""
    if not relative:
        return {"absent": absent}
    try:
        role = Role.PROBE if relative.startswith("probes/") else Role.THUMBNAIL
        data = deployment.sealer.read_file(deployment.data_dir / relative, role, relative)  # decrypted for export
    except OSError:
        return {"absent": "the image file is missing from the data directory"}
    name = f"images/{stem}.jpg"
    bundle.images[name] = data
    return {"file": name}


def _record(entry: ledger.LedgerEntry) -> events.Recorded | None:
    """The entry's typed record, or None where a tampered row no longer fits it (verification names it)."""
    try:
        return entry.record()
    except InvalidInput:
        return None


def _refused(entry: ledger.LedgerEntry) -> dict[str, Any]:
    details = _loads(entry.details)
    record = _record(entry)
    known = record.asked if isinstance(record, events.Refusal) else {}
    return {
        "status": "refused",
        "outcome": "refused",
        "ledger_seq": entry.seq,
        "at": entry.at,
        "searcher": entry.actor,
        "attestation": known.get("attestation"),
        "probe_sha256": known.get("probe_sha256"),
        "probe_face": known.get("face"),
        "reasons": _loads(entry.reasons),
        "details": details,
        "candidates": [],
    }


def _write_zip(out: Path, bundle: _Bundle) -> Path:
    """Into a temporary file beside `out`, so the final rename is atomic and nobody sees half an archive."""
    handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for arcname, text in bundle.texts.items():
                archive.writestr(arcname, text.encode())
            for arcname, data in sorted(bundle.images.items()):
                archive.writestr(arcname, data, compress_type=zipfile.ZIP_STORED)  # JPEG is compressed already
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
