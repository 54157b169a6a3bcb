"""The worker pool: manifest -> hash -> reconcile -> publish -> finalize, for every version.

    reader (thread, batches) ──► bounded queue ──► N version workers ──► Finalizer
                                                    │ hash (Hasher threads, hash cache)
                                                    │ what is done? the journal, else the
                                                    │   server (ListPackageVersions, then
                                                    │   Describe + List for what exists)
                                                    │ publish (≤ max_uploads at once, rate
                                                    │   limited, retried: remote.py)
                                                    ▼
                                          Journal + Report (outcomes, counters)

A worker stays with a version until its assets are sent; the version then waits for its
finalization in a task of its own (the finalizer lingers to batch a package's versions),
and the worker takes the next one. At most `workers + MAX_FINALIZING` versions are in
flight. One failing version never stops the others: its error is recorded and the
worker takes the next one. A `FatalRemoteError` (credentials, access, missing
domain/repository) ends the whole run: nothing else could succeed. `stop()` (a signal)
lets requests in flight end, starts nothing new, and leaves unfinished work pending for
the next run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

import structlog

from uploader.domain import (
    AssetOutcome,
    AssetState,
    PackageRef,
    RemoteAsset,
    RemoteVersion,
    Target,
    TargetStatus,
    VersionOutcome,
    VersionState,
    VersionStatus,
)
from uploader.errors import (
    ConflictError,
    FatalRemoteError,
    Interrupted,
    JournalError,
    RejectedError,
    RetryableRemoteError,
    UploaderError,
)
from uploader.finalizer import Finalizer
from uploader.hashing import (
    MAX_HASH_TRIES,
    FileChangedError,
    FileDigest,
    Hasher,
    open_unchanged,
)
from uploader.journal import Journal, JournalVersion, VersionKey
from uploader.limits import Family
from uploader.manifest import AssetSpec, Problem, VersionSpec, batches
from uploader.plan import Plan, different_content, plan_version
from uploader.remote import Remote, shared_task
from uploader.report import AssetRecord, Report, VersionRecord

log = structlog.get_logger(__name__)

READ_BATCH: Final = 64  # manifest entries read per thread hop
QUEUE_PER_WORKER: Final = 2
MAX_FINALIZING: Final = 200  # versions sent and waiting for their finalization, at most
MAX_LISTED_VERSIONS: Final = 10_000  # above this, a package's versions are asked one by one
MAX_LISTED_PACKAGES: Final = 1_000  # packages whose version lists are kept (least recent go)
# Bytes of a version's small files kept in memory from hashing to sending (so at most
# this times --workers in all): sent without a second read, and exactly as hashed.
KEEP_BYTES_PER_VERSION: Final = 1024 * 1024
MAX_SEND_ROUNDS: Final = 3  # listings that may still lack sent assets before a version fails
_JOURNAL_STATE: Final = {
    VersionOutcome.FINALIZED: VersionState.FINALIZED,
    VersionOutcome.UNFINISHED: VersionState.UNFINISHED,
    VersionOutcome.SKIPPED: VersionState.SKIPPED,
    VersionOutcome.FAILED: VersionState.FAILED,
}


@dataclass(frozen=True)
class Options:
    """How hard to work.

    Args:
        workers: versions in flight at once.
        max_uploads: asset uploads in flight at once, across all versions.
        dry_run: validate and hash only; send nothing.
        create_missing: create a missing domain/repository (the `--local` emulator) instead
            of stopping with exit 3.
        scope: names the endpoint in journal keys (`local:DIR`, or the endpoint URL).
        resume: use the journal: skip what it says is done, and its hash cache.
        reconcile: ask the service about every version, even those the journal says are
            done (the hash cache is still used).
    """

    workers: int = 8
    max_uploads: int = 16
    dry_run: bool = False
    create_missing: bool = False
    scope: str = ""
    resume: bool = True
    reconcile: bool = False


def shard_of(spec: VersionSpec, shards: int) -> int:
    """The 1-based shard of a version: by package, so a package's versions stay together."""
    key = f"{spec.domain}/{spec.repository}/{spec.namespace}/{spec.package}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % shards + 1


