"""Every error uploader raises, and the exit code each category maps to.

    UploaderError                      base; never raised itself
    ├── InvalidInputError      exit 2  bad manifest, file, name, hash or flag
    ├── Interrupted          exit 130  the run is stopping (a signal): nothing new starts
    ├── RemoteError                    the service said no (translated in codeartifact.py)
    │   ├── RetryableRemoteError       throttling, 5xx, connection drops, timeouts
    │   │   │                          (`reason`: which of them, a RetryReason)
    │   │   └── ThrottledError         429; carries the server's Retry-After
    │   ├── ConflictError              the asset or version exists in another state
    │   ├── RejectedError              validation, quota, a package's origin controls:
    │   │                              this item fails, the run goes on
    │   └── FatalRemoteError   exit 3  no credentials, access denied, domain/repo not found
    └── JournalError           exit 3  the resume journal cannot be read or written

A `RemoteError` that came from a request names it: `operation` is the CodeArtifact
operation (`PublishPackageVersion`), set where the request was made (codeartifact.py).

Every command returns an `Outcome`; `exit_code` is the one place an outcome, or an error
that ended a command, becomes the process's exit code (README.md, "Exit codes").
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from enum import Enum, IntEnum, StrEnum
from typing import Final


class ExitCode(IntEnum):
    """The documented exit codes of every `uploader` command."""

    OK = 0
    SOME_FAILED = 1
    BAD_INPUT = 2
    CANNOT_START = 3
    DURATION_EXCEEDED = 4
    INTERRUPTED = 130
    # A reader that went away (`uploader verify ... | head -2`): end as a process killed
    # by SIGPIPE would, 128 + 13, which is what shells report for `yes | head -1` too.
    BROKEN_PIPE = 128 + signal.SIGPIPE


class Outcome(Enum):
    """How a command ended, whatever the command."""

    DONE = "done"  # everything asked for is done (verify: no difference)
    SOME_FAILED = "some failed"  # some versions failed or differ; the rest are done
    BAD_INPUT = "bad input"  # nothing could be tried as given
    CANNOT_START = "cannot start"  # credentials, the target, a local file we must write
    OUT_OF_TIME = "out of time"  # --max-duration: drained as on a signal, the rest pending
    INTERRUPTED = "interrupted"  # a signal: what was in flight drained, the rest pending
    BROKEN_PIPE = "broken pipe"  # stdout was closed by its reader


EXIT_CODES: Final[Mapping[Outcome, ExitCode]] = {
    Outcome.DONE: ExitCode.OK,
    Outcome.SOME_FAILED: ExitCode.SOME_FAILED,
    Outcome.BAD_INPUT: ExitCode.BAD_INPUT,
    Outcome.CANNOT_START: ExitCode.CANNOT_START,
    Outcome.OUT_OF_TIME: ExitCode.DURATION_EXCEEDED,
    Outcome.INTERRUPTED: ExitCode.INTERRUPTED,
    Outcome.BROKEN_PIPE: ExitCode.BROKEN_PIPE,
}


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
        self.operation = ""  # the request's operation, once codeartifact.py names it


class RetryReason(StrEnum):
    """Why a transient failure happened: the `reason` of a retry, in metrics and logs."""

    THROTTLED = "throttled"  # the service asked us to slow down (429)
    SERVER_ERROR = "server_error"  # a 5xx reply
    CONNECTION = "connection"  # refused, reset or dropped on the way
    TIMEOUT = "timeout"  # no whole reply within the attempt's deadline
    OTHER = "other"  # a reply we cannot use (too long, unconfirmed), a file that changed


class RetryableRemoteError(RemoteError):
    """A transient failure: the same request may succeed later; `reason` says which kind."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        reason: RetryReason = RetryReason.OTHER,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.reason = reason


class ThrottledError(RetryableRemoteError):
    """The service asked us to slow down; `retry_after_s` is its floor for the next try."""

    def __init__(
        self, message: str, *, retry_after_s: float | None = None, status: int | None = 429
    ) -> None:
        super().__init__(
            message, code="ThrottlingException", status=status, reason=RetryReason.THROTTLED
        )
        self.retry_after_s = retry_after_s


class ConflictError(RemoteError):
    """The resource exists in a state that conflicts with the request."""


class RejectedError(RemoteError):
    """The request can never succeed as sent (validation, quota exceeded)."""


class FatalRemoteError(RemoteError):
    """Nothing further can succeed: credentials, access, or the target is missing."""


class JournalError(UploaderError):
    """The resume journal is unusable."""


def outcome_of(error: BaseException) -> Outcome:
    """The outcome of a command that an error ended, by the error's category."""
    if isinstance(error, InvalidInputError):
        return Outcome.BAD_INPUT
    if isinstance(error, FatalRemoteError | JournalError):
        return Outcome.CANNOT_START
    if isinstance(error, KeyboardInterrupt | Interrupted):
        return Outcome.INTERRUPTED
    if isinstance(error, BrokenPipeError):
        return Outcome.BROKEN_PIPE
    return Outcome.SOME_FAILED


def exit_code(ended: Outcome | BaseException) -> ExitCode:
    """The exit code of a command that ended so: the one mapping, for every command."""
    return EXIT_CODES[ended if isinstance(ended, Outcome) else outcome_of(ended)]
