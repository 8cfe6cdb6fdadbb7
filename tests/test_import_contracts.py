"""The import contracts in pyproject.toml catch what they name: a copy of the package with one deliberate
violation added fails `lint-imports`, and the untouched copy passes (so the failure is the violation's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

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


# Each deliberate violation: the module it is added to, the line, the module it imports, and the contract
# it breaks. One copy holds them all, so lint-imports runs twice in all, not once per violation.
VIOLATIONS = [
    ("api/routes_casework.py", "from faceledger.store import models", "store.models", "Entry points"),
    ("cli/render.py", "from faceledger.engine import pipeline", "engine.pipeline", "Entry points"),
    ("api/web.py", "import faceledger.index.faiss_index", "index.faiss_index", "Entry points"),
    ("services/casework/cases.py", "from faceledger.api import app", "api.app", "Layers"),
    ("config.py", "from faceledger.services.runtime import deployment", "services.runtime.deployment", "Shared"),
    ("types.py", "from faceledger.store import db", "store.db", "Shared"),
    ("api/routes_oversight.py", "from faceledger.services.gallery import _ingest", "services.gallery._ingest", "A"),
    (
        "cli/casework.py",
        "from faceledger.services.casework import _gallery_search",
        "services.casework._gallery_search",
        "A use",
    ),
    (
        "services/oversight/reports.py",
        "import faceledger.services.gallery._removal",
        "services.gallery._removal",
        "A use",
    ),
    ("eval/lfw.py", "from faceledger.store import db", "store.db", "eval uses"),
    ("transparency/verify.py", "import faceledger.errors", "errors", "What outsiders run"),
]


def _contracts() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [contract["name"] for contract in config["tool"]["importlinter"]["contracts"]]


def _words(output: str) -> str:
    return " ".join(output.split())  # lint-imports wraps its lines at 80 columns


def test_each_deliberate_violation_breaks_its_contract(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    for module, line, _, _ in VIOLATIONS:
        target = root / "src" / "faceledger" / module
        target.write_text(target.read_text() + f"\n{line}  # the deliberate violation\n")
    found = _lint(root)
    assert found.returncode != 0, found.stdout
    said = _words(found.stdout)
    for module, _, imported, contract in VIOLATIONS:
        importer = "faceledger." + module.removesuffix(".py").replace("/", ".")
        assert f"{importer} -> faceledger.{imported}" in said, f"{module}: {said[-3000:]}"
        name = next(name for name in _contracts() if name.startswith(contract))
        assert f"{name} BROKEN" in said, name
    broken = {name for *_, contract in VIOLATIONS for name in _contracts() if name.startswith(contract)}
    assert broken == set(_contracts()), "every contract is shown breaking"


def test_the_untouched_copy_keeps_every_contract(tmp_path: Path) -> None:
    found = _lint(_copy(tmp_path))
    assert found.returncode == 0, found.stdout[-2000:]
    said = _words(found.stdout)
    assert all(f"{name} KEPT" in said for name in _contracts()), said[-2000:]
