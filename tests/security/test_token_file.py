"""Low: the only way to give the CLI a token besides the environment was `--token VALUE`, which every user of
the machine can read in `ps`. Now `--token-file PATH` (refused unless only its owner can read it) and
$FACELEDGER_TOKEN; `--token` still works but warns on stderr why and what to use instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from faceledger.cli.app import app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[Path, str]:
    created = CliRunner().invoke(
        app, ["init", "--admin", "chair", "--department", "D", "--data-dir", str(tmp_path / "d"), "--json"]
    )
    assert created.exit_code == 0, created.output
    return tmp_path / "d", json.loads(created.stdout)["token"]


def _run(args: list[str], **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env={"FACELEDGER_TOKEN": None, "FACELEDGER_TOKEN_FILE": None, **env})
    return result.exit_code, result.stdout, result.stderr


def test_a_token_file_readable_only_by_its_owner_works(deployment: tuple[Path, str], tmp_path: Path) -> None:
    data, token = deployment
    file = tmp_path / "token"
    file.write_text(token + "\n")
    file.chmod(0o600)
    code, out, err = _run(["user", "list", "--data-dir", str(data), "--token-file", str(file)])
    assert code == 0 and "chair" in out and "warning" not in err
    code, out, err = _run(["user", "list", "--data-dir", str(data)], FACELEDGER_TOKEN_FILE=str(file))
    assert code == 0 and "chair" in out


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_token_file_others_can_read_is_refused(deployment: tuple[Path, str], tmp_path: Path, mode: int) -> None:
    data, token = deployment
    file = tmp_path / "token"
    file.write_text(token)
    file.chmod(mode)
    code, out, err = _run(["user", "list", "--data-dir", str(data), "--token-file", str(file)])
    assert code == 3 and "chmod 600" in err and f"{mode:04o}" in err and token not in err + out


def test_a_missing_or_empty_token_file_is_refused_clearly(deployment: tuple[Path, str], tmp_path: Path) -> None:
    data, _ = deployment
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    for file, says in ((tmp_path / "absent", "cannot be read"), (empty, "empty"), (tmp_path, "not a regular file")):
        code, _, err = _run(["user", "list", "--data-dir", str(data), "--token-file", str(file)])
        assert code == 3 and says in err, err


def test_token_on_the_command_line_warns_and_the_environment_does_not(deployment: tuple[Path, str]) -> None:
    data, token = deployment
    code, out, err = _run(["user", "list", "--data-dir", str(data), "--token", token])
    assert code == 0 and "chair" in out, "the deprecated option keeps working"
    assert "deprecated" in err and "ps" in err and "--token-file" in err and err.count("\n") == 1
    code, out, err = _run(["user", "list", "--data-dir", str(data)], FACELEDGER_TOKEN=token)
    assert code == 0 and "chair" in out and err == ""


def test_demo_and_readme_do_not_put_tokens_on_the_command_line() -> None:
    demo = (REPO / "scripts" / "demo.sh").read_text()
    assert "--token " not in demo and "FACELEDGER_TOKEN_FILE" in demo
    readme = (REPO / "README.md").read_text()
    assert "--token-file" in readme
