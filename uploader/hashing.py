"""Concurrent SHA-256 of local files, off the event loop.

hashlib releases the GIL for large updates (~1,500 MiB/s per thread measured here), so
a small thread pool hashes in parallel while the loop keeps serving requests; hashing on
the loop would stall it ~670 ms per GiB. Each file is hashed in one thread job (stat,
read in 1 MiB chunks, stat again) rather than one job per chunk, so the loop pays one
hand-off per file, not one per MiB.

A file that changes while it is read (size, mtime or inode differ between the two stats,
or fewer/more bytes were read than it had) is hashed again, up to `MAX_HASH_TRIES`
times: the SHA-256 we send must be the one of the bytes we send.

`Hasher` adds what a pipeline needs on top of `sha256_file`: a bounded number of jobs in
flight, counters for progress, and an optional `HashCache` keyed by
(path, size, mtime_ns, inode) so a resumed run reads no bytes of unchanged files. It
takes a version's files together (`digest_all`), because each hand-off to a thread
costs the event loop 40-130 us of CPU, more than reading and hashing a 16 KiB file: the
cache is asked about all of them at once, one thread job stats them and reads and
hashes the small ones, and only each large file gets a job of its own. The bytes of
small files can be kept (`FileDigest.content`), so they are sent without being read
again: the bytes sent are then exactly those hashed.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final, Protocol, Self, TypeVar

from uploader.errors import InvalidInputError

CHUNK_BYTES: Final = 1024 * 1024  # large enough that hashlib runs without the GIL
MAX_HASH_TRIES: Final = 3  # a file still changing after this is being written to
DEFAULT_HASH_THREADS: Final = min(4, os.cpu_count() or 1)

OnBytes = Callable[[int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class FileDigest:
    """The SHA-256 of a file and the identity (size, mtime, inode) it was taken from."""

    sha256: str
    size_bytes: int
    mtime_ns: int
    inode: int
    # The bytes that were hashed, when the hasher was asked to keep them (small files).
    content: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class CachedDigest:
    """A SHA-256 the cache holds for a path, and the file identity it was taken from."""

    sha256: str
    size_bytes: int
    mtime_ns: int
    inode: int

    def matches(self, st: os.stat_result) -> bool:
        return (self.size_bytes, self.mtime_ns, self.inode) == (
            st.st_size, st.st_mtime_ns, st.st_ino,
        )  # fmt: skip


class HashCache(Protocol):
    """Where known digests are kept between runs (the resume journal).

    Async because the real store is SQLite, which runs on its own thread; by the many,
    so a version's files cost one round trip.
    """

    async def get_many(self, paths: Sequence[Path]) -> list[CachedDigest | None]:
        """What is recorded for each path, if anything (the caller checks it still holds)."""
        ...

    async def put_many(self, entries: Sequence[tuple[Path, FileDigest]]) -> None:
        """Record the SHA-256 of each file with its identity."""
        ...


class FileChangedError(Exception):
    """The file on disk is no longer the one that was hashed (size, mtime or inode)."""


class ShortReadError(FileChangedError):
    """The file ended before the length that was hashed, while it was being sent."""


SMALL_BODY_BYTES: Final = 256 * 1024  # bodies this small are sent from memory


class ExactLengthReader(io.RawIOBase):
    """A file seen as exactly `size_bytes` long, the length that was hashed and declared.

    The HTTP client stops at the declared Content-Length, and a file that grew is sent
    as it was hashed; but one that was truncated would leave the server waiting for the
    rest until the read timeout. Here a read that finds the end early raises
    ShortReadError at once, and the attempt fails. No `fileno()`: the client must not
    size the body from the file as it is now (aiohttp would, from fstat).

    Args:
        raw: the file, opened unbuffered at offset 0; closed with this reader.
        size_bytes: the length hashed.
        path: named in the error.
    """

    def __init__(self, raw: io.RawIOBase, size_bytes: int, path: Path) -> None:
        super().__init__()
        self._raw = raw
        self._size_bytes = size_bytes
        self._path = path
        self._position = 0

    def __repr__(self) -> str:
        return f"<ExactLengthReader {self._path} at {self._position}/{self._size_bytes}>"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill `buffer` from the file, never past `size_bytes`; raise at an early end."""
        wanted = min(len(buffer), self._size_bytes - self._position)
        if wanted <= 0:
            return 0
        got = self._raw.readinto(memoryview(buffer)[:wanted])
        if not got:
            raise ShortReadError(
                f"{self._path} ended at byte {self._position} of {self._size_bytes}"
            )
        self._position += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move within [0, size_bytes]: the end is the hashed length, not the file's."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size_bytes}
        target = min(max(0, base[whence] + offset), self._size_bytes)
        self._raw.seek(target)
        self._position = target
        return target

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_unchanged(path: Path, digest: FileDigest) -> bytes | BinaryIO:
    """The body to send for `path`, checked to be the file `digest` describes.

    The check is made on the opened file (fstat), so the bytes sent are those of the
    hashed file, not of whatever the path names a moment later. A small file is read
    whole (one thread hop instead of a read per chunk by the HTTP client); a larger one
    is returned open at offset 0, for the caller to close, as exactly the length hashed
    (`ExactLengthReader`: a read that ends early raises ShortReadError). Blocking: run in
    a thread. Raises FileChangedError, or InvalidInputError if the file cannot be read.
    """
    try:
        body = path.open("rb", buffering=0)
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read: {error.strerror or error}") from error
    keep_open = False
    try:
        opened = os.fstat(body.fileno())
        if (opened.st_size, opened.st_mtime_ns, opened.st_ino) != (
            digest.size_bytes, digest.mtime_ns, digest.inode,
        ):  # fmt: skip
            raise FileChangedError(str(path))
        keep_open = opened.st_size > SMALL_BODY_BYTES
        if not keep_open:
            return body.readall()
        return io.BufferedReader(ExactLengthReader(body, digest.size_bytes, path))
    finally:
        if not keep_open:
            body.close()