def in_shard(
    entries: Iterator[VersionSpec | Problem], shard: tuple[int, int]
) -> Iterator[VersionSpec | Problem]:
    """The entries of shard (k, n): its versions, and every manifest problem."""
    k, n = shard
    for entry in entries:
        if n == 1 or isinstance(entry, Problem) or shard_of(entry, n) == k:
            yield entry


def in_part(
    entries: Iterator[VersionSpec | Problem], part: tuple[int, int]
) -> Iterator[VersionSpec | Problem]:
    """The entries of process j of m (`--processes`): every m-th version, round robin, so
    the processes get equal shares however the packages are sized; the manifest's problems
    go to the first process only, so each is reported once."""
    j, m = part
    index = 0
    for entry in entries:
        if isinstance(entry, Problem):
            if j == 1:
                yield entry
            continue
        if index % m == j - 1:
            yield entry
        index += 1


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


@dataclass
class _Job:
    """One version on its way: what the manifest says, what we found, what happened."""

    spec: VersionSpec
    record: VersionRecord
    key: VersionKey
    digests: dict[str, FileDigest]

    def pairs(self) -> list[tuple[AssetSpec, AssetRecord]]:
        return list(zip(self.spec.assets, self.record.assets, strict=True))

    def wanted(self) -> dict[str, str]:
        """Asset name -> the SHA-256 the service must hold."""
        return {name: digest.sha256 for name, digest in self.digests.items()}

    def drop_contents(self) -> None:
        """Forget the kept bytes of small files (a later send reads the file again)."""
        for name, digest in self.digests.items():
            if digest.content is not None:
                self.digests[name] = dataclasses.replace(digest, content=None)


