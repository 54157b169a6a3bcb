"""The worker pool: manifest -> hash -> reconcile -> publish -> finalize, for every version.

    reader (thread, batches) ──► bounded queue ──► N version workers ──► Finalizer
                                                    │ hash (Hasher threads)
                                                    │ reconcile (DescribePackageVersion + List)
                                                    │ publish (≤ max_uploads at once, rate
                                                    │          limited, retried by tenacity)
                                                    ▼
                                                 Report (outcomes, counters)

One failing version never stops the others: its error is recorded and the worker takes
the next one. A `FatalRemoteError` (credentials, access, missing domain/repository) ends
the whole run: nothing else could succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Final, TypeVar

import structlog
from tenacity import RetryCallState

from uploader import constants as c
from uploader.codeartifact import CodeArtifact, RemoteAsset, RemoteVersion, Target
from uploader.errors import (
    ConflictError,
    FatalRemoteError,
    RejectedError,
    ThrottledError,
    UploaderError,
)
from uploader.hashing import FileDigest, Hasher
from uploader.limits import Family, RateLimits
from uploader.manifest import AssetSpec, Problem, TargetStatus, VersionSpec
from uploader.report import AssetOutcome, AssetRecord, Report, VersionOutcome, VersionRecord
from uploader.retry import log_retry, retrying

T = TypeVar("T")
log = structlog.get_logger(__name__)

READ_BATCH: Final = 64  # manifest entries read per thread hop
FINALIZE_LINGER_S: Final = 0.05  # how long the finalizer waits to batch a package's versions
QUEUE_PER_WORKER: Final = 2
_DONE_STATUSES: Final = frozenset({"Published", "Unlisted", "Archived"})


@dataclass(frozen=True)
class Options:
    """How hard to work.

    Args:
        workers: versions in flight at once.
        max_uploads: asset uploads in flight at once, across all versions.
        max_attempts: attempts per request, the first included.
        dry_run: validate and hash only; send nothing.
        create_missing: create a missing domain/repository (the `--local` emulator) instead
            of stopping with exit 3.
        shard: (k, n): process only the packages of shard k (1-based) of n.
    """

    workers: int = 8
    max_uploads: int = 16
    max_attempts: int = 8
    dry_run: bool = False
    create_missing: bool = False
    shard: tuple[int, int] = (1, 1)


def shard_of(spec: VersionSpec, shards: int) -> int:
    """The 1-based shard of a version: by package, so a package's versions stay together."""
    key = f"{spec.domain}/{spec.repository}/{spec.namespace}/{spec.package}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % shards + 1


def _package(spec: VersionSpec) -> dict[str, str]:
    return {"namespace": spec.namespace, "package": spec.package}


def _target(spec: VersionSpec) -> Target:
    return Target(spec.domain, spec.repository, spec.domain_owner)


def _new_record(spec: VersionSpec) -> VersionRecord:
    return VersionRecord(
        domain=spec.domain,
        repository=spec.repository,
        namespace=spec.namespace,
        package=spec.package,
        version=spec.version,
        target_status=spec.status.value,
        assets=[AssetRecord(a.name, str(a.path)) for a in spec.assets],
    )


