"""The import contracts in pyproject.toml catch what they name: a copy of the package with one deliberate
violation added fails `lint-imports`, and the untouched copy passes (so the failure is the violation's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(
        REPO / "src" / "faceledger",
        tmp_path / "src" / "faceledger",
        ignore=shutil.ignore_patterns("__pycache__", "data", "templates", "static"),
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("api/routes_casework.py", "from faceledger.store import models", "Entry points reach the store"),
        ("cli/render.py", "from faceledger.engine import pipeline", "Entry points reach the store"),
        ("api/web.py", "import faceledger.index.faiss_index", "Entry points reach the store"),
        ("services/casework/cases.py", "from faceledger.api import app", "Layers import only downward"),
        ("config.py", "from faceledger.services.runtime import deployment", "Shared modules import nothing"),
        ("types.py", "from faceledger.store import db", "Shared modules import nothing"),
        ("api/routes_oversight.py", "from faceledger.services.gallery import _ingest", "private modules"),
        ("cli/casework.py", "from faceledger.services.casework import _gallery_search", "private modules"),
        ("services/oversight/reports.py", "import faceledger.services.gallery._removal", "private modules"),
    ],
)
def test_a_deliberate_violation_fails_lint_imports(tmp_path: Path, module: str, line: str, contract: str) -> None:
    root = _copy(tmp_path)
    target = root / "src" / "faceledger" / module
    target.write_text(target.read_text() + f"\n{line}  # the deliberate violation\n")
    found = _lint(root)
    assert found.returncode != 0, found.stdout
    assert f"{contract}" in found.stdout and "BROKEN" in found.stdout, found.stdout[-2000:]


def test_the_untouched_copy_keeps_every_contract(tmp_path: Path) -> None:
    found = _lint(_copy(tmp_path))
    assert found.returncode == 0, found.stdout[-2000:]
