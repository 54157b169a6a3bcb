"""What reading a remote asset can raise, inside uploader's own categories.

    SourceError                       (an UploaderError; carries the redacted `url`)
    ├── TransientSourceError          a RetryableRemoteError: 5xx, 429, S3 SlowDown,
    │                                 resets and short bodies, timeouts; tried again
    ├── PermanentSourceError          a RejectedError: that asset (its version) fails
    │   ├── SourceNotFoundError       404 / 410 / NoSuchKey
    │   ├── SourceDeniedError         401 / 403 / AccessDenied
    │   ├── SourceChangedError        the object is no longer the one stat'ed (412, ETag,
    │   │                             versionId, size): never retried, the hash is stale
    │   └── SourceHashMismatchError   the bytes' hash is not the one declared
    └── FatalSourceError              a FatalRemoteError (exit 3): no S3 credentials at all,
                                      an unknown profile; nothing from that store can work

Each category is a subclass of the one in `uploader.errors` that the retry policy
(retry.py) and `exit_code` already know, so wiring a source in changes neither. Every
message starts `source: <url>: ` with the URL redacted (`redacted`): no user-info, no query
but `versionId` (a presigned redirect's signature is a credential). No message carries a
header value, a key or a password: the sources never put one in.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit, urlunsplit

from uploader.errors import (
    FatalRemoteError,
    RejectedError,
    RemoteError,
    RetryableRemoteError,
    RetryReason,
)

SAFE_QUERY_KEYS = frozenset({"versionId"})


def redacted(url: str) -> str:
    """`url` as it may be shown: without user-info, and with any query but `versionId`
    replaced by `…` (query strings of presigned URLs and download tokens are secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    query = parts.query
    if query and any(key not in SAFE_QUERY_KEYS for key, _ in parse_qsl(query, True)):
        query = "…"
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


class SourceError(RemoteError):
    """Reading an asset from its source failed.

    Args:
        url: the asset's URL (redacted here, before it is stored or shown).
        reason: what went wrong, one line, without credentials.
        code: the store's error code or a transport name.
        status: the HTTP status, when there was a reply.
    """

    def __init__(self, url: str, reason: str, *, code: str = "", status: int | None = None):
        self.url = redacted(url)
        self.why = reason  # not `reason`: RetryableRemoteError's is the retry's kind
        super().__init__(f"source: {self.url}: {reason}", code=code, status=status)


class TransientSourceError(SourceError, RetryableRemoteError):
    """The same read may succeed later: open the object again (it is checked unchanged)."""

    reason: RetryReason = RetryReason.OTHER  # the retry's kind, for metrics


class PermanentSourceError(SourceError, RejectedError):
    """The read can never succeed as asked: the asset fails, the run goes on."""


class SourceNotFoundError(PermanentSourceError):
    """The store has no such object (404, 410, NoSuchKey)."""


class SourceDeniedError(PermanentSourceError):
    """The store refused our credentials for this object (401, 403)."""


class SourceChangedError(PermanentSourceError):
    """The object changed since it was stat'ed: its size or hash may no longer hold."""


class SourceHashMismatchError(PermanentSourceError):
    """The bytes read do not have the hash the source or the manifest declared."""

    def __init__(self, url: str, algorithm: str, declared: str, actual: str) -> None:
        super().__init__(
            url, f"{algorithm} declared {declared}, the bytes' is {actual}", code="HashMismatch"
        )
        self.declared = declared
        self.actual = actual


class FatalSourceError(SourceError, FatalRemoteError):
    """No read from this store can work (no credentials, unknown profile): exit 3."""
