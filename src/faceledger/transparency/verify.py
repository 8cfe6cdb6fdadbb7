"""Check faceledger's ledger without trusting its operator: entry hashes, RFC 9162 Merkle proofs, signed
checkpoints (C2SP signed-note / tlog-checkpoint) and witness cosignatures (C2SP tlog-cosignature v1).

This one file uses only the Python standard library and `cryptography`, so that it can travel on its own:
a disclosure package carries it as verify.py, and a witness on another machine runs it from the package.
Run on an unpacked (or zipped) disclosure package:

    python verify.py PACKAGE_FOLDER_OR_ZIP --public-key KEYFILE [--witness-key WITNESS.pub ...]

It recomputes every disclosed entry's hash, every inclusion proof and the checkpoint's signature, and
names what failed. Pass the operator's public key obtained independently (from the council's published
copy, say): without it, it exits 3, since the key inside the package only shows that the package agrees
with itself."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519_NOTE = 0x01  # a note signature by the log (C2SP signed-note)
ED25519_COSIGNATURE = 0x04  # a witness's timestamped cosignature (C2SP tlog-cosignature v1)
_DASH = "\u2014 "
_MAX_NOTE = 64 * 1024  # a checkpoint is a few hundred bytes; anything this long is refused unread
_MAX_PATH = 64  # a tree of 2^64 entries needs no longer proof


# The fields an entry's hash covers, in this one place (store/ledger.py hashes with it, and this file travels
# in every disclosure package with it pinned: a package cannot name its own).
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor",
    "action",
    "case_id",
    "outcome",
    "subjects",
    "details",
    "reasons",
    "prev_hash",
)
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_HEX_HASH = re.compile(r"[0-9a-f]{64}")


class VerificationFailed(Exception):
    """What did not verify, in words."""


# --- entries ----------------------------------------------------------------------------------------------


def canonical(value: Any) -> str:
    """The ledger's one encoding for hashing: sorted keys, no spaces, UTF-8 kept, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_digest(fields: Mapping[str, Any], names: Sequence[str]) -> str:
    """An entry's hash: SHA-256 of the canonical encoding of its hashed fields (hex)."""
    return hashlib.sha256(canonical({name: fields[name] for name in names}).encode()).hexdigest()


# --- the Merkle tree (RFC 9162, section 2.1) --------------------------------------------------------------


def leaf_hash(entry_hash_hex: str) -> bytes:
    """A ledger entry's leaf: SHA-256(0x00 || its 32-byte entry hash)."""
    return hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    return hashlib.sha256(b"").digest()


