"""What a source of remote assets is: `stat` an object, then `open` it, as often as needed.

    obj = await source.stat(url)             # size, declared hashes, identity; no body
    async with await source.open(obj) as body:
        async for chunk in body: ...          # exactly obj.size_bytes bytes, or an error

`stat` says what the store declares: the size, a SHA-256 and a SHA-1 when the store
holds them for the whole object, and the object's identity (ETag, versionId,
Last-Modified). The identity is what the hash cache and the journal key a remote asset
by (`SourceObject.cache_key`): an unchanged object on a rerun needs no byte read.

`open` reads the body of *that* object: every open (the first, and each retry's) is
conditional on the identity (S3 `IfMatch` + `VersionId`, HTTP `If-Match`, then the reply's
ETag, Last-Modified and length compared), so a retry never sends bytes of a newer object
under the older hash: a changed object is a `SourceChangedError`, not retried. A body
that ends early is a `TransientSourceError` (the connection was reset mid-body); one
that runs past the size is a `SourceChangedError`. Memory: one chunk at a time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Protocol, Self

from uploader.sources.errors import SourceChangedError, TransientSourceError, redacted

CHUNK_BYTES: Final = 1024 * 1024  # one read from a source's body


@dataclass(frozen=True)
class SourceIdentity:
    """Which object a URL named when it was stat'ed: what the store offers of these.

    `etag` is kept exactly as the store sent it (quotes included), to send back in
    `If-Match`; `version_id` is S3's; `last_modified` the store's own text or ISO time.
    """

    etag: str | None = None
    version_id: str | None = None
    last_modified: str | None = None

    def __str__(self) -> str:
        parts = (
            f"etag={self.etag}" if self.etag else "",
            f"version={self.version_id}" if self.version_id else "",
            f"modified={self.last_modified}" if self.last_modified else "",
        )
        return " ".join(p for p in parts if p) or "no identity"


@dataclass(frozen=True)
class SourceObject:
    """One remote object as its store describes it, before a byte of it is read.

    Args:
        url: the asset's URL as the manifest gives it.
        size_bytes: the length of the body.
        sha256: the SHA-256 the store holds for the whole object (hex), or None.
        sha1: the SHA-1 the store declares (hex), or None: a download is checked against it.
        identity: what an `open` must find unchanged.
    """

    url: str
    size_bytes: int
    sha256: str | None
    sha1: str | None
    identity: SourceIdentity

    @property
    def cache_key(self) -> str:
        """The key of this object's hash in the hash cache and the journal: the URL, the
        size and the identity; any change of the object gives another key."""
        return f"{self.url}\n{self.size_bytes}\n{self.identity}"

    def __repr__(self) -> str:
        return (
            f"SourceObject({redacted(self.url)!r}, {self.size_bytes} bytes,"
            f" sha256={self.sha256}, sha1={self.sha1}, {self.identity})"
        )


class BodyStream(Protocol):
    """An opened body: yields chunks (at most `CHUNK_BYTES`), closes its connection."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None:
        """Release the connection; safe to call twice, and after an error."""
        ...


class Source(Protocol):
    """A store of remote assets (S3, HTTP): what the pipeline reads an asset through."""

    async def stat(self, url: str) -> SourceObject:
        """What the store declares about `url`, reading no body.

        Raises SourceNotFoundError, SourceDeniedError, TransientSourceError or
        FatalSourceError.
        """
        ...

    async def open(self, obj: SourceObject, *, start_byte: int = 0) -> Body:
        """The body of exactly the object `obj` describes, from `start_byte` to its end
        (a spool picks a broken download up where it stopped), opened for one read through.

        Raises SourceChangedError if the store now holds another object at that URL, or
        what `stat` raises; the returned body raises TransientSourceError if it ends early.
        """
        ...


class Body:
    """The body of one opened object: its chunks, checked to be exactly `obj.size_bytes`.

    Use as `async with await source.open(obj) as body: async for chunk in body: ...`.
    Hashes are not checked here: with a declared SHA-256 the service checks the bytes it
    receives; without one, the spool hashes them while it writes.

    Args:
        obj: what was opened.
        stream: the store's chunks.
        start_byte: where in the object the stream starts.
    """

    def __init__(self, obj: SourceObject, stream: BodyStream, *, start_byte: int = 0) -> None:
        self.obj = obj
        self._stream = stream
        self.position = start_byte  # the object's offset of the next byte

    def __repr__(self) -> str:
        return f"<Body {redacted(self.obj.url)} at {self.position}/{self.obj.size_bytes}>"

    def __aiter__(self) -> AsyncGenerator[bytes, None]:
        return self.chunks()

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body's chunks; the last one is followed by the length check."""
        size = self.obj.size_bytes
        async for chunk in self._stream:
            self.position += len(chunk)
            if self.position > size:
                raise SourceChangedError(
                    self.obj.url, f"body is longer than the {size} bytes stat'ed", code="Longer"
                )
            yield chunk
        if self.position < size:
            raise TransientSourceError(
                self.obj.url, f"body ended at byte {self.position} of {size}", code="ShortBody"
            )

    async def aclose(self) -> None:
        """Release the connection."""
        await self._stream.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
