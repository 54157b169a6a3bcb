"""A bounded spool: each asset without a declared SHA-256 downloaded once, hashed as written.

CodeArtifact wants an asset's SHA-256 before its first byte (botocore signs with it), so
an asset whose source declares none must be read whole before it is sent. The spool
reads it once from the source into memory (at most `memory_max_bytes`, 8 MiB by
default) or into a temp file under `spool_dir`, computing its SHA-256 (and its SHA-1
when the source declares one, to check it) on the way; the publish then reads the spool,
as often as it is retried, and the source is not read again.

- Budget: all spooled assets, in memory and on disk, hold at most `budget_bytes`. An
  asset reserves its whole size (known from `stat`) before its first byte is read, and
  gives it back when its `async with` ends; a reservation that does not fit waits, in
  arrival order (a large asset is not starved by a stream of small ones). One larger
  than the budget can never fit: a PermanentSourceError of that asset.
- Off the loop: chunks are gathered to at least `thread_bytes` (1 MiB) and then hashed
  and written in one thread job (hashlib releases the GIL); smaller remainders are
  handled on the loop, where a thread hop would cost more than the work.
- Clean: the temp file is removed when the `async with` ends, on success, error or
  cancellation; a download that fails leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import tempfile
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

from uploader.sources.base import Body, Source, SourceObject
from uploader.sources.errors import PermanentSourceError, SourceHashMismatchError

MEMORY_MAX_BYTES: Final = 8 * 1024 * 1024  # assets up to this size are spooled in memory
THREAD_BYTES: Final = 1024 * 1024  # hash and write batches this large in a thread


class SpoolBudget:
    """Bytes reserved by spooled assets, never more than `limit_bytes`; FIFO waiting.

    Args:
        limit_bytes: the most reserved at once.
    """

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes < 1:
            raise ValueError(f"a spool budget needs at least 1 byte: {limit_bytes=}")
        self.limit_bytes = limit_bytes
        self.in_use_bytes = 0
        self.peak_bytes = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def __repr__(self) -> str:
        return (
            f"SpoolBudget({self.in_use_bytes}/{self.limit_bytes} bytes,"
            f" peak {self.peak_bytes}, {len(self._waiters)} waiting)"
        )

    async def acquire(self, size_bytes: int) -> None:
        """Reserve `size_bytes`, waiting until they fit behind earlier waiters."""
        if size_bytes > self.limit_bytes:
            raise ValueError(f"{size_bytes} bytes can never fit in {self.limit_bytes}")
        if not self._waiters and self._fits(size_bytes):
            self._take(size_bytes)
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (size_bytes, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release(size_bytes)  # granted as we were cancelled: give it back
            else:
                self._waiters.remove(entry)
                self._wake()
            raise

    def release(self, size_bytes: int) -> None:
        """Give back a reservation; wake the waiters that now fit, in order."""
        self.in_use_bytes -= size_bytes
        self._wake()

    def _fits(self, size_bytes: int) -> bool:
        return self.in_use_bytes + size_bytes <= self.limit_bytes

    def _take(self, size_bytes: int) -> None:
        self.in_use_bytes += size_bytes
        self.peak_bytes = max(self.peak_bytes, self.in_use_bytes)

    def _wake(self) -> None:
        while self._waiters and self._fits(self._waiters[0][0]):
            size_bytes, waiter = self._waiters.popleft()
            self._take(size_bytes)
            waiter.set_result(None)


@dataclass
class Spooled:
    """One asset's bytes in the spool, with their SHA-256 (and SHA-1).

    `body()` gives what `CodeArtifactClient.publish` takes, afresh for each attempt: the
    bytes, or the temp file opened at 0 (which publish closes).
    """

    obj: SourceObject
    sha256: str
    sha1: str | None  # computed only to check a declared one
    size_bytes: int
    content: bytes | None = field(default=None, repr=False)
    path: Path | None = None

    def body(self) -> bytes | BinaryIO:
        """The body for one publish attempt (opening a file is one cheap syscall)."""
        if self.content is not None:
            return self.content
        assert self.path is not None
        return self.path.open("rb")


class _Sink:
    """Where a download goes: hashes and a buffer or a file, fed in batches."""

    def __init__(self, file: BinaryIO | None, *, sha1: bool) -> None:
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1(usedforsecurity=False) if sha1 else None
        self._file = file
        self._memory = io.BytesIO() if file is None else None

    def consume(self, batch: bytes) -> None:
        """Hash and keep `batch` (in a thread for a large one)."""
        self.sha256.update(batch)
        if self.sha1 is not None:
            self.sha1.update(batch)
        if self._file is not None:
            self._file.write(batch)
        else:
            assert self._memory is not None
            self._memory.write(batch)

    def finish(self) -> bytes | None:
        """The bytes kept in memory, or None once the file is flushed and closed."""
        if self._file is not None:
            self._file.close()
            return None
        assert self._memory is not None
        return self._memory.getvalue()


class Spool:
    """Downloads assets once each into memory or temp files, within one byte budget.

    Use as `async with spool.fetch(source, obj) as spooled: ... spooled.body() ...`.

    Args:
        budget_bytes: the most bytes spooled at once, memory and disk (`--spool-bytes`).
        spool_dir: where temp files go (`--spool-dir`); None is the system's temp dir.
        memory_max_bytes: assets up to this size stay in memory.
        thread_bytes: batches this large are hashed and written in a thread.
    """

    def __init__(
        self,
        budget_bytes: int,
        *,
        spool_dir: Path | None = None,
        memory_max_bytes: int = MEMORY_MAX_BYTES,
        thread_bytes: int = THREAD_BYTES,
    ) -> None:
        self.budget = SpoolBudget(budget_bytes)
        self.spool_dir = spool_dir
        self.memory_max_bytes = memory_max_bytes
        self.thread_bytes = thread_bytes

    def __repr__(self) -> str:
        return f"Spool({self.budget!r}, dir={self.spool_dir}, memory≤{self.memory_max_bytes})"

    @contextlib.asynccontextmanager
    async def fetch(
        self, source: Source, obj: SourceObject, *, reserved: bool = False
    ) -> AsyncIterator[Spooled]:
        """The asset downloaded and hashed, held until the block ends.

        `reserved`: the caller holds budget for it already (a version's assets reserved
        together, so that no version waits for budget while it holds some).

        Raises PermanentSourceError if it is larger than the whole budget,
        SourceHashMismatchError if a declared SHA-256 or SHA-1 disagrees with the bytes,
        and what the source raises (a TransientSourceError: fetch again).
        """
        if obj.size_bytes > self.budget.limit_bytes:
            raise PermanentSourceError(
                obj.url,
                f"{obj.size_bytes} bytes, more than the spool's {self.budget.limit_bytes}",
                code="SpoolTooSmall",
            )
        if not reserved:
            await self.budget.acquire(obj.size_bytes)
        path: Path | None = None
        try:
            if obj.size_bytes > self.memory_max_bytes:
                path = await asyncio.to_thread(self._temp_path)
            yield await self._download(source, obj, path)
        finally:
            if path is not None:
                path.unlink(missing_ok=True)  # one syscall; safe even while cancelled
            if not reserved:
                self.budget.release(obj.size_bytes)

    def _temp_path(self) -> Path:
        handle, name = tempfile.mkstemp(prefix="uploader-spool-", dir=self.spool_dir)
        os.close(handle)
        return Path(name)

    async def _download(self, source: Source, obj: SourceObject, path: Path | None) -> Spooled:
        file = None if path is None else await asyncio.to_thread(path.open, "wb")
        sink = _Sink(file, sha1=obj.sha1 is not None)
        try:
            async with await source.open(obj) as body:
                await self._drain(body, sink)
        finally:
            content = sink.finish()
        sha1 = None if sink.sha1 is None else sink.sha1.hexdigest()
        spooled = Spooled(obj, sink.sha256.hexdigest(), sha1, obj.size_bytes, content, path)
        _check_declared(obj, spooled)
        return spooled

    async def _drain(self, body: Body, sink: _Sink) -> None:
        """Feed the body to the sink, large batches in a thread, small ones on the loop."""
        batch: list[bytes] = []
        gathered = 0
        async for chunk in body:
            batch.append(chunk)
            gathered += len(chunk)
            if gathered >= self.thread_bytes:
                await asyncio.to_thread(sink.consume, b"".join(batch))
                batch, gathered = [], 0
        if batch:
            sink.consume(b"".join(batch))


def _check_declared(obj: SourceObject, spooled: Spooled) -> None:
    for algorithm, declared, actual in (
        ("SHA-256", obj.sha256, spooled.sha256),
        ("SHA-1", obj.sha1, spooled.sha1),
    ):
        if declared is not None and actual is not None and declared != actual:
            raise SourceHashMismatchError(obj.url, algorithm, declared, actual)
