"""An in-memory `Source` (a fake of our own seam, not a mock): objects by URL, faults."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from uploader.sources.base import Body, SourceIdentity, SourceObject
from uploader.sources.errors import SourceNotFoundError, TransientSourceError


@dataclass
class MemorySource:
    """Serves `objects` in chunks of `chunk_bytes`, yielding to the loop between chunks.

    `declare` picks which hashes `stat` declares; `break_at` makes a body fail with a
    TransientSourceError at that byte; `open_bytes` sums the sizes of bodies open now
    (`peak_open_bytes`: the most at once), counted by the source, not the spool.
    """

    objects: dict[str, bytes] = field(default_factory=dict)
    chunk_bytes: int = 64 * 1024
    declare: tuple[str, ...] = ()
    break_at: int | None = None
    opens: int = 0
    open_bytes: int = 0
    peak_open_bytes: int = 0

    async def stat(self, url: str) -> SourceObject:
        data = self.objects.get(url)
        if data is None:
            raise SourceNotFoundError(url, "404 Not Found")
        sha256 = hashlib.sha256(data).hexdigest() if "sha256" in self.declare else None
        sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        return SourceObject(
            url, len(data), sha256, sha1 if "sha1" in self.declare else None, SourceIdentity()
        )

    async def open(self, obj: SourceObject, *, start_byte: int = 0) -> Body:
        self.opens += 1
        return Body(
            obj, _Chunks(self, self.objects[obj.url][start_byte:], obj), start_byte=start_byte
        )


@dataclass
class _Chunks:
    source: MemorySource
    data: bytes
    obj: SourceObject
    closed: bool = False

    def __post_init__(self) -> None:
        self.source.open_bytes += self.obj.size_bytes
        self.source.peak_open_bytes = max(self.source.peak_open_bytes, self.source.open_bytes)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        step = self.source.chunk_bytes
        for start in range(0, len(self.data), step):
            if self.source.break_at is not None and start >= self.source.break_at:
                raise TransientSourceError(self.obj.url, "connection reset (fake)")
            await asyncio.sleep(0)
            yield self.data[start : start + step]

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self.source.open_bytes -= self.obj.size_bytes
