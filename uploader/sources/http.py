"""Assets over HTTP(S), through aiohttp: Artifactory, Nexus, any web server.

- Credentials: configured headers (`HttpSettings.headers`, a value `env:NAME` read from
  the environment, so a token is never on a command line), else a URL's user-info, else
  the host's `~/.netrc` entry (`$NETRC` names another file), as curl does. They go to the
  URL's own origin (scheme, host, port) only: redirects are followed here, one hop at a
  time, and once a hop leaves the origin no hop carries a credential (Artifactory
  redirects downloads to presigned S3 URLs, which would also refuse a second auth).
- Redirects: at most `max_redirects` (5); never to a scheme other than http(s), and to
  `http://` only when `allow_http` (as the first URL).
- Time: `connect_timeout_s` to connect, `read_timeout_s` for each read of headers or body;
  a stalled server is a TransientSourceError, never a hang.
- Declared hashes: Artifactory's `X-Checksum-Sha256` and `X-Checksum-Sha1` reply headers.
- Bytes as stored: `Accept-Encoding: identity` and no decompression, so a `.tgz` served
  with `Content-Encoding: gzip` is not unpacked on the way.
- A changed object: `If-Match` with a strong ETag (else `If-Unmodified-Since`), and the
  reply's ETag, Last-Modified and Content-Length compared with the stat's, since many
  servers ignore the conditions.
"""

from __future__ import annotations

import contextlib
import netrc
import os
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import aiohttp
import structlog
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from uploader.errors import InvalidInputError
from uploader.sources.base import CHUNK_BYTES, Body, SourceIdentity, SourceObject
from uploader.sources.errors import (
    PermanentSourceError,
    SourceChangedError,
    SourceDeniedError,
    SourceError,
    SourceNotFoundError,
    TransientSourceError,
    redacted,
)

log = structlog.get_logger(__name__)

MAX_REDIRECTS: Final = 5
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
NO_HEAD_STATUSES: Final = frozenset({405, 501})  # HEAD refused: ask by GET
ENV_PREFIX: Final = "env:"
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_SHA1: Final = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HttpSettings:
    """How HTTP(S) sources are read.

    Args:
        headers: sent to each asset URL's own origin; a value `env:NAME` is the variable's.
        allow_http: whether `http://` URLs (and redirects to them) are read at all.
        netrc_path: the netrc file; None means `$NETRC`, else `~/.netrc` if it exists.
        connect_timeout_s: to open a connection.
        read_timeout_s: for each read (headers, every body chunk).
        max_redirects: hops followed before the asset fails.
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    allow_http: bool = False
    netrc_path: Path | None = None
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    max_redirects: int = MAX_REDIRECTS


def resolve_headers(headers: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The headers to send, with each `env:NAME` value read from `environ`.

    Raises InvalidInputError naming the header and the variable (never a value).
    """
    return {name: _header_value(name, value, environ) for name, value in headers.items()}


def _header_value(name: str, value: str, environ: Mapping[str, str]) -> str:
    if not value.startswith(ENV_PREFIX):
        return value
    variable = value.removeprefix(ENV_PREFIX)
    if variable not in environ:
        raise InvalidInputError(f"source header {name}: ${variable} is not set")
    return environ[variable]


def load_netrc(path: Path | None, environ: Mapping[str, str]) -> netrc.netrc | None:
    """The netrc file's entries, or None when there is no file to read."""
    if path is None:
        named = environ.get("NETRC")
        path = Path(named) if named else Path.home() / ".netrc"
        if not path.is_file():
            return None
    try:
        return netrc.netrc(str(path))
    except (OSError, netrc.NetrcParseError) as error:
        # The parse error's text may quote the file; name the file and the line only.
        line = getattr(error, "lineno", None)
        raise InvalidInputError(f"{path}: cannot read netrc (line {line})") from error


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    return (url.scheme, url.host, url.port)


def _status_error(url: str, status: int, reason: str) -> SourceError:
    """The error of a reply with `status` to a read of `url`."""
    text = f"{status} {reason}".strip()
    if status in (404, 410):
        return SourceNotFoundError(url, text, code="NotFound", status=status)
    if status in (401, 403):
        return SourceDeniedError(url, text, code="Denied", status=status)
    if status == 412:
        return SourceChangedError(url, f"{text}: the object changed", status=status)
    if status in (408, 429) or status >= 500:
        return TransientSourceError(url, text, code="ServerError", status=status)
    return PermanentSourceError(url, text, code="Refused", status=status)


