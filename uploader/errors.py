"""Every error uploader raises, and the exit code each category maps to.

    UploaderError                      base; never raised itself
    ├── InvalidInputError      exit 2  bad manifest, file, name, hash or flag
    ├── Interrupted          exit 130  the run is stopping (a signal): nothing new starts
    ├── RemoteError                    the service said no (translated in codeartifact.py)
    │   ├── RetryableRemoteError       throttling, 5xx, connection drops, timeouts
    │   │   └── ThrottledError         429; carries the server's Retry-After
    │   ├── ConflictError              the asset or version exists in another state
    │   ├── RejectedError              validation or quota: this item fails, the run goes on
    │   └── FatalRemoteError   exit 3  no credentials, access denied, domain/repo not found
    └── JournalError           exit 3  the resume journal cannot be read or written

Failures of single versions end a run with exit 1; `exit_code_for` maps the rest.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes of every `uploader` command."""

    OK = 0
    SOME_FAILED = 1
    BAD_INPUT = 2
    CANNOT_START = 3
    INTERRUPTED = 130


class UploaderError(Exception):
    """Base class of everything uploader raises on purpose."""


class InvalidInputError(UploaderError):
    """Input that can never succeed as given: fix the manifest, file or flag."""


class Interrupted(UploaderError):
    """The run is stopping: no new request starts; the work is left pending, not failed."""


class RemoteError(UploaderError):
    """The service (or the way to it) refused a request.

    Args:
        message: one line for a person.
        code: the service's error code (`ThrottlingException`, ...) or a transport name.
        status: the HTTP status, when there was a reply.
    """

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class RetryableRemoteError(RemoteError):
    """A transient failure: the same request may succeed later."""


class ThrottledError(RetryableRemoteError):
    """The service asked us to slow down; `retry_after_s` is its floor for the next try."""

    def __init__(
        self, message: str, *, retry_after_s: float | None = None, status: int | None = 429
    ) -> None:
        super().__init__(message, code="ThrottlingException", status=status)
        self.retry_after_s = retry_after_s


class ConflictError(RemoteError):
    """The resource exists in a state that conflicts with the request."""


class RejectedError(RemoteError):
    """The request can never succeed as sent (validation, quota exceeded)."""


class FatalRemoteError(RemoteError):
    """Nothing further can succeed: credentials, access, or the target is missing."""


class JournalError(UploaderError):
    """The resume journal is unusable."""


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code for an error that ends a whole command."""
    if isinstance(error, InvalidInputError):
        return ExitCode.BAD_INPUT
    if isinstance(error, FatalRemoteError | JournalError):
        return ExitCode.CANNOT_START
    if isinstance(error, KeyboardInterrupt | Interrupted):
        return ExitCode.INTERRUPTED
    return ExitCode.SOME_FAILED
