"""The gallery commands as a curator uses them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lfwdata import copy_with_manifest, people_with_several

pytestmark = pytest.mark.needs_data


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faceledger", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_init_ingest_search_remove(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    people = people_with_several(data_dir, 6)
    manifest = copy_with_manifest(people, tmp_path / "in")
    created = run("init", "--data-dir", str(folder), "--json")
    assert created.returncode == 0, created.stderr
    token = ["--token", json.loads(created.stdout)["token"]]
    again = run("init", "--data-dir", str(folder))
    assert again.returncode == 7 and "already a faceledger data directory" in again.stderr

    anonymous = run(
        "gallery", "ingest", str(manifest), "--source", "lfw", "--legal-basis", "t", "--data-dir", str(folder)
    )
    assert anonymous.returncode == 6 and "no API token" in anonymous.stderr
    no_basis = run("gallery", "ingest", str(manifest), "--source", "lfw", "--data-dir", str(folder), *token)
    assert no_basis.returncode == 3 and "--legal-basis: source 'lfw' is new: give its legal basis" in no_basis.stderr

    ingested = run(
        "gallery",
        "ingest",
        str(manifest),
        "--source",
        "lfw",
        "--legal-basis",
        "test",
        "--json",
        "--data-dir",
        str(folder),
        *token,
    )
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["images_added"] == 6

    digest = hashlib.sha256(people[1][1][0].read_bytes()).hexdigest()
    removed = run("gallery", "remove", "--sha256", digest, "--data-dir", str(folder), *token)
    assert removed.returncode == 0 and "1 images, 1 faces" in removed.stdout
    stats = json.loads(run("gallery", "stats", "--json", "--data-dir", str(folder), *token).stdout)
    assert stats["images"] == 5 and stats["index"]["clean"]
    assert run("index", "check", "--data-dir", str(folder), *token).returncode == 0
    shown = json.loads(run("ledger", "show", "--json", "--data-dir", str(folder), *token).stdout)
    assert [e["action"] for e in shown if e["action"].startswith("gallery")] == [
        "gallery_ingest_start",
        "gallery_ingest_start",
        "gallery_ingest",
        "gallery_remove",
    ]

    missing = run("gallery", "stats", "--data-dir", str(tmp_path / "nowhere"), *token)
    assert missing.returncode == 4 and "not a faceledger data directory" in missing.stderr


def test_ingest_on_a_ray_address_where_no_cluster_listens(data_dir: Path, tmp_path: Path) -> None:
    from tests.raycluster import free_port

    folder = tmp_path / "data"
    manifest = copy_with_manifest(people_with_several(data_dir, 2), tmp_path / "in")
    token = ["--token", json.loads(run("init", "--data-dir", str(folder), "--json").stdout)["token"]]
    address = f"127.0.0.1:{free_port()}"
    refused = run(
        "gallery",
        "ingest",
        str(manifest),
        "--source",
        "lfw",
        "--legal-basis",
        "test",
        "--ray",
        address,
        "--data-dir",
        str(folder),
        *token,
    )
    assert refused.returncode == 10, refused.stderr
    assert f"no Ray cluster answers at {address}" in refused.stderr
    stats = json.loads(run("gallery", "stats", "--json", "--data-dir", str(folder), *token).stdout)
    assert stats["images"] == 0