class _Cancelled(Exception):
    """The awaiting task was cancelled: stop reading, nobody wants the digest."""


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def _digest_from(st: os.stat_result, sha256: str) -> FileDigest:
    return FileDigest(sha256, st.st_size, st.st_mtime_ns, st.st_ino)


def _stat_regular(path: Path) -> os.stat_result:
    """Stat `path`, refusing what is not a regular file (a FIFO would block open())."""
    try:
        st = path.stat()
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read: {error.strerror or error}") from error
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInputError(f"{path}: not a regular file")
    return st


def _read_sha256(
    path: Path, chunk_bytes: int, on_bytes: OnBytes | None, stop: threading.Event, keep_up_to: int
) -> tuple[str, int, os.stat_result, bytes | None]:
    """One pass over the file: its hex digest, the bytes read, the stat of the open file,
    and the bytes themselves if the open file has at most `keep_up_to` of them."""
    sha = hashlib.sha256()
    read_bytes = 0
    # Unbuffered, so readinto() fills our buffer straight from the kernel.
    with path.open("rb", buffering=0) as file:
        opened = os.fstat(file.fileno())
        size = opened.st_size
        # Decided on the open file, not an earlier stat: the path may name another by now.
        keep = size <= keep_up_to
        # A kept file is read into a buffer of its size; otherwise one chunk is reused.
        view = memoryview(bytearray(size if keep else min(chunk_bytes, size)))
        # Read no further than the size at open: a file appended to faster than we read
        # would otherwise never end; its growth shows in the second stat instead.
        while read_bytes < size:
            n_wanted = min(chunk_bytes, size - read_bytes)
            into = view[read_bytes : read_bytes + n_wanted] if keep else view[:n_wanted]
            n = file.readinto(into)
            if not n or stop.is_set():
                break
            sha.update(into[:n])
            read_bytes += n
            if on_bytes is not None:
                on_bytes(n)
    if stop.is_set():
        raise _Cancelled
    return sha.hexdigest(), read_bytes, opened, view[:read_bytes].tobytes() if keep else None