@contextlib.contextmanager
def _translated(url: str) -> Iterator[None]:
    """aiohttp's and the clock's errors as ours; the message names no header or query."""
    try:
        yield
    except SourceError:
        raise
    except aiohttp.InvalidURL as error:
        raise PermanentSourceError(url, "invalid URL", code="InvalidURL") from error
    except aiohttp.ClientSSLError as error:
        raise PermanentSourceError(url, f"TLS failed ({type(error).__name__})") from error
    except (aiohttp.ClientError, TimeoutError, ConnectionError) as error:
        cause = error.strerror if isinstance(error, OSError) and error.strerror else ""
        kind = "timed out" if isinstance(error, TimeoutError) else "connection failed"
        detail = f"{type(error).__name__}{': ' + cause if cause else ''}"
        raise TransientSourceError(url, f"{kind} ({detail})", code=type(error).__name__) from error


def _declared(headers: CIMultiDictProxy[str], name: str, pattern: re.Pattern[str]) -> str | None:
    value = headers.get(name, "").strip().lower()
    return value if pattern.fullmatch(value) else None


def _identity(headers: CIMultiDictProxy[str]) -> SourceIdentity:
    return SourceIdentity(etag=headers.get("ETag"), last_modified=headers.get("Last-Modified"))


class _ReplyStream:
    """The chunks of one reply's body; closing it drops an unfinished connection."""

    def __init__(self, url: str, reply: aiohttp.ClientResponse) -> None:
        self._url = url
        self._reply = reply

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _translated(self._url):
            async for chunk in self._reply.content.iter_chunked(CHUNK_BYTES):
                yield chunk

    async def aclose(self) -> None:
        if self._reply.content.at_eof():
            self._reply.release()
        else:
            self._reply.close()