class Pipeline:
    """Runs a manifest's versions through hashing, publishing and finalization.

    Args:
        api: the CodeArtifact calls; None only with `options.dry_run`.
        hasher: the shared hashing pool.
        limits: the shared rate limits.
        report: where outcomes go.
        options: concurrency and behaviour.
        sleep: the retry back-off's sleep (tests record waits instead of sleeping).
    """

    def __init__(
        self,
        api: CodeArtifact | None,
        hasher: Hasher,
        limits: RateLimits,
        report: Report,
        options: Options,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if api is None and not options.dry_run:
            raise ValueError("a CodeArtifact client is needed unless this is a dry run")
        self._api = api
        self._hasher = hasher
        self._limits = limits
        self._report = report
        self._options = options
        self._sleep = sleep
        self._uploads = asyncio.Semaphore(options.max_uploads)
        self._targets: dict[Target, asyncio.Task[None]] = {}
        self._finalizer = Finalizer(self)

    def __repr__(self) -> str:
        return f"<Pipeline {self._options} {self._report!r}>"

    # --- the pool ---------------------------------------------------------------------------

    async def run(self, entries: Iterator[VersionSpec | Problem]) -> None:
        """Process every entry; returns when all are done or raises FatalRemoteError."""
        queue: asyncio.Queue[VersionSpec | None] = asyncio.Queue(
            self._options.workers * QUEUE_PER_WORKER
        )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._finalizer.run())
                workers = [
                    group.create_task(self._worker(queue)) for _ in range(self._options.workers)
                ]
                await self._read(entries, queue)
                await asyncio.gather(*workers)
                self._finalizer.close()
        except* FatalRemoteError as fatal:
            raise fatal.exceptions[0] from None
        finally:
            self._report.totals.bytes_hashed = self._hasher.bytes_hashed

    async def _read(
        self, entries: Iterator[VersionSpec | Problem], queue: asyncio.Queue[VersionSpec | None]
    ) -> None:
        """Feed the queue from the manifest, reading it in a thread in small batches."""
        k, n = self._options.shard
        while batch := await asyncio.to_thread(lambda: list(itertools.islice(entries, READ_BATCH))):
            for entry in batch:
                if isinstance(entry, Problem):
                    self._problem(entry)
                elif n == 1 or shard_of(entry, n) == k:
                    await queue.put(entry)
        for _ in range(self._options.workers):
            await queue.put(None)

    def _problem(self, problem: Problem) -> None:
        log.error(str(problem), event_kind="manifest_problem")
        self._report.add_problem(str(problem.place), problem.message)

    async def _worker(self, queue: asyncio.Queue[VersionSpec | None]) -> None:
        while (spec := await queue.get()) is not None:
            record = _new_record(spec)
            with structlog.contextvars.bound_contextvars(
                namespace=spec.namespace, package=spec.package, version=spec.version
            ):
                try:
                    await self._version(spec, record)
                except FatalRemoteError:
                    raise
                except UploaderError as error:
                    record.outcome = VersionOutcome.FAILED
                    record.error = str(error)
                    log.warning("version failed", error=str(error))
            self._report.add_version(record)

    # --- one version ------------------------------------------------------------------------

    async def _version(self, spec: VersionSpec, record: VersionRecord) -> None:
        digests = await self._hash_all(spec, record)
        if self._options.dry_run:
            record.outcome = VersionOutcome.HASHED
            return
        await self._ensure_target(_target(spec))
        remote = await self._with_retries(
            Family.LIST,
            lambda: self._api_().describe_version(_target(spec), _package(spec), spec.version),
        )
        todo = _reconcile(spec, digests, remote, record)
        if record.outcome is VersionOutcome.SKIPPED:
            log.info("version skipped", reason="already on the server with the same assets")
            return
        async with asyncio.TaskGroup() as group:
            for asset, asset_record in todo:
                group.create_task(self._publish(spec, asset, asset_record, digests[asset.name]))
        await self._finish(spec, record)

    def _api_(self) -> CodeArtifact:
        assert self._api is not None, "no client in a dry run"
        return self._api

    async def _hash_all(self, spec: VersionSpec, record: VersionRecord) -> dict[str, FileDigest]:
        digests = await asyncio.gather(*(self._hasher.digest(a.path) for a in spec.assets))
        for asset, digest, asset_record in zip(spec.assets, digests, record.assets, strict=True):
            asset_record.size_bytes = digest.size_bytes
            asset_record.sha256 = digest.sha256
            asset_record.outcome = AssetOutcome.HASHED
            if asset.sha256 is not None and asset.sha256 != digest.sha256:
                asset_record.outcome = AssetOutcome.FAILED
                raise RejectedError(
                    f"{asset.place}: sha256 in the manifest is {asset.sha256},"
                    f" the file's is {digest.sha256}"
                )
        return {a.name: d for a, d in zip(spec.assets, digests, strict=True)}

    async def _finish(self, spec: VersionSpec, record: VersionRecord) -> None:
        if spec.status is TargetStatus.UNFINISHED:
            record.outcome = VersionOutcome.UNFINISHED
            log.info("version left unfinished", assets=len(spec.assets))
            return
        await self._finalizer.finalize(spec)
        record.outcome = VersionOutcome.FINALIZED
        log.info("version finalized", status=spec.status.value, assets=len(spec.assets))

    async def _ensure_target(self, target: Target) -> None:
        """Check each domain/repository once per run (create it for `--local`)."""
        task = self._targets.get(target)
        if task is None:
            task = asyncio.ensure_future(self._check_target(target))
            self._targets[target] = task
        await asyncio.shield(task)

    async def _check_target(self, target: Target) -> None:
        api = self._api_()
        if self._options.create_missing:
            await self._with_retries(Family.WRITE, lambda: api.create_repository(target))
        await self._with_retries(Family.LIST, lambda: api.describe_repository(target))

    # --- one asset --------------------------------------------------------------------------

    async def _publish(
        self, spec: VersionSpec, asset: AssetSpec, record: AssetRecord, digest: FileDigest
    ) -> None:
        with structlog.contextvars.bound_contextvars(asset=asset.name):
            try:
                record.outcome = await self._with_retries(
                    Family.PUBLISH, lambda: self._publish_once(spec, asset, digest), self._uploads
                )
            except BaseException:
                record.outcome = AssetOutcome.FAILED
                raise
        if record.outcome is AssetOutcome.PUBLISHED:
            self._report.totals.bytes_published += digest.size_bytes

    async def _publish_once(
        self, spec: VersionSpec, asset: AssetSpec, digest: FileDigest
    ) -> AssetOutcome:
        digest = await self._unchanged(asset, digest)
        self._report.totals.publish_requests += 1
        try:
            remote_sha256 = await self._api_().publish(
                _target(spec), _package(spec), spec.version, asset_name=asset.name,
                path=asset.path, sha256=digest.sha256, size_bytes=digest.size_bytes,
            )  # fmt: skip
        except ConflictError:
            return await self._resolve_conflict(spec, asset, digest)
        if remote_sha256 and remote_sha256 != digest.sha256:
            raise RejectedError(f"server stored SHA-256 {remote_sha256}, sent {digest.sha256}")
        log.debug("asset published", size_bytes=digest.size_bytes)
        return AssetOutcome.PUBLISHED

    async def _unchanged(self, asset: AssetSpec, digest: FileDigest) -> FileDigest:
        """The file's digest now: re-hashed if it changed since it was hashed."""
        stat = await asyncio.to_thread(asset.path.stat)
        if (stat.st_size, stat.st_mtime_ns, stat.st_ino) == (
            digest.size_bytes, digest.mtime_ns, digest.inode,
        ):  # fmt: skip
            return digest
        log.warning("file changed since hashing; hashing again", path=str(asset.path))
        fresh = await self._hasher.digest(asset.path)
        if asset.sha256 is not None and fresh.sha256 != asset.sha256:
            raise RejectedError(f"{asset.place}: file changed and no longer matches its sha256")
        return fresh

    async def _resolve_conflict(
        self, spec: VersionSpec, asset: AssetSpec, digest: FileDigest
    ) -> AssetOutcome:
        """A conflict may be our own earlier attempt whose reply was lost: look it up."""
        await self._limits.acquire(Family.LIST)
        remote = await self._api_().list_assets(_target(spec), _package(spec), spec.version)
        found = remote.get(asset.name)
        if found is not None and found.sha256 == digest.sha256:
            log.info("asset already stored by an earlier attempt")
            return AssetOutcome.PRESENT
        if found is None:
            raise ConflictError(
                f"cannot add {asset.name}: version {spec.version} is not Unfinished"
            )
        raise _different_content(asset.name, found, digest.sha256)

    # --- retries and rates ------------------------------------------------------------------

    async def _with_retries(
        self,
        family: Family,
        call: Callable[[], Awaitable[T]],
        slot: asyncio.Semaphore | None = None,
    ) -> T:
        """`call` under the family's rate limit, retried by the tenacity policy.

        With `slot`, each attempt first takes a place in it, then a rate token: a token is
        never spent by a request that still has to queue for a connection. The slot is
        not held during back-off, so other uploads go on meanwhile.
        """
        async for attempt in retrying(
            max_attempts=self._options.max_attempts, sleep=self._sleep,
            on_retry=lambda state: self._on_retry(family, state),
        ):  # fmt: skip
            with attempt:
                async with slot or contextlib.nullcontext():
                    await self._limits.acquire(family)
                    result = await call()
                self._limits.on_success(family)
                return result
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _on_retry(self, family: Family, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        self._report.totals.retries += 1
        if isinstance(error, ThrottledError):
            self._report.totals.throttled += 1
            self._limits.on_throttled(family)
        log_retry(state)


def _different_content(name: str, remote: RemoteAsset, local_sha256: str) -> ConflictError:
    return ConflictError(
        f"asset {name} already exists with different content"
        f" (remote sha256 {remote.sha256}, local {local_sha256})"
    )


def _reconcile(
    spec: VersionSpec,
    digests: dict[str, FileDigest],
    remote: RemoteVersion | None,
    record: VersionRecord,
) -> list[tuple[AssetSpec, AssetRecord]]:
    """Which assets still need sending, given what the server holds.

    Marks assets already there as `already_present`, and the version `skipped` when it is
    complete on the server. Raises ConflictError when the server holds something else.
    """
    pairs = list(zip(spec.assets, record.assets, strict=True))
    if remote is None:
        return pairs
    for asset, _ in pairs:
        found = remote.assets.get(asset.name)
        if found is not None and found.sha256 != digests[asset.name].sha256:
            raise _different_content(asset.name, found, digests[asset.name].sha256)
    extra = sorted(set(remote.assets) - {a.name for a in spec.assets})
    if extra:
        raise ConflictError(f"the server's version has assets the manifest lacks: {extra}")
    if remote.status in _DONE_STATUSES:
        return _complete_on_server(spec, remote, pairs, record)
    if remote.status != "Unfinished":
        raise ConflictError(f"version is {remote.status} on the server")
    todo = []
    for asset, asset_record in pairs:
        if asset.name in remote.assets:
            asset_record.outcome = AssetOutcome.PRESENT
        else:
            todo.append((asset, asset_record))
    return todo


def _complete_on_server(
    spec: VersionSpec,
    remote: RemoteVersion,
    pairs: list[tuple[AssetSpec, AssetRecord]],
    record: VersionRecord,
) -> list[tuple[AssetSpec, AssetRecord]]:
    missing = [a.name for a, _ in pairs if a.name not in remote.assets]
    if missing:
        raise ConflictError(
            f"version is already {remote.status} on the server without assets {missing}"
        )
    for _, asset_record in pairs:
        asset_record.outcome = AssetOutcome.PRESENT
    record.outcome = VersionOutcome.SKIPPED
    return []


@dataclass
class _Pending:
    spec: VersionSpec
    done: asyncio.Future[None]


class Finalizer:
    """Sets versions' final status, batching the ready versions of one package per call."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()

    async def finalize(self, spec: VersionSpec) -> None:
        """Wait until `spec` is at its target status; raises if the service refused."""
        pending = _Pending(spec, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        await pending.done

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def run(self) -> None:
        """Until closed: gather what is ready, one call per package (≤ 100 versions)."""
        closed = False
        while not closed:
            first = await self._queue.get()
            if first is None:
                return
            await asyncio.sleep(FINALIZE_LINGER_S)
            batch = [first]
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    closed = True
                    break
                batch.append(item)
            await asyncio.gather(*(self._call(group) for group in _by_package(batch)))

    async def _call(self, group: list[_Pending]) -> None:
        spec = group[0].spec
        versions = [p.spec.version for p in group]
        api = self._pipeline._api_()
        try:
            done, failed = await self._pipeline._with_retries(
                Family.FINALIZE,
                lambda: api.update_status(
                    _target(spec), _package(spec), versions, spec.status.value
                ),
            )
        except UploaderError as error:
            for pending in group:
                pending.done.set_exception(error)
            return
        for pending in group:
            await self._settle(pending, done, failed)

    async def _settle(
        self, pending: _Pending, done: set[str], failed: dict[str, tuple[str, str]]
    ) -> None:
        version = pending.spec.version
        if version in done:
            pending.done.set_result(None)
            return
        code, message = failed.get(version, ("MISSING", "not in the service's reply"))
        try:
            if code == "MISMATCHED_STATUS" and await self._already_there(pending.spec):
                pending.done.set_result(None)  # an earlier attempt's reply was lost
                return
        except UploaderError as error:
            pending.done.set_exception(error)
            return
        pending.done.set_exception(RejectedError(f"finalizing failed: {code}: {message}"))

    async def _already_there(self, spec: VersionSpec) -> bool:
        api = self._pipeline._api_()
        remote = await self._pipeline._with_retries(
            Family.LIST, lambda: api.describe_version(_target(spec), _package(spec), spec.version)
        )
        return remote is not None and remote.status == spec.status.value


def _by_package(batch: list[_Pending]) -> list[list[_Pending]]:
    groups: dict[tuple[object, ...], list[_Pending]] = defaultdict(list)
    for pending in batch:
        s = pending.spec
        key = (s.domain, s.domain_owner, s.repository, s.namespace, s.package, s.status)
        groups[key].append(pending)
    size = c.MAX_VERSIONS_PER_STATUS_UPDATE
    return [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]