def _hash_stable(
    path: Path,
    chunk_bytes: int,
    on_bytes: OnBytes | None,
    stop: threading.Event,
    *,
    keep_up_to: int = -1,
    checked: bool = False,
) -> FileDigest:
    """Hash until two stats around a full read agree (runs in a worker thread); keep the
    bytes of a file of at most `keep_up_to` bytes. `checked`: the caller has just stat'ed
    the path as a regular file, so the first try does not again."""
    for attempt in range(MAX_HASH_TRIES):
        if attempt or not checked:
            _stat_regular(path)
        try:
            sha256, read_bytes, opened, content = _read_sha256(
                path, chunk_bytes, on_bytes, stop, keep_up_to
            )
            after = path.stat()
        except OSError as error:
            raise InvalidInputError(f"{path}: cannot read: {error.strerror or error}") from error
        if _identity(opened) == _identity(after) and read_bytes == opened.st_size:
            return FileDigest(sha256, opened.st_size, opened.st_mtime_ns, opened.st_ino, content)
    raise InvalidInputError(f"{path}: file changed while hashing ({MAX_HASH_TRIES} tries)")


@dataclass(frozen=True)
class _Scanned:
    """One file of a `_digest_files` job: its digest, or None if it is left to a job of
    its own (a large file); `cached` when the digest came from the cache."""

    digest: FileDigest | None
    cached: bool = False


def _digest_files(
    files: Sequence[tuple[Path, CachedDigest | None]],
    keep_bytes: int,
    chunk_bytes: int,
    on_bytes: OnBytes | None,
    stop: threading.Event,
) -> list[_Scanned]:
    """Stat each file: a cache entry that still holds gives its digest; a small file is
    hashed here (its bytes kept while `keep_bytes` lasts); a large one is left for a job
    of its own, so large files hash in parallel. Runs in a worker thread."""
    found = []
    for path, cached in files:
        if stop.is_set():
            raise _Cancelled
        st = _stat_regular(path)
        if cached is not None and cached.matches(st):
            found.append(_Scanned(_digest_from(st, cached.sha256), cached=True))
        elif st.st_size <= SMALL_BODY_BYTES:
            keep_up_to = min(keep_bytes, SMALL_BODY_BYTES)
            digest = _hash_stable(
                path, chunk_bytes, on_bytes, stop, keep_up_to=keep_up_to, checked=True
            )
            keep_bytes -= len(digest.content or b"")
            found.append(_Scanned(digest))
        else:
            found.append(_Scanned(None))
    return found


async def _in_thread(executor: Executor | None, job: Callable[[threading.Event], T]) -> T:
    """Run `job` in `executor`; if we are cancelled, tell the thread to stop reading."""
    stop = threading.Event()
    future = asyncio.get_running_loop().run_in_executor(executor, job, stop)
    try:
        return await future
    except BaseException:
        # A thread cannot be cancelled; without this it would read a 5 GB file to the end.
        stop.set()
        raise


async def sha256_file(
    path: Path,
    *,
    executor: Executor | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    on_bytes: OnBytes | None = None,
) -> FileDigest:
    """The SHA-256 of `path`, computed in a thread and stable against concurrent writes.

    Args:
        path: the file to hash.
        executor: where to run; None means the loop's default executor.
        chunk_bytes: the size of each read.
        on_bytes: called with the size of each chunk as it is hashed, *from the hashing
            thread* (so tests and counters see bytes as they are read); it must be
            thread-safe and quick. Re-hashed bytes are reported again.

    Raises:
        InvalidInputError: the file is missing, unreadable, not a regular file, or kept
            changing for `MAX_HASH_TRIES` reads.
    """

    def job(stop: threading.Event) -> FileDigest:
        return _hash_stable(path, chunk_bytes, on_bytes, stop)

    return await _in_thread(executor, job)