class Pipeline:
    """Runs a manifest's versions through hashing, publishing and finalization.

    Args:
        remote: the rate-limited, retried calls; None only with `options.dry_run`.
        hasher: the shared hashing pool.
        report: where outcomes go.
        options: concurrency and behaviour.
        journal: the resume journal; None keeps no record.
        finalizer: sets the versions' statuses (default: one over `remote`).
    """

    def __init__(
        self,
        remote: Remote | None,
        hasher: Hasher,
        report: Report,
        options: Options,
        *,
        journal: Journal | None = None,
        finalizer: Finalizer | None = None,
    ) -> None:
        if remote is None and not options.dry_run:
            raise ValueError("a client is needed unless this is a dry run")
        self._remote = remote
        self._hasher = hasher
        self._report = report
        self._options = options
        self._journal = journal
        self._stopping = asyncio.Event()
        self._uploads = asyncio.Semaphore(options.max_uploads)
        # Versions in flight: `workers` sending, the rest waiting for their finalization.
        self._in_flight = asyncio.Semaphore(options.workers + MAX_FINALIZING)
        self._targets: dict[Target, asyncio.Future[None]] = {}
        # (target, namespace, package) -> its versions on the service when first asked
        self._packages: OrderedDict[
            PackageRef, asyncio.Future[dict[str, VersionStatus | None] | None]
        ] = OrderedDict()
        self._finalizer = finalizer or (None if remote is None else Finalizer(remote))

    def __repr__(self) -> str:
        return f"<Pipeline {self._options} {self._report!r}>"

    def stop(self) -> None:
        """Take no new version, start no new request; what is in flight may end."""
        self._stopping.set()
        if self._remote is not None:
            self._remote.stop()

    def _remote_(self) -> Remote:
        assert self._remote is not None, "no client in a dry run"
        return self._remote

    # --- the pool ---------------------------------------------------------------------------

    async def run(self, entries: Iterator[VersionSpec | Problem]) -> None:
        """Process every entry; returns when all are done or raises FatalRemoteError."""
        size = self._options.workers * QUEUE_PER_WORKER
        queue: asyncio.Queue[VersionSpec | None] = asyncio.Queue(size)
        try:
            async with asyncio.TaskGroup() as group:
                if self._finalizer is not None:
                    group.create_task(self._finalizer.run())
                async with asyncio.TaskGroup() as versions:
                    for _ in range(self._options.workers):
                        versions.create_task(self._worker(queue, versions))
                    await self._read(entries, queue)
                if self._finalizer is not None:
                    self._finalizer.close()
        except* (FatalRemoteError, JournalError) as fatal:
            raise _most_severe(fatal) from None
        finally:
            self._report.totals.bytes_hashed = self._hasher.bytes_hashed
            while not queue.empty():  # read, never started (the run was cancelled)
                if (spec := queue.get_nowait()) is not None:
                    self._report.add_version(_new_record(spec))

    async def _read(
        self, entries: Iterator[VersionSpec | Problem], queue: asyncio.Queue[VersionSpec | None]
    ) -> None:
        """Feed the queue from the manifest, reading it in a thread in small batches.

        Once stopping, the rest of the manifest is still read, but only to list each of
        its versions as `pending` in the report: the report accounts for every version.
        """
        try:
            async for batch in batches(entries, READ_BATCH):
                for entry in batch:
                    if isinstance(entry, Problem):
                        self._problem(entry)
                    elif self._stopping.is_set() or not await self._offer(queue, entry):
                        self._report.add_version(_new_record(entry))
        except asyncio.CancelledError:
            self._report.unread = True
            raise
        for _ in range(self._options.workers):
            await queue.put(None)

    async def _offer(self, queue: asyncio.Queue[VersionSpec | None], spec: VersionSpec) -> bool:
        """Queue a version; False if a stop came first (the reader never waits past one)."""
        try:
            queue.put_nowait(spec)
            return True
        except asyncio.QueueFull:
            pass
        put = asyncio.ensure_future(queue.put(spec))
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((put, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            put.cancel()  # a put already done stays done: the version is in the queue
        return put.done() and not put.cancelled()

    def _problem(self, problem: Problem) -> None:
        log.error(str(problem), event_kind="manifest_problem")
        self._report.add_problem(str(problem.place), problem.message)

    async def _worker(
        self, queue: asyncio.Queue[VersionSpec | None], versions: asyncio.TaskGroup
    ) -> None:
        """Take versions one by one; each goes on in a task of its own once its assets are
        sent, so its finalization (which lingers to batch) does not hold the worker."""
        while (spec := await queue.get()) is not None:
            await self._in_flight.acquire()
            sent = asyncio.Event()
            versions.create_task(self._one(spec, sent))
            await sent.wait()

    async def _one(self, spec: VersionSpec, sent: asyncio.Event) -> None:
        record = _new_record(spec)
        try:
            with structlog.contextvars.bound_contextvars(
                namespace=spec.namespace, package=spec.package, version=spec.version
            ):
                await self._guarded(spec, record, sent)
        except asyncio.CancelledError:
            _left_pending(record)  # the drain ran out: still in the report, as pending
            raise
        finally:
            self._report.add_version(record)
            sent.set()
            self._in_flight.release()

    async def _guarded(self, spec: VersionSpec, record: VersionRecord, sent: asyncio.Event) -> None:
        """One version; its errors become its outcome (fatal ones end the run)."""
        key = self._key(spec)
        try:
            if self._stopping.is_set():
                raise Interrupted("stopping")
            await self._version(spec, record, key, sent)
        except Interrupted:
            record.outcome = VersionOutcome.PENDING
        except (FatalRemoteError, JournalError):
            raise  # nothing else can succeed, or be recorded
        except UploaderError as error:
            record.outcome = VersionOutcome.FAILED
            record.error = str(error)
            log.warning("version failed", error=str(error))
        for asset in record.assets:
            if asset.outcome is AssetOutcome.HASHED and not self._options.dry_run:
                asset.outcome = AssetOutcome.PENDING  # hashed, never sent
        if self._journal is not None and record.outcome in _JOURNAL_STATE:
            await self._journal.version_done(key, _JOURNAL_STATE[record.outcome], record.error)

    def _key(self, spec: VersionSpec) -> VersionKey:
        owner = spec.domain_owner or ""
        scope = f"{self._options.scope}|{spec.domain}|{owner}|{spec.repository}"
        return VersionKey(scope, spec.namespace, spec.package, spec.version)

    # --- one version ---------------------------------------------------------------------------

    async def _version(
        self, spec: VersionSpec, record: VersionRecord, key: VersionKey, sent: asyncio.Event
    ) -> None:
        # Both ask the journal: at once, they share one of its transactions.
        digests, known = await asyncio.gather(self._hash_all(spec, record), self._journaled(key))
        job = _Job(spec, record, key, digests)
        if self._options.dry_run:
            record.outcome = VersionOutcome.HASHED
            return
        if known is not None and _done_in_journal(known, job):
            _mark_present(job.pairs())
            record.outcome = VersionOutcome.SKIPPED
            log.info("version skipped", reason="done in an earlier run (journal)")
            return
        await self._ensure_target(spec.target)
        plan = _checked(plan_version(job.wanted(), await self._server_version(job)))
        self._mark(job, plan)
        if plan.complete:
            record.outcome = VersionOutcome.SKIPPED
            log.info("version skipped", reason="already on the server with the same assets")
            await self._confirm(job, plan.present)
            return
        await self._start(job, plan)
        revision = await self._send_until_whole(job, plan, sent)
        await self._finish(job, revision)

    async def _journaled(self, key: VersionKey) -> JournalVersion | None:
        """What the journal remembers, when it may be trusted to skip a finished version."""
        if self._journal is None or not self._options.resume or self._options.reconcile:
            return None
        if self._options.dry_run:
            return None
        return await self._journal.lookup(key)

    async def _server_version(self, job: _Job) -> RemoteVersion | None:
        """The version as the service holds it (None: it has no such version)."""
        if not await self._may_exist(job.spec):
            return None
        remote = self._remote_()
        return await remote.call(
            Family.LIST,
            lambda: remote.api.describe_version(job.spec.package_ref, job.spec.version),
        )

    async def _start(self, job: _Job, plan: Plan) -> None:
        """Record the version as pending, and what the service was seen to hold."""
        if self._journal is not None:
            sizes = {n: (d.sha256, d.size_bytes) for n, d in job.digests.items()}
            await self._journal.start_version(job.key, job.spec.status.value, sizes)
        await self._confirm(job, plan.present)

    async def _send_until_whole(self, job: _Job, plan: Plan, sent: asyncio.Event) -> str:
        """Send what the plan says, until a fresh listing shows the service holds exactly
        the manifest's assets; returns the revision that listing belongs to.

        A listing that still lacks assets (the version was deleted meanwhile, or a reply
        claimed more than was stored) sends them again, a few rounds at most.
        """
        for _ in range(MAX_SEND_ROUNDS):
            await self._publish_all(job, plan.send)
            job.drop_contents()  # the small files' bytes are sent: free them
            sent.set()
            listing = await self._listing(job)
            plan = _checked(plan_version(job.wanted(), listing))
            if not plan.send:
                assert listing is not None  # a plan for no version sends every asset
                return listing.revision
            log.warning("the service lacks assets that were sent; sending them again",
                        missing=list(plan.send))  # fmt: skip
            self._mark(job, plan)
        raise RejectedError(
            f"the service still lacks {list(plan.send)} after {MAX_SEND_ROUNDS} rounds of"
            " sending: not finalized"
        )

    async def _publish_all(self, job: _Job, names: tuple[str, ...]) -> None:
        by_name = {asset.name: (asset, record) for asset, record in job.pairs()}
        try:
            async with asyncio.TaskGroup() as group:
                for name in names:
                    group.create_task(self._publish(job, *by_name[name]))
        except BaseExceptionGroup as errors:
            raise _most_severe(errors) from None

    async def _listing(self, job: _Job) -> RemoteVersion | None:
        """The version's assets now (one ListPackageVersionAssets), as an Unfinished version:
        it is one, unless another hand finished it, which its finalization then finds."""
        remote = self._remote_()
        try:
            listing = await remote.call(
                Family.LIST,
                lambda: remote.api.list_assets(job.spec.package_ref, job.spec.version),
            )
        except RejectedError as error:
            if error.code == "ResourceNotFoundException":
                return None
            raise
        return RemoteVersion(VersionStatus.UNFINISHED, listing.revision, listing.assets)

    def _mark(self, job: _Job, plan: Plan) -> None:
        """Assets the service holds are `already_present`, the rest still pending."""
        for asset, record in job.pairs():
            if asset.name in plan.present and record.outcome is not AssetOutcome.PUBLISHED:
                record.outcome = AssetOutcome.PRESENT
            elif asset.name in plan.send:
                record.outcome = AssetOutcome.HASHED

    async def _may_exist(self, spec: VersionSpec) -> bool:
        """Whether the service may hold this version already.

        One ListPackageVersions per package (not a call per version) tells which versions
        exist; only those are described. A package with very many versions is not held
        in memory: its versions are then described one by one.
        """
        key = spec.package_ref
        task = self._packages.get(key)
        if task is not None:
            self._packages.move_to_end(key)
        else:
            remote = self._remote_()
            task = shared_task(
                remote.call(
                    Family.LIST,
                    lambda: remote.api.list_versions(key, limit=MAX_LISTED_VERSIONS),
                )
            )
            self._packages[key] = task
            if len(self._packages) > MAX_LISTED_PACKAGES:  # bounded memory: forget the oldest
                self._packages.popitem(last=False)
        versions = await asyncio.shield(task)
        return versions is None or spec.version in versions

    async def _confirm(self, job: _Job, names: tuple[str, ...]) -> None:
        """Record assets the service was seen to hold with the manifest's SHA-256."""
        if self._journal is not None:
            for name in names:
                await self._journal.asset_published(job.key, name, job.digests[name].sha256)

    async def _hash_all(self, spec: VersionSpec, record: VersionRecord) -> dict[str, FileDigest]:
        keep_bytes = 0 if self._options.dry_run else KEEP_BYTES_PER_VERSION
        digests = await self._hasher.digest_all(
            [a.path for a in spec.assets], keep_bytes=keep_bytes
        )
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

    async def _finish(self, job: _Job, revision: str) -> None:
        spec, record = job.spec, job.record
        if spec.status is TargetStatus.UNFINISHED:
            record.outcome = VersionOutcome.UNFINISHED
            log.info("version left unfinished", assets=len(spec.assets))
            return
        assert self._finalizer is not None
        await self._finalizer.finalize(spec, revision, job.wanted())
        record.outcome = VersionOutcome.FINALIZED
        log.info("version finalized", status=spec.status.value, assets=len(spec.assets))

    async def _ensure_target(self, target: Target) -> None:
        """Check each domain/repository once per run (create it for `--local`)."""
        task = self._targets.get(target)
        if task is None:
            task = shared_task(self._check_target(target))
            self._targets[target] = task
        await asyncio.shield(task)

    async def _check_target(self, target: Target) -> None:
        """Fail the whole run (exit 3) if the repository cannot be reached or used."""
        remote = self._remote_()
        try:
            if self._options.create_missing:
                await remote.call(Family.WRITE, lambda: remote.api.create_repository(target))
            await remote.call(Family.LIST, lambda: remote.api.describe_repository(target))
        except (FatalRemoteError, Interrupted):
            raise
        except UploaderError as error:
            raise FatalRemoteError(f"cannot use {target}: {error}") from error

    # --- one asset --------------------------------------------------------------------------

    async def _publish(self, job: _Job, asset: AssetSpec, record: AssetRecord) -> None:
        with structlog.contextvars.bound_contextvars(asset=asset.name):
            try:
                record.outcome = await self._remote_().call(
                    Family.PUBLISH, lambda: self._publish_once(job, asset), self._uploads
                )
            except (Interrupted, asyncio.CancelledError):
                record.outcome = AssetOutcome.PENDING
                raise
            except BaseException as error:
                record.outcome = AssetOutcome.FAILED
                if self._journal is not None and isinstance(error, UploaderError):
                    await self._journal.asset_failed(job.key, asset.name, str(error))
                raise
        digest = job.digests[asset.name]
        if self._journal is not None:
            await self._journal.asset_published(job.key, asset.name, digest.sha256)
        if record.outcome is AssetOutcome.PUBLISHED:
            self._report.totals.bytes_published += digest.size_bytes

    async def _publish_once(self, job: _Job, asset: AssetSpec) -> AssetOutcome:
        """One attempt; it counts only when the reply names the asset with our SHA-256."""
        body = await self._body(job, asset)
        digest = job.digests[asset.name]
        self._report.totals.publish_requests += 1
        try:
            reply = await self._remote_().api.publish(
                job.spec.package_ref, job.spec.version,
                asset_name=asset.name, body=body, sha256=digest.sha256,
                size_bytes=digest.size_bytes,
            )  # fmt: skip
        except ConflictError:
            return await self._resolve_conflict(job, asset)
        if reply.confirms(asset.name, digest.sha256):
            return AssetOutcome.PUBLISHED
        if reply.asset_name == asset.name and reply.sha256:
            raise RejectedError(f"server stored SHA-256 {reply.sha256}, sent {digest.sha256}")
        # A reply that does not say what was stored: ask the service what it holds.
        found = await self._asset_on_server(job, asset.name)
        if found is not None and found.sha256 == digest.sha256:
            return AssetOutcome.PUBLISHED
        raise RetryableRemoteError(
            f"the reply to publishing {asset.name} did not confirm it (it named"
            f" {reply.asset_name or 'no asset'!r}, SHA-256 {reply.sha256 or 'none'}),"
            " and the service does not hold it",
            code="UnconfirmedPublish",
        )

    async def _body(self, job: _Job, asset: AssetSpec) -> bytes | BinaryIO:
        """The body to send: the bytes hashed if they were kept, else the very file that was
        hashed, re-hashed if it changed since."""
        content = job.digests[asset.name].content
        if content is not None:
            return content
        for _ in range(MAX_HASH_TRIES):
            try:
                return await asyncio.to_thread(open_unchanged, asset.path, job.digests[asset.name])
            except FileChangedError:
                log.warning("file changed since hashing; hashing again", path=str(asset.path))
                fresh = await self._hasher.digest(asset.path)
                if asset.sha256 is not None and fresh.sha256 != asset.sha256:
                    raise RejectedError(
                        f"{asset.place}: file changed and no longer matches its sha256"
                    ) from None
                job.digests[asset.name] = fresh
        raise RejectedError(f"{asset.path}: file keeps changing; not sent")

    async def _resolve_conflict(self, job: _Job, asset: AssetSpec) -> AssetOutcome:
        """A conflict may be our own earlier attempt whose reply was lost: look it up."""
        found = await self._asset_on_server(job, asset.name)
        sha256 = job.digests[asset.name].sha256
        if found is not None and found.sha256 == sha256:
            log.info("asset already stored by an earlier attempt")
            return AssetOutcome.PRESENT
        if found is None:
            raise ConflictError(
                f"cannot add {asset.name}: version {job.spec.version} is no longer Unfinished"
                " on the server: a finished version takes no new assets; publish a new version"
            )
        raise ConflictError(different_content(asset.name, found, sha256))

    async def _asset_on_server(self, job: _Job, name: str) -> RemoteAsset | None:
        """The asset as the service holds it now (inside a publish attempt: not retried
        on its own, the attempt is)."""
        remote = self._remote_()
        await remote.limits.acquire(Family.LIST)
        try:
            listing = await remote.api.list_assets(job.spec.package_ref, job.spec.version)
        except RejectedError as error:
            if error.code == "ResourceNotFoundException":
                return None
            raise
        return listing.assets.get(name)


def _most_severe(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that decides a version's fate when several of its uploads failed."""
    flat: list[BaseException] = []
    pending = [errors]
    while pending:
        for error in pending.pop().exceptions:
            if isinstance(error, BaseExceptionGroup):
                pending.append(error)
            else:
                flat.append(error)
    for kind in (FatalRemoteError, JournalError, Interrupted, UploaderError):
        for error in flat:
            if isinstance(error, kind):
                return error
    return errors  # not ours: a bug, keep every traceback


def _left_pending(record: VersionRecord) -> None:
    """A version cancelled before its outcome was known: pending, and so is every asset
    not yet confirmed."""
    if record.outcome in (VersionOutcome.PENDING, VersionOutcome.HASHED):
        record.outcome = VersionOutcome.PENDING
    for asset in record.assets:
        if asset.outcome is AssetOutcome.HASHED:
            asset.outcome = AssetOutcome.PENDING


def _mark_present(pairs: list[tuple[AssetSpec, AssetRecord]]) -> None:
    for _, record in pairs:
        record.outcome = AssetOutcome.PRESENT


def _done_in_journal(known: JournalVersion, job: _Job) -> bool:
    """The journal saw this exact version (same files, same target) through to the end."""
    wanted = {name: (d.sha256, AssetState.PUBLISHED) for name, d in job.digests.items()}
    return (
        known.state.done and known.target_status == job.spec.status.value and known.assets == wanted
    )


def _checked(plan: Plan) -> Plan:
    """The plan, unless it is a conflict: then the version fails with its message."""
    if plan.conflict is not None:
        raise ConflictError(plan.conflict)
    return plan
