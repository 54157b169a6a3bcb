"""The guarded HTTP client of Artifactory and Nexus: credentials, redirects, limits.

Every request a store module makes goes through `GuardedClient.get_json`, which holds
these invariants:

* Credentials are `--source-header`s (bound to the origin given on the command line:
  scheme, host and port) or `~/.netrc`'s entry for the host asked (what curl does).
  They are never logged, never in an error message, and `SourceAuth`'s repr hides them.
* Redirects are followed by hand, at most `MAX_REDIRECTS`; the headers go only to their
  origin (a redirect to another host is followed without them), and a redirect from
  https to http is refused.
* Every request has a timeout (`REQUEST_TIMEOUT`); a reply is read up to
  `MAX_REPLY_BYTES`, then refused; a 5xx, a reset or a timeout is tried again
  (`ATTEMPTS` in all, waits from `RETRY_WAITS_S`, `sleep` injected for tests).
* Failures are `FatalRemoteError("source: URL: 404 Not Found")`: a scan cannot go on
  without its listing (exit 3).
"""

from __future__ import annotations

import asyncio
import base64
import json
import netrc
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

import aiohttp

from uploader.errors import FatalRemoteError, InvalidInputError
from uploader.sources.headers import parse_source_header

__all__ = [
    "GuardedClient",
    "Origin",
    "SourceAuth",
    "load_netrc",
    "open_session",
    "parse_source_header",
]

MAX_REDIRECTS: Final = 5
MAX_REPLY_BYTES: Final = 64 * 1024 * 1024
"""A listing reply this large is refused: one page or one folder, never a whole store."""
REQUEST_TIMEOUT: Final = aiohttp.ClientTimeout(total=300, connect=30, sock_read=120)
ATTEMPTS: Final = 3
RETRY_WAITS_S: Final = (1.0, 4.0)
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES: Final = 64 * 1024

Sleep = Callable[[float], Awaitable[None]]


class Origin(NamedTuple):
    """Scheme, host and port: where a URL's requests go."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of an http(s) URL (the port filled in from the scheme)."""
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        return cls(scheme, (parts.hostname or "").lower(), port)


def load_netrc(path: Path | None = None) -> netrc.netrc | None:
    """The netrc file (default ~/.netrc), or None if there is none.

    A file that cannot be parsed is an InvalidInputError naming its line, not its text
    (the parser's message may quote a password).
    """
    file = path or Path.home() / ".netrc"
    if not file.is_file():
        return None
    try:
        return netrc.netrc(str(file))
    except netrc.NetrcParseError as error:
        raise InvalidInputError(f"cannot read {file} (line {error.lineno})") from None
    except OSError as error:
        raise InvalidInputError(f"cannot read {file}: {error.strerror or error}") from None


@dataclass(frozen=True)
class SourceAuth:
    """The credentials of a store: headers for its origin, and a netrc for any host."""

    origin: Origin
    headers: Sequence[tuple[str, str]] = ()
    netrc_file: netrc.netrc | None = field(default=None)

    def __repr__(self) -> str:
        names = [name for name, _ in self.headers]
        return (
            f"<SourceAuth {self.origin.host} headers={names} netrc={self.netrc_file is not None}>"
        )

    def for_url(self, url: str) -> dict[str, str]:
        """The headers a request to `url` carries: the origin's own, or netrc's basic auth."""
        origin = Origin.of(url)
        headers = dict(self.headers) if origin == self.origin else {}
        if any(name.lower() == "authorization" for name in headers):
            return headers
        basic = self._netrc_auth(origin.host)
        return headers if basic is None else {**headers, "Authorization": basic}

    def _netrc_auth(self, host: str) -> str | None:
        if self.netrc_file is None:
            return None
        entry = self.netrc_file.authenticators(host)
        if entry is None:
            return None
        login, _, password = entry
        pair = f"{login}:{password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def open_session() -> aiohttp.ClientSession:
    """A session that keeps no cookies and reads no proxy or netrc settings of its own."""
    return aiohttp.ClientSession(
        timeout=REQUEST_TIMEOUT, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
    )


class _Retry(Exception):
    """A transient failure of one attempt (5xx, reset, timeout): `str` says which."""


class GuardedClient:
    """GETs of JSON from a store, holding the module's invariants.

    Args:
        session: from `open_session` (closed by its owner).
        auth: the store's credentials.
        sleep: waits between attempts (tests pass a recorder).
        max_reply_bytes: the largest reply read.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth: SourceAuth,
        *,
        sleep: Sleep = asyncio.sleep,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self._session = session
        self._auth = auth
        self._sleep = sleep
        self._max_reply_bytes = max_reply_bytes

    def __repr__(self) -> str:
        return f"<GuardedClient {self._auth!r}>"

    async def get_json(self, url: str) -> object:
        """The JSON reply to GET `url`, tried up to `ATTEMPTS` times on transient failures."""
        for attempt in range(ATTEMPTS):
            try:
                body = await self._get(url)
                break
            except _Retry as error:
                if attempt + 1 == ATTEMPTS:
                    raise FatalRemoteError(f"source: {_shown(url)}: {error}") from None
                await self._sleep(RETRY_WAITS_S[min(attempt, len(RETRY_WAITS_S) - 1)])
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise FatalRemoteError(f"source: {_shown(url)}: the reply is not JSON") from None

    async def _get(self, url: str) -> bytes:
        """One attempt, following redirects; `_Retry` on a transient failure."""
        try:
            for _ in range(MAX_REDIRECTS + 1):
                headers = self._auth.for_url(url)
                async with self._session.get(url, headers=headers, allow_redirects=False) as reply:
                    if reply.status not in _REDIRECTS:
                        return await self._body(url, reply)
                    url = _redirected(url, reply)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as error:
            raise _Retry(type(error).__name__) from error
        raise FatalRemoteError(f"source: {_shown(url)}: more than {MAX_REDIRECTS} redirects")

    async def _body(self, url: str, reply: aiohttp.ClientResponse) -> bytes:
        status = f"{reply.status} {reply.reason or ''}".strip()
        if reply.status >= 500:
            raise _Retry(status)
        if reply.status != 200:
            raise FatalRemoteError(
                f"source: {_shown(url)}: {status}{_hint(reply.status)}", status=reply.status
            )
        declared = reply.content_length
        if declared is not None and declared > self._max_reply_bytes:
            raise self._too_large(url)
        chunks: list[bytes] = []
        size = 0
        async for chunk in reply.content.iter_chunked(_CHUNK_BYTES):
            size += len(chunk)
            if size > self._max_reply_bytes:
                raise self._too_large(url)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, url: str) -> FatalRemoteError:
        return FatalRemoteError(
            f"source: {_shown(url)}: the reply is larger than {self._max_reply_bytes} bytes"
        )


def _redirected(url: str, reply: aiohttp.ClientResponse) -> str:
    """Where a redirect leads; refused without a Location or from https to http."""
    location = reply.headers.get("Location")
    if not location:
        raise FatalRemoteError(f"source: {_shown(url)}: {reply.status} without a Location")
    target = urllib.parse.urljoin(url, location)
    scheme = Origin.of(target).scheme
    if scheme not in ("http", "https") or (Origin.of(url).scheme == "https" and scheme == "http"):
        raise FatalRemoteError(
            f"source: {_shown(url)}: a redirect to {_shown(target)} is not followed"
        )
    return target


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (give credentials in ~/.netrc or with --source-header)"
    return ""


def _shown(url: str) -> str:
    """The URL without any user or password it may hold, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
