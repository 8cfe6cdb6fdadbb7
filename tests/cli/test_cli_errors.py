"""A service error that names its field reaches the command line as the running command's option or
argument (the service never writes a flag into its message)."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.testing import CliRunner

from faceledger.cli.errors import reports_errors
from faceledger.errors import InvalidInput


def _app(field: str | None) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @reports_errors
    def grant(
        manifest: Annotated[str, typer.Argument()],
        purposes: Annotated[list[str], typer.Option("--purpose")],
        legal_basis: Annotated[str, typer.Option("--legal-basis")] = "",
    ) -> None:
        raise InvalidInput("the grant needs at least one allowed purpose", field=field)

    return app


def _stderr(field: str | None) -> str:
    found = CliRunner().invoke(_app(field), ["m.csv", "--purpose", "x"])
    assert found.exit_code == 3
    return found.stderr


def test_the_field_becomes_the_commands_own_option() -> None:
    assert "error: --purpose: the grant needs at least one allowed purpose" in _stderr("purposes")
    assert "error: --legal-basis: " in _stderr("legal_basis")
    assert "error: MANIFEST: " in _stderr("manifest")


def test_a_field_the_command_does_not_have_is_left_out() -> None:
    assert "error: the grant needs at least one allowed purpose" in _stderr("department")
    assert "error: the grant needs at least one allowed purpose" in _stderr(None)


def test_every_command_of_the_cli_spells_its_parameters() -> None:
    """Each real command's parameters resolve to command-line words, so an error never loses its flag."""
    from faceledger.cli.app import app
    from faceledger.cli.errors import _param_words

    def commands(group: typer.Typer) -> list[object]:
        found = [info.callback for info in group.registered_commands]
        for sub in group.registered_groups:
            assert sub.typer_instance is not None
            found += commands(sub.typer_instance)
        return found

    every = commands(app)
    assert len(every) > 20
    for command in every:
        words = _param_words(command.__wrapped__ if hasattr(command, "__wrapped__") else command)  # type: ignore[arg-type]
        assert all(word.startswith("--") or word.isupper() for word in words.values()), (command, words)
        assert words, f"{command} has parameters the CLI spells"