class HttpSource:
    """Reads `http(s)://` assets: `stat` by HEAD, `open` by a conditional GET.

    Use as `async with HttpSource(settings) as source: ...`.

    Args:
        settings: credentials, timeouts, redirects.
        environ: where `env:NAME` header values and `$NETRC` are read.
    """

    def __init__(
        self, settings: HttpSettings | None = None, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings or HttpSettings()
        environ = os.environ if environ is None else environ
        self._headers = resolve_headers(self.settings.headers, environ)
        self._netrc = load_netrc(self.settings.netrc_path, environ)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        # The header names, never their values.
        return (
            f"HttpSource(headers={sorted(self._headers)}, netrc={self._netrc is not None},"
            f" allow_http={self.settings.allow_http})"
        )

    async def __aenter__(self) -> Self:
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.settings.connect_timeout_s,
            sock_read=self.settings.read_timeout_s,
        )
        self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def stat(self, url: str) -> SourceObject:
        """HEAD the URL: its length, ETag, Last-Modified and the X-Checksum headers; a
        server that refuses HEAD (405, 501) is asked by GET, its body left unread."""
        try:
            reply = await self._request("HEAD", url, {})
        except PermanentSourceError as error:
            if error.status not in NO_HEAD_STATUSES:
                raise
            reply = await self._request("GET", url, {})
        try:
            headers = reply.headers
            length = headers.get("Content-Length", "")
            if not length.isdigit():
                raise PermanentSourceError(url, "the reply has no Content-Length", code="NoSize")
            return SourceObject(
                url=url,
                size_bytes=int(length),
                sha256=_declared(headers, "X-Checksum-Sha256", _SHA256),
                sha1=_declared(headers, "X-Checksum-Sha1", _SHA1),
                identity=_identity(headers),
            )
        finally:
            reply.close()  # a GET's body is not wanted: drop it with its connection

    async def open(self, obj: SourceObject, *, start_byte: int = 0) -> Body:
        """GET the object (from `start_byte`, by Range), on condition it is still the one
        `obj` describes."""
        conditions = _conditions(obj.identity)
        if start_byte:
            conditions["Range"] = f"bytes={start_byte}-"
        reply = await self._request("GET", obj.url, conditions)
        try:
            _check_unchanged(obj, reply, start_byte)
        except BaseException:
            reply.close()
            raise
        return Body(obj, _ReplyStream(obj.url, reply), start_byte=start_byte)

    async def _request(
        self, method: str, url: str, extra: Mapping[str, str]
    ) -> aiohttp.ClientResponse:
        """The final reply to `method url` after redirects, its status a success."""
        given = URL(url)
        current = given.with_user(None)
        credentials = self._credentials(given)
        for _ in range(self.settings.max_redirects + 1):
            self._check_scheme(url, current)
            # Once a redirect leaves the URL's origin, no hop carries a credential.
            if _origin(current) != _origin(given):
                credentials = {}
            headers = CIMultiDict(extra, **{"Accept-Encoding": "identity"}, **credentials)
            reply = await self._send(url, method, current, headers)
            if reply.status not in REDIRECT_STATUSES:
                if reply.status >= 300:
                    reply.release()
                    raise _status_error(url, reply.status, reply.reason or "")
                return reply
            current = self._next_hop(url, current, reply)
        raise PermanentSourceError(
            url, f"more than {self.settings.max_redirects} redirects", code="TooManyRedirects"
        )

    async def _send(
        self, url: str, method: str, target: URL, headers: CIMultiDict[str]
    ) -> aiohttp.ClientResponse:
        if self._session is None:
            raise RuntimeError("HttpSource used outside `async with`")
        with _translated(url):
            return await self._session.request(
                method, target, headers=headers, allow_redirects=False
            )

    def _next_hop(self, url: str, current: URL, reply: aiohttp.ClientResponse) -> URL:
        location = reply.headers.get("Location")
        reply.release()
        if not location:
            raise PermanentSourceError(url, f"{reply.status} redirect without a Location")
        hop = current.join(URL(location))
        log.debug("source redirect", url=redacted(url), to=redacted(str(hop)))
        return hop

    def _check_scheme(self, url: str, target: URL) -> None:
        if target.scheme == "https" or (target.scheme == "http" and self.settings.allow_http):
            return
        where = "" if target == URL(url) else f" (redirected to {redacted(str(target))})"
        if target.scheme == "http":
            raise PermanentSourceError(
                url, f"http:// is not allowed without --allow-http{where}", code="Insecure"
            )
        raise PermanentSourceError(url, f"scheme {target.scheme!r} refused{where}", code="Scheme")

    def _credentials(self, target: URL) -> dict[str, str]:
        """The configured headers; else the URL's user-info, else the host's netrc entry,
        as Basic auth."""
        if self._headers:
            return dict(self._headers)
        if target.user is not None:
            return {"Authorization": aiohttp.encode_basic_auth(target.user, target.password or "")}
        entry = None if self._netrc is None else self._netrc.authenticators(target.host or "")
        if entry is None:
            return {}
        login, _, password = entry
        return {"Authorization": aiohttp.encode_basic_auth(login, password or "")}


def _conditions(identity: SourceIdentity) -> dict[str, str]:
    """Headers that make a server refuse (412) another object than the one stat'ed."""
    if identity.etag and not identity.etag.startswith("W/"):
        return {"If-Match": identity.etag}
    if identity.last_modified:
        return {"If-Unmodified-Since": identity.last_modified}
    return {}


def _check_unchanged(obj: SourceObject, reply: aiohttp.ClientResponse, start_byte: int) -> None:
    """SourceChangedError unless the reply is the object stat'ed: many servers ignore
    If-Match, so the ETag, Last-Modified and length are compared here too."""
    if start_byte and reply.status != 206:
        raise PermanentSourceError(obj.url, "the server ignores Range", code="NoRange")
    now = _identity(reply.headers)
    then = obj.identity
    length = reply.headers.get("Content-Length")
    if length is not None and length.isdigit():
        length = str(int(length) + start_byte)
    differences = [
        what
        for what, before, after in (
            ("ETag", then.etag, now.etag),
            ("Last-Modified", then.last_modified, now.last_modified),
            ("length", str(obj.size_bytes), length),
        )
        if before is not None and after is not None and before != after
    ]
    if differences:
        raise SourceChangedError(
            obj.url, f"changed since stat ({', '.join(differences)})", code="Changed"
        )