class Hasher:
    """Hashes files for the pipeline: a thread pool, a bound on jobs in flight, counters.

    Use as `async with Hasher(hash_threads=4) as hasher: digest = await hasher.digest(p)`.

    Args:
        hash_threads: threads in the pool (hashlib scales about linearly with cores).
        max_in_flight: thread jobs admitted at once (a `digest_all` call's small files,
            or one large file); the rest wait on a semaphore, so a million-asset
            manifest does not queue a million executor jobs. Defaults to
            twice the threads, so a thread never idles while a result is handed back.
        cache: known digests; a hit costs one stat and reads no bytes.
        chunk_bytes: the size of each read.
    """

    def __init__(
        self,
        *,
        hash_threads: int = DEFAULT_HASH_THREADS,
        max_in_flight: int | None = None,
        cache: HashCache | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        if max_in_flight is None:
            max_in_flight = 2 * hash_threads
        if min(hash_threads, max_in_flight) < 1:
            raise ValueError(f"need at least 1 thread and file in flight: {hash_threads=}")
        self._threads = hash_threads
        self._max_in_flight = max_in_flight
        self._pool = ThreadPoolExecutor(max_workers=hash_threads, thread_name_prefix="hash")
        self._in_flight = asyncio.Semaphore(self._max_in_flight)
        self._cache = cache
        self._chunk_bytes = chunk_bytes
        # on_bytes runs in pool threads, several at once: `+=` on an int is not atomic.
        self._lock = threading.Lock()
        self._bytes_hashed = 0
        self._files_hashed = 0
        self._cache_hits = 0

    @property
    def bytes_hashed(self) -> int:
        """Bytes read and hashed so far (re-reads of changing files included)."""
        return self._bytes_hashed

    @property
    def files_hashed(self) -> int:
        """Files whose bytes were hashed (cache hits excluded)."""
        return self._files_hashed

    @property
    def cache_hits(self) -> int:
        """Files whose digest came from the cache without reading them."""
        return self._cache_hits

    def _count_bytes(self, n_bytes: int) -> None:
        with self._lock:
            self._bytes_hashed += n_bytes

    async def digest(self, path: Path) -> FileDigest:
        """The digest of `path`, from the cache when its identity is unchanged.

        Raises:
            InvalidInputError: as `sha256_file`.
        """
        (found,) = await self.digest_all([path])
        return found

    async def digest_all(self, paths: Sequence[Path], *, keep_bytes: int = 0) -> list[FileDigest]:
        """The digests of several files (a version's), in order, with few thread hand-offs.

        The cache is asked about all of them at once; one thread job stats them all,
        takes the cache's word for unchanged files and hashes the small ones; each large
        file then hashes in a job of its own. Up to `keep_bytes` bytes of small files are
        kept in `FileDigest.content`.

        Raises:
            InvalidInputError: as `sha256_file`, for the first file that cannot be hashed.
        """
        if not paths:
            return []
        cache = self._cache
        known = await cache.get_many(paths) if cache is not None else [None] * len(paths)
        files = list(zip(paths, known, strict=True))
        async with self._in_flight:
            scanned = await _in_thread(
                self._pool,
                lambda stop: _digest_files(
                    files, keep_bytes, self._chunk_bytes, self._count_bytes, stop
                ),
            )
        digests = [s.digest for s in scanned]
        self._cache_hits += sum(s.cached for s in scanned)
        fresh = [
            (path, s.digest)
            for path, s in zip(paths, scanned, strict=True)
            if s.digest is not None and not s.cached
        ]
        self._files_hashed += len(fresh)
        large = [i for i, digest in enumerate(digests) if digest is None]
        hashed = await asyncio.gather(*(self._hash(paths[i]) for i in large))
        for i, digest in zip(large, hashed, strict=True):
            digests[i] = digest
            fresh.append((paths[i], digest))
        if cache is not None and fresh:
            await cache.put_many(fresh)
        return [d for d in digests if d is not None]

    async def _hash(self, path: Path) -> FileDigest:
        async with self._in_flight:
            digest = await sha256_file(
                path, executor=self._pool, chunk_bytes=self._chunk_bytes, on_bytes=self._count_bytes
            )
        self._files_hashed += 1
        return digest

    async def aclose(self) -> None:
        """Wait for running hash jobs to end and stop the pool's threads."""
        # shutdown(wait=True) blocks, so it waits in the default executor, not on the loop.
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"Hasher(threads={self._threads}, max_in_flight={self._max_in_flight}, "
            f"files_hashed={self._files_hashed}, bytes_hashed={self._bytes_hashed}, "
            f"cache_hits={self._cache_hits})"
        )