def verify_inclusion(leaf_index: int, tree_size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 2.1.3.2: `leaf` is entry `leaf_index` (from 0) of the tree of `tree_size` with `root`."""
    if not 0 <= leaf_index < tree_size:
        raise VerificationFailed(f"leaf {leaf_index} is not in a tree of {tree_size}")
    if len(path) > _MAX_PATH:
        raise VerificationFailed(f"an inclusion proof of {len(path)} hashes is longer than any tree needs")
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            raise VerificationFailed("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationFailed("the inclusion proof is shorter than the tree is deep")
    if r != root:
        raise VerificationFailed(
            f"the inclusion proof of leaf {leaf_index} does not lead to the root of size {tree_size}"
        )


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]) -> None:
    """RFC 9162 2.1.4.2: the tree of `new_size` with `new_root` extends the one of `old_size` with `old_root`."""
    if not 0 <= old_size <= new_size:
        raise VerificationFailed(f"a tree of {new_size} cannot extend one of {old_size}: the log was rolled back")
    if len(path) > 2 * _MAX_PATH:
        raise VerificationFailed(f"a consistency proof of {len(path)} hashes is longer than any tree needs")
    if old_size == new_size:
        if path or old_root != new_root:
            raise VerificationFailed(f"two different trees of size {new_size}: the log forked")
        return
    if old_size == 0:  # every tree extends the empty one
        if path:
            raise VerificationFailed("a consistency proof from the empty tree must be empty")
        return
    if not path:
        raise VerificationFailed("the consistency proof is empty")
    hashes = list(path)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        hashes.insert(0, old_root)
    fr, sr, sn = _fold_consistency(hashes, old_size - 1, new_size - 1)
    if sn != 0 or fr != old_root or sr != new_root:
        raise VerificationFailed(
            f"the tree of {new_size} entries does not extend the one of {old_size} "
            "entries: the log was rewritten or forked"
        )


def _fold_consistency(hashes: Sequence[bytes], fn: int, sn: int) -> tuple[bytes, bytes, int]:
    """RFC 9162 2.1.4.2 steps 4 to 6: the old and new roots the proof leads to, and what is left of sn."""
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            raise VerificationFailed("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr, sr, sn


# --- keys and signed notes (C2SP signed-note, tlog-checkpoint, tlog-cosignature) ---------------------------


def key_id(name: str, kind: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A public key as C2SP writes it (a "vkey"): `name+hex(key id)+base64(kind || key)`."""

    name: str
    kind: int
    public: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)  # the base64 may hold "+" too; a name may not
        if len(parts) != 3:
            raise VerificationFailed("a public key is NAME+KEYID+BASE64, as `faceledger ledger public-key` prints")
        name, hex_id, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise VerificationFailed(f"the public key's base64 is damaged: {exc}") from None
        if len(raw) != 33 or raw[0] not in (ED25519_NOTE, ED25519_COSIGNATURE):
            raise VerificationFailed("the public key is not an Ed25519 key")
        key = cls(name, raw[0], raw[1:])
        if key.id.hex() != hex_id.lower():
            raise VerificationFailed(f"the public key of {name} does not match its own key id")
        return key

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.kind, self.public)

    def text(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(bytes([self.kind]) + self.public).decode()}"

    def check(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def verifier_key(name: str, private: Ed25519PrivateKey, kind: int = ED25519_NOTE) -> VerifierKey:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return VerifierKey(name, kind, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: origin, tree size, root hash and the time it was signed, as a C2SP checkpoint
    (the time is an extension line), with every signature line the note carries."""

    origin: str
    size: int
    root: bytes
    time: str
    signatures: tuple[tuple[str, bytes], ...] = field(default=())  # (key name, key id || signature)

    @property
    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\ntime {self.time}\n"

    def text(self) -> str:
        lines = "".join(f"{_DASH}{name} {base64.b64encode(sig).decode()}\n" for name, sig in self.signatures)
        return f"{self.body}\n{lines}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        if len(text) > _MAX_NOTE:
            raise VerificationFailed(f"a checkpoint of {len(text):,} characters is not a checkpoint")
        if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
            raise VerificationFailed("a checkpoint holds no control characters")
        body, sep, signed = text.rpartition("\n\n")
        if not sep or not signed.endswith("\n"):
            raise VerificationFailed("a checkpoint is its text, a blank line and signature lines")
        lines = body.split("\n")
        if len(lines) != 4 or not lines[3].startswith("time "):
            raise VerificationFailed("a checkpoint has four lines: origin, tree size, root hash and time")
        origin, size_text, root_text, time_line = lines
        if not _SIZE.fullmatch(size_text):
            raise VerificationFailed(f"the tree size {size_text!r} is not a number")
        try:
            root = base64.b64decode(root_text, validate=True)
        except ValueError:
            raise VerificationFailed("the checkpoint's root hash is not base64") from None
        if len(root) != 32:
            raise VerificationFailed("the checkpoint's root hash is not a SHA-256 hash")
        if size_text == "0" and root != empty_root():
            raise VerificationFailed("an empty tree has one root, SHA-256 of nothing; this checkpoint names another")
        signatures = _signature_lines(signed)
        parsed = cls(origin, int(size_text), root, time_line.removeprefix("time "), tuple(signatures))
        if parsed.text() != text:  # what is checked is exactly what was received: no second spelling of it
            raise VerificationFailed("the checkpoint is not written the one way a checkpoint is written")
        return parsed

    def signed_by(self, key: VerifierKey) -> bool:
        """Whether the log key `key` signed this checkpoint (lines of other keys are ignored)."""
        for name, sig in self.signatures:
            if name == key.name and sig[:4] == key.id and len(sig) == 68:
                return key.check(self.body.encode(), sig[4:])
        return False

    def require_signature(self, key: VerifierKey) -> None:
        if key.kind != ED25519_NOTE:
            raise VerificationFailed(f"{key.name}'s key is a witness key, not a log key")
        if self.origin != key.name:
            raise VerificationFailed(f"the checkpoint is of the log {self.origin!r}, the key of {key.name!r}")
        if not self.signed_by(key):
            raise VerificationFailed(
                f"the checkpoint of size {self.size} is not signed by {key.name}'s key "
                f"{key.id.hex()}: it was altered or signed by another key"
            )

    def cosigned_at(self, witness: VerifierKey) -> int | None:
        """The time (POSIX seconds) at which `witness` cosigned this checkpoint; None if it did not."""
        for name, sig in self.signatures:
            if name == witness.name and sig[:4] == witness.id and len(sig) == 76:
                (stamp,) = struct.unpack(">Q", sig[4:12])
                if witness.check(cosigned_message(self, stamp), sig[12:]):
                    return int(stamp)
        return None

    def with_signature(self, name: str, signature: bytes) -> Checkpoint:
        kept = tuple(s for s in self.signatures if s[0] != name)
        return Checkpoint(self.origin, self.size, self.root, self.time, (*kept, (name, signature)))


def _signature_lines(signed: str) -> list[tuple[str, bytes]]:
    signatures: list[tuple[str, bytes]] = []
    seen: set[tuple[str, bytes]] = set()
    for line in signed[:-1].split("\n"):
        name, _, encoded = line.removeprefix(_DASH).rpartition(" ")
        if not line.startswith(_DASH) or not name or " " in name or "+" in name:
            raise VerificationFailed(f"not a signature line: {line[:60]!r}")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise VerificationFailed(f"the signature of {name} is not base64") from None
        if (name, raw[:4]) in seen:
            raise VerificationFailed(f"two signature lines of {name} with one key")
        seen.add((name, raw[:4]))
        signatures.append((name, raw))
    return signatures


def sign_checkpoint(checkpoint: Checkpoint, key: VerifierKey, private: Ed25519PrivateKey) -> Checkpoint:
    return checkpoint.with_signature(key.name, key.id + private.sign(checkpoint.body.encode()))


def cosigned_message(checkpoint: Checkpoint, stamp: int) -> bytes:
    return f"cosignature/v1\ntime {stamp}\n{checkpoint.body}".encode()


def cosign(checkpoint: Checkpoint, key: VerifierKey, private: Ed25519PrivateKey, stamp: int) -> Checkpoint:
    signature = private.sign(cosigned_message(checkpoint, stamp))
    return checkpoint.with_signature(key.name, key.id + struct.pack(">Q", stamp) + signature)


# --- proofs as JSON ---------------------------------------------------------------------------------------


def hashes_of(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list) or not all(isinstance(v, str) and _HEX_HASH.fullmatch(v) for v in values):
        raise VerificationFailed(f"the {what} is not a list of lowercase hex SHA-256 hashes")
    return [bytes.fromhex(v) for v in values]


def check_inclusion_proof(proof: Mapping[str, Any], checkpoint: Checkpoint, entry_hash: str) -> None:
    """A proof as `faceledger ledger prove` writes it, for the entry whose hash is `entry_hash`."""
    if not isinstance(proof, Mapping):
        raise VerificationFailed("an inclusion proof is a JSON object")
    if proof.get("tree_size") != checkpoint.size:
        raise VerificationFailed(
            f"the proof is for a tree of {proof.get('tree_size')}, the checkpoint's has {checkpoint.size}"
        )
    if proof.get("entry_hash") != entry_hash:
        raise VerificationFailed(f"the proof is for another entry than entry {proof.get('seq')}")
    seq = proof.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise VerificationFailed("the proof names no entry number")
    path = hashes_of(proof.get("audit_path"), "audit path")
    verify_inclusion(seq - 1, checkpoint.size, leaf_hash(entry_hash), path, checkpoint.root)


def check_consistency_proof(proof: Mapping[str, Any], old: Checkpoint, new: Checkpoint) -> None:
    """A proof as `faceledger ledger consistency` writes it, between two checkpoints of one log."""
    if not isinstance(proof, Mapping):
        raise VerificationFailed("a consistency proof is a JSON object")
    if old.origin != new.origin:
        raise VerificationFailed(f"the checkpoints are of two logs: {old.origin!r} and {new.origin!r}")
    if (proof.get("old_size"), proof.get("new_size")) != (old.size, new.size):
        raise VerificationFailed(
            f"the proof is from size {proof.get('old_size')} to {proof.get('new_size')}, the "
            f"checkpoints are of sizes {old.size} and {new.size}"
        )
    verify_consistency(old.size, new.size, old.root, new.root, hashes_of(proof.get("path"), "consistency path"))


# --- a disclosure package ---------------------------------------------------------------------------------


_PACKAGE_FILES = ("ledger.jsonl", "ledger/checkpoint.txt", "ledger/public-key.txt", "ledger/proofs.json")


def _read_package(location: Path) -> dict[str, bytes]:
    """The package's ledger files (the images are not needed to check the ledger), from a folder or a zip,
    also when it was zipped inside one top folder. Each must be there once, where the README says: a second
    copy elsewhere could be the one a reader opens, so it is refused."""
    if location.is_dir():
        names = [p.relative_to(location).as_posix() for p in location.rglob("*") if p.is_file()]
        return _pick(names, lambda name: (location / name).read_bytes())
    try:
        with zipfile.ZipFile(location) as archive:
            return _pick(archive.namelist(), archive.read)
    except (OSError, zipfile.BadZipFile) as exc:
        raise VerificationFailed(f"cannot read the package {location}: {exc}") from None


def _pick(names: list[str], read: Any) -> dict[str, bytes]:
    tops = {name.split("/", 1)[0] for name in names if "/" in name}
    prefix = ""
    if "ledger.jsonl" not in names and len(tops) == 1 and all("/" in n for n in names):
        prefix = tops.pop() + "/"  # zipped with its folder
    found: dict[str, bytes] = {}
    for wanted in _PACKAGE_FILES:
        copies = [n for n in names if n == prefix + wanted]
        elsewhere = [n for n in names if n.endswith("/" + wanted) and n != prefix + wanted]
        if len(copies) > 1 or elsewhere:
            raise VerificationFailed(
                f"the package holds more than one {wanted} ({', '.join(copies + elsewhere)}): "
                "which one a reader opens cannot be told"
            )
        if copies:
            found[wanted] = read(copies[0])
    return found


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise VerificationFailed(f"an entry names a field twice ({sorted(k for k in keys if keys.count(k) > 1)[0]})")
    return dict(pairs)


def _entries(text: str) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            entry = json.loads(line, object_pairs_hook=_no_repeated_keys)
        except json.JSONDecodeError as exc:
            raise VerificationFailed(f"line {number} of ledger.jsonl is not JSON: {exc}") from None
        if not isinstance(entry, dict) or set(entry) != {*HASHED_FIELDS, "hash"}:
            extra = sorted(set(entry) - {*HASHED_FIELDS, "hash"}) if isinstance(entry, dict) else []
            raise VerificationFailed(
                f"line {number} of ledger.jsonl is not an entry of exactly the hashed fields and "
                f"its hash{': it adds ' + ', '.join(extra) if extra else ''}"
            )
        entries.append(entry)
    if not entries:
        raise VerificationFailed("the package discloses no ledger entry")
    return entries


def verify_package(
    location: Path, public_key: str | None = None, witness_keys: Sequence[VerifierKey] = ()
) -> list[str]:
    """Every check of a disclosure package, in order; raises VerificationFailed at the first that fails."""
    files = _read_package(location)
    done: list[str] = []
    try:
        checkpoint = Checkpoint.parse(files["ledger/checkpoint.txt"].decode())
        key_text = public_key if public_key is not None else files["ledger/public-key.txt"].decode()
        entries = _entries(files["ledger.jsonl"].decode())
        proofs = json.loads(files["ledger/proofs.json"])
    except KeyError as missing:
        raise VerificationFailed(f"the package has no {missing.args[0]}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerificationFailed(f"the package's ledger files are damaged: {exc}") from None
    key = VerifierKey.parse(key_text)
    checkpoint.require_signature(key)
    source = "given" if public_key is not None else "enclosed"
    done.append(
        f"checkpoint: {checkpoint.origin}, {checkpoint.size} entries, signed by the {source} key "
        f"{key.id.hex()} at {checkpoint.time}"
    )
    names = HASHED_FIELDS  # pinned here; the package's own list is only compared
    if not isinstance(proofs, dict) or tuple(proofs.get("hashed_fields", ())) != HASHED_FIELDS:
        raise VerificationFailed("proofs.json names other hashed fields than this verifier knows")
    by_seq = {p.get("seq"): p for p in proofs.get("inclusion", []) if isinstance(p, dict)}
    for entry in entries:
        seq = entry.get("seq")
        try:
            recomputed = entry_digest(entry, names)
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationFailed(f"entry {seq} cannot be hashed: {exc}") from None
        if recomputed != entry.get("hash"):
            raise VerificationFailed(f"entry {seq} was altered: its contents do not match its hash")
        if seq not in by_seq:
            raise VerificationFailed(f"entry {seq} has no inclusion proof")
        try:
            check_inclusion_proof(by_seq[seq], checkpoint, recomputed)
        except VerificationFailed as exc:
            raise VerificationFailed(f"entry {seq}: {exc}") from None
    done.append(
        f"{len(entries)} disclosed entries: each hash recomputed and each proven included in the checkpoint's tree"
    )
    for witness in witness_keys:
        stamp = checkpoint.cosigned_at(witness)
        if stamp is None:
            raise VerificationFailed(f"the checkpoint carries no valid cosignature of the witness {witness.name}")
        done.append(f"cosigned by the witness {witness.name} at {stamp} (POSIX time)")
    unchecked = [n for n, sig in checkpoint.signatures if n != key.name and n not in {w.name for w in witness_keys}]
    if unchecked:
        done.append(f"UNVERIFIED signature lines (no key given for them): {', '.join(unchecked)}")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0: verified against the office's key given with --public-key; 1: something failed; 3: the
    package is consistent with the key it encloses, which is not an independent check."""
    args = list(sys.argv[1:] if argv is None else argv)
    options: dict[str, list[str]] = {"--public-key": [], "--witness-key": []}
    for flag, values in options.items():
        while flag in args:
            at = args.index(flag)
            if at + 1 >= len(args):
                print(f"verify: {flag} needs a file", file=sys.stderr)
                return 2
            values.append(args[at + 1])
            del args[at : at + 2]
    location = Path(args[0]) if args else Path(__file__).resolve().parent
    try:
        public_key = Path(options["--public-key"][0]).read_text() if options["--public-key"] else None
        witnesses = [VerifierKey.parse(Path(f).read_text()) for f in options["--witness-key"]]
        for line in verify_package(location, public_key, witnesses):
            print(f"ok: {line}")
    except (VerificationFailed, OSError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    if public_key is None:
        print(
            "NOT independently verified: the package agrees with the key it encloses, which whoever made it "
            "chose; run again with --public-key and the office's key as the council publishes it"
        )
        return 3
    print(
        "verified: the disclosed entries are in the ledger the office's key signed; entries a package leaves "
        "out, and its other files (searches.json, images), are not covered by this check"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
