"""The one error tree. Every error a user can cause is a FaceledgerError with a message that names
what was wrong; entry points map the classes to exit codes (CLI) or HTTP statuses (API) in one place."""

from __future__ import annotations


class FaceledgerError(Exception):
    """Root of every error faceledger raises on purpose. `field`, where one input was wrong, names it in the
    service's own terms (its parameter, e.g. "legal_basis"); each entry point says it in its own words: the
    CLI its option (--legal-basis), a page its form label, the API the field in the error's details. The
    message itself names no entry point's words."""

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidInput(FaceledgerError):
    """The input (a file, a field, an option) is unusable; the message says which and why."""


class NoFaceFound(FaceledgerError):
    """An image that had to hold a face holds none that can be used."""


class NotFound(FaceledgerError):
    """A named thing (a file, a record) does not exist."""


class Conflict(FaceledgerError):
    """The request clashes with what is already stored."""


class PolicyDenied(FaceledgerError):
    """Policy refused the action; the refusal itself is recorded."""


class LedgerTampered(FaceledgerError):
    """The ledger's hash chain does not verify."""


class KeyProblem(FaceledgerError):
    """A secret key is missing, damaged, readable by others, or kept inside the data directory."""


class ModelMismatch(FaceledgerError):
    """Embeddings or calibration tables of different models were about to be mixed."""


class EngineUnavailable(FaceledgerError):
    """A face model could not be loaded (missing package or damaged weights file)."""


class NotAuthenticated(PolicyDenied):
    """No credentials, or credentials that are unknown, revoked or belong to a disabled user."""


class TooLarge(InvalidInput):
    """An upload is over the size or pixel limit."""


class UnsupportedMedia(InvalidInput):
    """An upload is not an image (judged by its content, not its name)."""


class NotIngestable(InvalidInput):
    """An ingest input that is missing or outside the configured ingest roots (one message for both)."""


class TooManyAttempts(NotAuthenticated):
    """Too many failed sign-ins for an account or from one address: locked out for a while."""


class WorkLimitExceeded(TooLarge):
    """An analysis went over a work budget (time, memory, pixels, frames); the message names the budget."""


class Busy(FaceledgerError):
    """Too many analyses are running; try again in `retry_after_s` seconds."""

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)  # no field: nothing the caller gave was wrong
        self.retry_after_s = retry_after_s


class ModelNotEnabled(ModelMismatch):
    """A search needs a model the gallery has not embedded or enabled (`faceledger models`)."""
