"""A source's body as the blocking file object `CodeArtifactClient.publish` takes today.

With a declared SHA-256 an asset streams from its source to PublishPackageVersion in one
pass: botocore signs with `assetSHA256` (the `x-amz-content-sha256` header) and never
reads the body to hash it, and aiohttp reads a file body (`IOBasePayload`) in its
executor, one 64 KiB read at a time. `BlockingBody` is that file: each read, made in an
executor thread, waits for the next chunk that the event loop reads from the source.
Memory is one source chunk (`CHUNK_BYTES`) per asset in flight, whatever the size.
`publish_body(body)` gives it as the `BinaryIO` that `publish(body=...)` is typed with.

- `len()` is the length to send (botocore's Content-Length); it is not seekable, so a
  retry opens the source again (`Source.open`, which checks the object is unchanged).
- A read on the loop's own thread would wait for the loop forever: it raises instead.
- A source error inside a read (a reset, a changed object) reaches publish under
  aiohttp's and botocore's wrappers; `codeartifact.translated` finds our error within
  them, so the attempt ends with that error, retried or not by its category.
- `close()` (publish closes its body) releases the source's connection, from any thread.
- The bytes handed out are hashed on the way (in the reading thread): `sent_sha256` is
  their SHA-256 once the whole body was read, so a declared hash the service refused
  can be named beside the hash of what was sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import io
from collections.abc import AsyncGenerator
from typing import Final

from uploader.sources.base import Body
from uploader.sources.errors import TransientSourceError

CHUNK_WAIT_S: Final = 300.0  # a read waits this long for the loop (the source has its own)


class BlockingBody(io.RawIOBase):
    """`body` as a blocking, read-once file of exactly its remaining length.

    Args:
        body: an opened source body; closed with this file.
        loop: the loop `body` belongs to (the running one when built there).
        chunk_wait_s: the most a read waits for the next chunk.
    """

    def __init__(
        self,
        body: Body,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        chunk_wait_s: float = CHUNK_WAIT_S,
    ) -> None:
        super().__init__()
        self._body = body
        self._loop = loop or asyncio.get_running_loop()
        self._chunks: AsyncGenerator[bytes, None] = body.chunks()
        self._pending = memoryview(b"")
        self._length = body.obj.size_bytes - body.position
        self._chunk_wait_s = chunk_wait_s
        self._closing: set[asyncio.Task[None]] = set()
        self._sha256 = hashlib.sha256()
        self._handed_out = 0

    @property
    def sent_sha256(self) -> str | None:
        """The SHA-256 of the bytes read, once they are the whole body; else None."""
        return self._sha256.hexdigest() if self._handed_out == self._length else None

    def __repr__(self) -> str:
        return f"<BlockingBody {self._body!r}>"

    def __len__(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill `buffer` from the current chunk, waiting for the next one when it is used up."""
        if not self._pending:
            chunk = self._next_chunk()
            self._sha256.update(chunk)
            self._handed_out += len(chunk)
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        memoryview(buffer)[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _next_chunk(self) -> bytes:
        if self._on_loop_thread():
            raise RuntimeError("BlockingBody read on its event loop's thread: it would hang")
        future = asyncio.run_coroutine_threadsafe(self._anext(), self._loop)
        try:
            return future.result(self._chunk_wait_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TransientSourceError(
                self._body.obj.url, f"no body chunk for {self._chunk_wait_s:g} s", code="Stalled"
            ) from None

    async def _anext(self) -> bytes:
        return await anext(self._chunks, b"")

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def close(self) -> None:
        """Release the source's connection (scheduled on its loop; waited for off it)."""
        if self.closed:
            return
        super().close()
        if self._loop.is_closed():
            return
        if self._on_loop_thread():
            task = self._loop.create_task(self._release())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        else:
            future = asyncio.run_coroutine_threadsafe(self._release(), self._loop)
            future.result(self._chunk_wait_s)

    async def _release(self) -> None:
        with contextlib.suppress(RuntimeError):  # a read still running: the body ends it
            await self._chunks.aclose()
        await self._body.aclose()


class StreamedBody(io.BufferedReader):
    """A buffered BlockingBody that keeps its length (botocore's Content-Length)."""

    def __init__(self, raw: BlockingBody) -> None:
        super().__init__(raw)
        self._raw = raw
        self._length = len(raw)

    def __len__(self) -> int:
        return self._length

    @property
    def sent_sha256(self) -> str | None:
        """The SHA-256 of what was sent, once the whole body was (`BlockingBody`)."""
        return self._raw.sent_sha256


def publish_body(body: Body, loop: asyncio.AbstractEventLoop | None = None) -> StreamedBody:
    """`body` as the file `CodeArtifactClient.publish` takes: read once, from a thread, its
    length known; publish closes it, which releases the source's connection."""
    return StreamedBody(BlockingBody(body, loop))
