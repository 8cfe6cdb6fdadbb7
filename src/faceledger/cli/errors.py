"""The one place where errors become exit codes and one line on stderr: no tracebacks for user errors."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
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


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn faceledger errors, bad configuration and Ctrl-C into one stderr line and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except errors.FaceledgerError as exc:
            raise fail(str(exc), exit_code_for(exc)) from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
            raise fail(f"invalid configuration: {problems}", EXIT_CODES[errors.InvalidInput]) from None
        except KeyboardInterrupt:
            raise fail("interrupted", INTERRUPTED_EXIT_CODE) from None

    return wrapper
