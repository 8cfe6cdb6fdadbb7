"""The ledger's Merkle tree: what it costs an append, and what its proofs cost at scale. Prints JSON.

1. Append throughput, in one run on one SQLite file each: today's append (hash chain + tree) against the
   same append with the tree work switched off (the chain-only append of before). Both commit every
   `--batch` entries, as a busy server would.
2. At each size (default 10k, 100k, 1M entries, built by the migration's bulk path): inclusion and
   consistency proof length (hashes) and time, checkpoint signing time, and stored nodes per entry.

    PYTHONPATH=src .venv/bin/python bench/ledger.py [--appends 5000] [--sizes 10000 100000 1000000]"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import func, insert, select

from faceledger.config import Settings
from faceledger.services.oversight import transparency
from faceledger.services.runtime.deployment import init_deployment
from faceledger.store import ledger, merkle
from faceledger.store.db import transaction
from faceledger.store.events import EventName
from faceledger.transparency.verify import leaf_hash, verify_consistency, verify_inclusion
from faceledger.types import IndexBackend


def appends_per_second(folder: Path, count: int, batch: int, *, tree: bool) -> float:
    deployment = init_deployment(Settings(), folder, IndexBackend.EXACT)
    patches = (
        []
        if tree
        else [
            mock.patch.object(merkle, "extend", lambda frontier, size, leaf: (frontier, [])),
            mock.patch.object(merkle, "decode_frontier", lambda text, size: []),
        ]
    )
    for patch in patches:
        patch.start()
    try:
        started = time.perf_counter()
        for first in range(0, count, batch):
            with transaction(deployment.sessions) as session:
                for i in range(first, min(first + batch, count)):
                    ledger.write_entry(
                        session, ledger.SYSTEM, EventName.SEARCH, case_id=i % 50, details={"i": i, "faces": 3}
                    )
        return count / (time.perf_counter() - started)
    finally:
        for patch in patches:
            patch.stop()
        deployment.close()


def bulk_ledger(folder: Path, size: int) -> Any:
    """A deployment whose ledger holds `size` entries, written in bulk and its tree built as migration 0016
    builds it for an existing ledger."""
    deployment = init_deployment(Settings(), folder, IndexBackend.EXACT)
    with deployment.sessions() as session:
        head = session.get(ledger.LedgerHead, 1)
        seq, prev = (head.seq, head.hash) if head else (0, ledger.GENESIS_HASH)
    with deployment.engine.begin() as connection:
        rows = []
        for n in range(seq + 1, size + 1):
            fields = {
                "seq": n,
                "at": "2026-12-01T00:00:00.000000+00:00",
                "actor_id": None,
                "actor": "system",
                "action": "search",
                "case_id": n % 50,
                "outcome": "done",
                "subjects": "{}",
                "details": ledger.canonical({"i": n}),
                "reasons": "[]",
                "prev_hash": prev,
            }
            prev = ledger.entry_hash(fields)
            rows.append({**fields, "hash": prev})
            if len(rows) == 20_000:
                connection.execute(insert(ledger.LedgerEntry), rows)
                rows = []
        if rows:
            connection.execute(insert(ledger.LedgerEntry), rows)
        connection.execute(ledger.LedgerHead.__table__.delete())
        connection.execute(merkle.LedgerTreeNode.__table__.delete())

        def store(nodes: list[tuple[int, int, bytes]]) -> None:
            connection.execute(
                insert(merkle.LedgerTreeNode), [{"level": lv, "index": ix, "hash": h.hex()} for lv, ix, h in nodes]
            )

        hashes = (h for (h,) in connection.execute(select(ledger.LedgerEntry.hash).order_by(ledger.LedgerEntry.seq)))
        frontier, built = merkle.rebuild(hashes, store, batch=20_000)
        connection.execute(
            insert(ledger.LedgerHead), [{"id": 1, "seq": built, "hash": prev, "tree": merkle.encode_frontier(frontier)}]
        )
    return deployment


def proofs_at(folder: Path, size: int, samples: int) -> dict[str, Any]:
    started = time.perf_counter()
    deployment = bulk_ledger(folder, size)
    built_s = time.perf_counter() - started
    try:
        started = time.perf_counter()
        signed = transparency.issue_checkpoint(deployment).checkpoint  # the first: it checks every entry
        first_sign_s = time.perf_counter() - started
        with transaction(deployment.sessions) as session:
            ledger.write_entry(session, ledger.SYSTEM, EventName.SEARCH, details={"after": True})
        started = time.perf_counter()
        transparency.issue_checkpoint(deployment)  # the usual one: only the entries since the last
        next_sign_s = time.perf_counter() - started
        rng = random.Random(size)
        inclusion_ms, inclusion_len, consistency_ms, consistency_len = [], [], [], []
        for _ in range(samples):
            seq = rng.randrange(1, signed.size + 1)
            started = time.perf_counter()
            proof = transparency.inclusion_proof(deployment, seq, signed.size)
            inclusion_ms.append(1000 * (time.perf_counter() - started))
            path = [bytes.fromhex(h) for h in proof["audit_path"]]
            verify_inclusion(seq - 1, signed.size, leaf_hash(proof["entry_hash"]), path, signed.root)
            inclusion_len.append(len(path))
            old = rng.randrange(1, signed.size)
            started = time.perf_counter()
            step = transparency.consistency_proof(deployment, old, signed.size)
            consistency_ms.append(1000 * (time.perf_counter() - started))
            verify_consistency(
                old, signed.size, bytes.fromhex(step["old_root"]), signed.root, [bytes.fromhex(h) for h in step["path"]]
            )
            consistency_len.append(len(step["path"]))
        with deployment.sessions() as session:
            nodes = session.scalar(select(func.count()).select_from(merkle.LedgerTreeNode)) or 0
        return {
            "entries": signed.size,
            "bulk_build_s": round(built_s, 1),
            "stored_nodes_per_entry": round(nodes / size, 3),
            "first_checkpoint_s": round(first_sign_s, 3),
            "next_checkpoint_s": round(next_sign_s, 4),
            "inclusion_proof_hashes": {"median": statistics.median(inclusion_len), "max": max(inclusion_len)},
            "inclusion_proof_ms": {
                "median": round(statistics.median(inclusion_ms), 2),
                "max": round(max(inclusion_ms), 2),
            },
            "consistency_proof_hashes": {"median": statistics.median(consistency_len), "max": max(consistency_len)},
            "consistency_proof_ms": {
                "median": round(statistics.median(consistency_ms), 2),
                "max": round(max(consistency_ms), 2),
            },
            "log2_entries": round(signed.size.bit_length(), 1),
        }
    finally:
        deployment.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=1, help="entries per transaction (1: one per request)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        chain_only = appends_per_second(root / "chain", args.appends, args.batch, tree=False)
        with_tree = appends_per_second(root / "tree", args.appends, args.batch, tree=True)
        sizes = [proofs_at(root / f"size-{size}", size, args.samples) for size in args.sizes]
    print(
        json.dumps(
            {
                "appends": {
                    "entries": args.appends,
                    "per_transaction": args.batch,
                    "sqlite": True,
                    "chain_only_per_s": round(chain_only, 1),
                    "chain_and_tree_per_s": round(with_tree, 1),
                    "slowdown": round(chain_only / with_tree, 3),
                },
                "sizes": sizes,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
