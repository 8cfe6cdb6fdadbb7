"""The gallery commands as a curator uses them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lfwdata import copy_with_manifest, people_with_several

pytestmark = pytest.mark.needs_data


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faceledger", *args], capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip


def test_init_ingest_search_remove(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    people = people_with_several(data_dir, 6)
    manifest = copy_with_manifest(people, tmp_path / "in")
    assert run("init", "--data-dir", str(folder)).returncode == 0
    again = run("init", "--data-dir", str(folder))
    assert again.returncode == 7 and "already a faceledger data directory" in again.stderr

    no_basis = run("gallery", "ingest", str(manifest), "--source", "lfw", "--data-dir", str(folder))
    assert no_basis.returncode == 3 and "give its legal basis" in no_basis.stderr

    ingested = run("gallery", "ingest", str(manifest), "--source", "lfw", "--legal-basis", "test", "--json",
                   "--data-dir", str(folder))  # fmt: skip
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["images_added"] == 6

    found = run("gallery", "search", str(people[1][1][1]), "--top-k", "3", "--json", "--data-dir", str(folder))
    result = json.loads(found.stdout)
    top = result["faces"][0]["candidates"][0]
    assert top["provenance"]["source_url"].endswith(people[1][1][0].name)
    assert "never identifications" in result["note"]

    removed = run("gallery", "remove", "--sha256", top["image_sha256"], "--data-dir", str(folder))
    assert removed.returncode == 0 and "1 images, 1 faces" in removed.stdout
    stats = json.loads(run("gallery", "stats", "--json", "--data-dir", str(folder)).stdout)
    assert stats["images"] == 5 and stats["index"]["clean"]
    assert run("index", "check", "--data-dir", str(folder)).returncode == 0

    missing = run("gallery", "stats", "--data-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 4 and "not a faceledger data directory" in missing.stderr
