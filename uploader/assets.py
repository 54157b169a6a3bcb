"""Where an asset's bytes come from, local file or remote store: its digest, then its body.

    digests = await assets.digest_all(spec.assets, keep_bytes=..., held=stack)
    body, digest = await assets.body(asset, digest)    # once per publish attempt

A local file (`AssetSpec`) is hashed by the `Hasher` (its hash cache, its threads) and
sent from the very file that was hashed (`open_unchanged`), hashed again if it changed.

A remote object (`RemoteAssetSpec`) is first stat'ed at its store (size, declared hashes,
identity; checked against what the manifest declares), then:

- a SHA-256 is known without reading a byte (the manifest's, the store's, or the hash
  cache's for this exact object: URL + size + identity): each publish attempt streams the
  object from its store (`publish_body`), the service checks the bytes against the hash,
  and a refusal names both hashes (ours is taken while streaming);
- else it is downloaded once into the `Spool` (memory or a temp file, hashed while
  written, within `--spool-bytes`) and held there, in `held`, until the version is sent;
  every attempt reads the spool, not the store.

Source calls (stat, download) are retried by the same tenacity policy as the service's
(`retrying`), without its rate limit: the quota is the service's, not the store's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import BinaryIO, Final, Protocol, Self, TypeVar

import structlog

from uploader import constants as c
from uploader.config import DEFAULT_SPOOL_BYTES, RunSettings
from uploader.errors import RejectedError
from uploader.hashing import MAX_HASH_TRIES, FileChangedError, FileDigest, Hasher, open_unchanged
from uploader.manifest import Asset, AssetSpec, RemoteAssetSpec
from uploader.retry import retrying
from uploader.sources.base import SourceObject
from uploader.sources.body import StreamedBody, publish_body
from uploader.sources.errors import (
    PermanentSourceError,
    SourceChangedError,
    SourceHashMismatchError,
)
from uploader.sources.headers import parse_source_header
from uploader.sources.http import HttpSettings
from uploader.sources.registry import Sources
from uploader.sources.s3 import S3Settings
from uploader.sources.spool import Spool, Spooled

log = structlog.get_logger(__name__)

T = TypeVar("T")
STATS_AT_ONCE: Final = 16  # a version's remote assets stat'ed concurrently


class RemoteHashCache(Protocol):
    """Known SHA-256s of remote objects, by `SourceObject.cache_key` (the journal)."""

    async def remote_hashes(self, keys: Sequence[str]) -> list[str | None]: ...

    async def remember_remote(self, entries: Sequence[tuple[str, int, str]]) -> None: ...


@dataclass(frozen=True)
class SourcedDigest(FileDigest):
    """A remote asset's digest, with what sending it needs: the stat'ed object (streamed
    from its store) or its spooled bytes."""

    url: str = ""
    streamed: bool = False  # sent from the store; else from `spooled`
    spooled: Spooled | None = field(default=None, repr=False, compare=False)
    source: SourceObject | None = field(default=None, repr=False, compare=False)


class Assets:
    """The digests and bodies of a run's assets, local and remote.

    Use as `async with Assets.of(settings, hasher, cache) as assets: ...` (the stores'
    clients are closed at the end).

    Args:
        hasher: hashes local files (and owns their hash cache).
        sources: the remote stores; None when the run has no remote asset to read.
        spool: where remote assets without a known SHA-256 are downloaded to.
        cache: remote objects' known SHA-256s (the journal); None keeps none.
        max_attempts: attempts of each source call, the first included.
    """

    def __init__(
        self,
        hasher: Hasher,
        *,
        sources: Sources | None = None,
        spool: Spool | None = None,
        cache: RemoteHashCache | None = None,
        max_attempts: int = c.MAX_ATTEMPTS,
    ) -> None:
        self.hasher = hasher
        self._sources = sources or Sources()
        self._spool = spool or Spool(DEFAULT_SPOOL_BYTES)
        self._cache = cache
        self._max_attempts = max_attempts
        self._stats = asyncio.Semaphore(STATS_AT_ONCE)
        self.bytes_downloaded = 0  # bodies read into the spool (the stores' bytes)

    @classmethod
    def of(cls, settings: RunSettings, hasher: Hasher, cache: RemoteHashCache | None) -> Assets:
        """The assets of a run with these settings: `--source-*`, `--spool-*`."""
        headers = (
            dict([parse_source_header(settings.source_header)]) if settings.source_header else {}
        )
        sources = Sources(
            S3Settings(settings.source_profile, settings.source_region,
                       settings.source_endpoint_url),
            HttpSettings(headers=headers, allow_http=settings.allow_http),
        )  # fmt: skip
        spool = Spool(settings.spool_bytes, spool_dir=settings.spool_dir)
        return cls(hasher, sources=sources, spool=spool, cache=cache,
                   max_attempts=settings.max_attempts)  # fmt: skip

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._sources.__aexit__(exc_type, exc, tb)

    @property
    def bytes_hashed(self) -> int:
        """Bytes hashed: local files read, and remote bodies hashed as they were spooled."""
        return self.hasher.bytes_hashed + self.bytes_downloaded

    def __repr__(self) -> str:
        return f"<Assets {self.hasher!r} {self._spool!r}>"

    async def digest_all(
        self,
        assets: Sequence[Asset],
        *,
        keep_bytes: int = 0,
        held: contextlib.AsyncExitStack | None = None,
        trust_manifest: bool = False,
        download: bool | None = None,
    ) -> list[FileDigest]:
        """The digest of every asset, in order.

        Args:
            keep_bytes: bytes of small local files kept in memory for sending.
            held: where spooled downloads are held until the caller's stack closes;
                None releases each at once (a check that sends nothing).
            trust_manifest: take a SHA-256 the manifest declares for a remote asset
                without asking its store (the journal's skip of a version done with it).
            download: read remote bodies when their SHA-256 is not known (None, a run),
                always (True, `verify`: hashed anew) or never (False, `verify
                --no-download`: an asset with no declared SHA-256 is an error).

        Raises the first asset's error: InvalidInputError for a local file, a
        SourceError for a remote object.
        """
        local = [(i, a) for i, a in enumerate(assets) if isinstance(a, AssetSpec)]
        remote = [(i, a) for i, a in enumerate(assets) if isinstance(a, RemoteAssetSpec)]
        found: list[FileDigest | None] = [None] * len(assets)
        if local:
            paths = [a.path for _, a in local]
            digests = await self.hasher.digest_all(paths, keep_bytes=keep_bytes)
            for (i, _), digest in zip(local, digests, strict=True):
                found[i] = digest
        if remote:
            remote_digests = await self._remote_digests(
                [a for _, a in remote], held, trust_manifest, download
            )
            for (i, _), digest in zip(remote, remote_digests, strict=True):
                found[i] = digest
        return [d for d in found if d is not None]

    async def body(self, asset: Asset, digest: FileDigest) -> tuple[bytes | BinaryIO, FileDigest]:
        """The body for one publish attempt, and the digest it is sent with (a local file
        that changed since it was hashed is hashed again, and sent as it is now)."""
        if isinstance(digest, SourcedDigest):
            return await self._remote_body(digest), digest
        assert isinstance(asset, AssetSpec)
        return await self._file_body(asset, digest)

    def refused(
        self, body: bytes | BinaryIO, digest: FileDigest, error: RejectedError
    ) -> Exception:
        """The error to fail a streamed asset with when the service refused it: a declared
        SHA-256 that the bytes sent do not have is named, with both hashes and the URL."""
        if isinstance(body, StreamedBody) and isinstance(digest, SourcedDigest):
            sent = body.sent_sha256
            if sent is not None and sent != digest.sha256:
                return SourceHashMismatchError(digest.url, "SHA-256", digest.sha256, sent)
        return error

    # --- local files --------------------------------------------------------------------

    async def _file_body(
        self, asset: AssetSpec, digest: FileDigest
    ) -> tuple[bytes | BinaryIO, FileDigest]:
        if digest.content is not None:
            return digest.content, digest
        for _ in range(MAX_HASH_TRIES):
            try:
                return await asyncio.to_thread(open_unchanged, asset.path, digest), digest
            except FileChangedError:
                log.warning("file changed since hashing; hashing again", path=str(asset.path))
                digest = await self.hasher.digest(asset.path)
                if asset.sha256 is not None and digest.sha256 != asset.sha256:
                    raise RejectedError(
                        f"{asset.place}: file changed and no longer matches its sha256"
                    ) from None
        raise RejectedError(f"{asset.path}: file keeps changing; not sent")

    # --- remote objects -----------------------------------------------------------------

    async def _remote_digests(
        self,
        assets: list[RemoteAssetSpec],
        held: contextlib.AsyncExitStack | None,
        trust: bool,
        download: bool | None,
    ) -> list[SourcedDigest]:
        """Stat every object (at most `STATS_AT_ONCE` at a time); then spool those whose
        SHA-256 is not known, all under one budget reservation held in `held`, so that no
        version waits for spool space while holding some (versions cannot deadlock). A
        version needing more than the whole budget spools each object alone and lets it
        go: it is then streamed with the hash found (downloaded twice, never over budget).
        """
        known = await _gathered([self._known(a, trust, download) for a in assets])
        objects = [k for k in known if isinstance(k, SourceObject)]
        total = sum(obj.size_bytes for obj in objects)
        hold = held is not None and 0 < total <= self._spool.budget.limit_bytes
        if held is not None and hold:
            await self._spool.budget.acquire(total)
            held.callback(self._spool.budget.release, total)
        spooled = await _gathered([self._spooled(obj, held if hold else None) for obj in objects])
        by_url = dict(zip((obj.url for obj in objects), spooled, strict=True))
        digests: list[SourcedDigest] = []
        for asset, found in zip(assets, known, strict=True):
            if isinstance(found, SourcedDigest):
                digests.append(found)
                continue
            bytes_ = by_url[found.url]
            if self._cache is not None:
                await self._cache.remember_remote(
                    [(found.cache_key, found.size_bytes, bytes_.sha256)]
                )
            digests.append(_digest(asset, bytes_.sha256, found.size_bytes, streamed=not hold,
                                   spooled=bytes_ if hold else None, source=found))  # fmt: skip
        return digests

    async def _known(
        self, asset: RemoteAssetSpec, trust: bool, download: bool | None
    ) -> SourcedDigest | SourceObject:
        """The digest, if the SHA-256 is known without reading the body; else the object."""
        if trust and asset.sha256 is not None and asset.size_bytes is not None:
            return _digest(asset, asset.sha256, asset.size_bytes, streamed=True)
        async with self._stats:
            obj = await self._retried(lambda: self._sources.stat(asset.url))
        _check_declared(asset, obj.size_bytes, obj.sha256, obj.identity.etag)
        if download:
            return obj
        sha256 = asset.sha256 or obj.sha256
        if sha256 is None and self._cache is not None:
            (sha256,) = await self._cache.remote_hashes([obj.cache_key])
        if sha256 is None and download is False:
            raise PermanentSourceError(
                asset.url, "no SHA-256 declared by the manifest or the store: cannot check it"
                " without downloading (leave out --no-download)", code="NoDeclaredHash",
            )  # fmt: skip
        if sha256 is None:
            return obj
        return _digest(asset, sha256, obj.size_bytes, streamed=True, source=obj)

    async def _spooled(self, obj: SourceObject, held: contextlib.AsyncExitStack | None) -> Spooled:
        """The object downloaded into the spool: held in `held` (whose budget the caller
        reserved), or released at once once hashed."""
        source = await self._sources.for_url(obj.url)

        async def fetch(stack: contextlib.AsyncExitStack) -> Spooled:
            fetching = self._spool.fetch(source, obj, reserved=stack is held)
            spooled = await stack.enter_async_context(fetching)
            self.bytes_downloaded += spooled.size_bytes
            return spooled

        if held is not None:
            return await self._retried(lambda: fetch(held))
        async with contextlib.AsyncExitStack() as once:
            return await self._retried(lambda: fetch(once))

    async def _remote_body(self, digest: SourcedDigest) -> bytes | BinaryIO:
        if digest.spooled is not None:
            return digest.spooled.body()
        obj = digest.source
        if obj is None:  # trusted from the manifest: stat it now
            obj = await self._sources.stat(digest.url)
            if obj.size_bytes != digest.size_bytes:
                raise SourceChangedError(
                    digest.url, f"{obj.size_bytes} bytes, the manifest says {digest.size_bytes}",
                    code="Size",
                )  # fmt: skip
        return publish_body(await self._sources.open(obj))

    async def _retried(self, request: Callable[[], Awaitable[T]]) -> T:
        async for attempt in retrying(max_attempts=self._max_attempts):
            with attempt:
                return await request()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


async def _gathered(awaitables: list[Awaitable[T]]) -> list[T]:
    """Every result, in order, once all have ended; the first error raised (after the
    others ended, so that nothing is left running with a held spool)."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


def _digest(
    asset: RemoteAssetSpec,
    sha256: str,
    size_bytes: int,
    *,
    streamed: bool = False,
    spooled: Spooled | None = None,
    source: SourceObject | None = None,
) -> SourcedDigest:
    return SourcedDigest(
        sha256, size_bytes, 0, 0, url=asset.url, streamed=streamed, spooled=spooled,
        source=source,
    )  # fmt: skip


def _check_declared(
    asset: RemoteAssetSpec, size_bytes: int, sha256: str | None, etag: str | None
) -> None:
    """The store's object must be the one the manifest describes (a scan wrote these)."""
    url = asset.url
    if asset.size_bytes is not None and asset.size_bytes != size_bytes:
        raise SourceChangedError(
            url, f"{size_bytes} bytes at the store, the manifest says {asset.size_bytes}",
            code="Size",
        )  # fmt: skip
    if asset.etag is not None and etag is not None and asset.etag.strip('"') != etag.strip('"'):
        raise SourceChangedError(
            url, f"changed since the manifest was written (ETag {etag}, manifest {asset.etag})",
            code="ETag",
        )  # fmt: skip
    if asset.sha256 is not None and sha256 is not None and asset.sha256 != sha256:
        raise SourceHashMismatchError(url, "SHA-256", asset.sha256, sha256)
