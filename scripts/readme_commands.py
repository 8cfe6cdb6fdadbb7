"""The README's command tour, written from the Typer app itself so that it cannot drift from the code.

    .venv/bin/python scripts/readme_commands.py           # rewrite the tour in README.md
    .venv/bin/python scripts/readme_commands.py --check   # exit 1 if README.md differs (make lint)

Each command gets one line: its name, arguments and required options, then the first sentence of its help.
The tour sits between the two marker lines in README.md; everything else in it is written by hand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main

from faceledger.cli.app import app

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- commands: written by scripts/readme_commands.py from the CLI; do not edit by hand -->"
END = "<!-- end of commands -->"


def _leaves(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    if hasattr(command, "commands"):  # a group (typer vendors click, so no isinstance on click's classes)
        for name, sub in command.commands.items():
            if not getattr(sub, "hidden", False):
                yield from _leaves(sub, [*path, name])
    else:
        yield path, command


def _synopsis(path: list[str], command: Any) -> str:
    words = ["faceledger", *path]
    for param in command.params:
        if param.param_type_name == "argument":
            name = (param.metavar or param.name).upper()
            words.append(f"{name} ..." if param.nargs == -1 else name)
        elif param.param_type_name == "option" and param.required:
            metavar = "" if param.is_flag else f" {(param.metavar or param.name).upper()}"
            words.append(f"{max(param.opts, key=len)}{metavar}")
    if any(p.param_type_name == "option" and not p.required and p.name != "help" for p in command.params):
        words.append("[options]")
    return " ".join(words)


def _first_sentence(text: str | None) -> str:
    """Up to the first full stop outside brackets."""
    flat, depth = " ".join((text or "").split()), 0
    for at, char in enumerate(flat):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "." and depth == 0 and (at + 1 == len(flat) or flat[at + 1] == " "):
            return flat[:at]
    return flat


def tour() -> str:
    rows = ["| command | what it does |", "| --- | --- |"]
    for path, command in _leaves(typer.main.get_command(app), []):
        help_text = _first_sentence(command.help).replace("|", "\\|")
        rows.append(f"| `{_synopsis(path, command)}` | {help_text} |")
    return "\n".join([START, *rows, END])


def rewritten(readme: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"{README}: the marker lines are missing:\n{START}\n{END}")
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return before + tour() + after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's tour is not the CLI's")
    args = parser.parse_args()
    current = README.read_text()
    wanted = rewritten(current)
    if args.check:
        if wanted != current:
            sys.stderr.write("README.md's command tour differs from the CLI: run scripts/readme_commands.py\n")
            raise SystemExit(1)
        return
    README.write_text(wanted)


if __name__ == "__main__":
    main()
