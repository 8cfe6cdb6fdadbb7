"""The one place where errors become exit codes and one line on stderr: no tracebacks for user errors."""

from __future__ import annotations

import functools
import sys
import typing
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
import typer.models
from pydantic import ValidationError

from faceledger import errors

P = ParamSpec("P")
R = TypeVar("R")

EXIT_CODES: dict[type[errors.FaceledgerError], int] = {
    errors.InvalidInput: 3,
    errors.NotFound: 4,
    errors.NoFaceFound: 5,
    errors.PolicyDenied: 6,
    errors.Conflict: 7,
    errors.LedgerTampered: 8,
    errors.ModelMismatch: 9,
    errors.EngineUnavailable: 10,
    errors.KeyProblem: 11,
    errors.Busy: 12,
}
GENERIC_EXIT_CODE = 1
# `ledger verify` found nothing wrong but could not check everything (no key, no anchor, an unsigned tail):
# never the 0 of "verified", and not the 8 of "tampered".
LEDGER_UNVERIFIABLE_EXIT_CODE = 20
INTERRUPTED_EXIT_CODE = 130


def exit_code_for(exc: errors.FaceledgerError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return GENERIC_EXIT_CODE


def one_line(message: str) -> str:
    return " ".join(message.split())


def fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(f"faceledger: error: {one_line(message)}\n")
    return typer.Exit(code)


def in_cli_words(exc: errors.FaceledgerError, command: Callable[..., Any]) -> str:
    """The message, led by the command's option or argument that `exc.field` names (the command's parameter
    of that name), so the user reads the flag they typed."""
    words = _param_words(command).get(exc.field or "")
    return f"{words}: {exc}" if words else str(exc)


def _param_words(command: Callable[..., Any]) -> dict[str, str]:
    """Each parameter of a Typer command as the command line spells it: its long option, or the argument's
    name in capitals."""
    words: dict[str, str] = {}
    try:
        hints = typing.get_type_hints(command, include_extras=True)
    except (NameError, TypeError):  # an annotation that does not resolve: the message alone
        return words
    for name, hint in hints.items():
        for info in getattr(hint, "__metadata__", ()):
            if isinstance(info, typer.models.ArgumentInfo):
                words[name] = name.upper()
            elif isinstance(info, typer.models.OptionInfo):
                default = [info.default] if isinstance(info.default, str) else []
                flags = [flag for flag in (*default, *(info.param_decls or ())) if flag.startswith("-")]
                long = [flag for flag in flags if flag.startswith("--")]
                words[name] = (long or flags or ["--" + name.replace("_", "-")])[0]
    return words


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn faceledger errors, bad configuration and Ctrl-C into one stderr line and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except errors.FaceledgerError as exc:
            raise fail(in_cli_words(exc, command), exit_code_for(exc)) from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
            raise fail(f"invalid configuration: {problems}", EXIT_CODES[errors.InvalidInput]) from None
        except KeyboardInterrupt:
            raise fail("interrupted", INTERRUPTED_EXIT_CODE) from None

    return wrapper
