"""The worker pool: manifest -> bounded queue -> workers -> one version flow each.

    reader (thread, batches) ──► bounded queue ──► N version workers ──► Finalizer
                                                    │ sending.Sender: hash, plan, send
                                                    │   (or sending.HashOnly: a dry run)
                                                    ▼
                                          outcomes.Outcomes: journal + report

The pool owns only concurrency: the queue, the workers, the in-flight limits and the
stop. What a version needs is decided in plan.py, done in sending.py, asked of the
service in service_view.py, and written down in outcomes.py.

A worker stays with a version until its assets are sent; the version then waits for its
finalization in a task of its own (the finalizer lingers to batch a package's versions),
and the worker takes the next one. At most `workers + MAX_FINALIZING` versions are in
flight. One failing version never stops the others: its error is its outcome and the
worker takes the next one. A `FatalRemoteError` (credentials, access, missing
domain/repository) or a `JournalError` ends the whole run: nothing else could succeed
(or be recorded). `stop()` (a signal) lets requests in flight end, starts nothing new,
and leaves unfinished work pending for the next run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Final

import structlog

from uploader.assets import Assets
from uploader.config import RunSettings
from uploader.domain import VersionOutcome
from uploader.errors import FatalRemoteError, Interrupted, JournalError, UploaderError
from uploader.finalizer import Finalizer
from uploader.journal import Journal
from uploader.manifest import Problem, VersionSpec, batches
from uploader.outcomes import Job, Outcomes
from uploader.remote import Remote
from uploader.report import Report
from uploader.sending import HashOnly, Sender, VersionFlow, most_severe
from uploader.service_view import ServiceView

log = structlog.get_logger(__name__)

READ_BATCH: Final = 512  # manifest entries read per thread hop
QUEUE_PER_WORKER: Final = 2
MAX_FINALIZING: Final = 200  # versions sent and waiting for their finalization, at most


class Pipeline:
    """Runs a manifest's versions through hashing, publishing and finalization.

    Args:
        remote: the rate-limited, retried calls; None only for a dry run.
        assets: the assets' digests and bodies (the hashing pool, the remote stores).
        report: where outcomes go.
        settings: how hard to work (`workers`, `max_uploads`), and what to trust
            (`dry_run`, `resume`, `reconcile`, `local` to create a missing repository).
        scope: names the endpoint in journal keys (`local:DIR`, or the endpoint URL).
        journal: the resume journal; None keeps no record.
        finalizer: sets the versions' statuses (default: one over `remote`).
    """

    def __init__(
        self,
        remote: Remote | None,
        assets: Assets,
        report: Report,
        settings: RunSettings,
        *,
        scope: str = "",
        journal: Journal | None = None,
        finalizer: Finalizer | None = None,
    ) -> None:
        if remote is None and not settings.dry_run:
            raise ValueError("a client is needed unless this is a dry run")
        self._remote = remote
        self._assets = assets
        self._report = report
        self._workers = settings.workers
        self._scope = scope
        self._stopping = asyncio.Event()
        # Versions in flight: `workers` sending, the rest waiting for their finalization.
        self._in_flight = asyncio.Semaphore(settings.workers + MAX_FINALIZING)
        self._outcomes = Outcomes(report, journal)
        self._finalizer: Finalizer | None = None
        self._flow: VersionFlow
        if remote is None:
            self._flow = HashOnly(assets, self._outcomes)
        else:
            self._finalizer = finalizer or Finalizer(remote)
            self._flow = Sender(
                remote, ServiceView(remote, create_missing=settings.local), assets,
                self._outcomes, self._finalizer, max_uploads=settings.max_uploads,
                trust_journal=settings.resume and not settings.reconcile,
            )  # fmt: skip

    def __repr__(self) -> str:
        return f"<Pipeline workers={self._workers} {self._flow!r} {self._report!r}>"

    def stop(self) -> None:
        """Take no new version, start no new request; what is in flight may end."""
        self._stopping.set()
        if self._remote is not None:
            self._remote.stop()

    async def run(self, entries: Iterator[VersionSpec | Problem]) -> None:
        """Process every entry; returns when all are done or raises FatalRemoteError."""
        queue: asyncio.Queue[Job | None] = asyncio.Queue(self._workers * QUEUE_PER_WORKER)
        try:
            async with asyncio.TaskGroup() as group:
                if self._finalizer is not None:
                    group.create_task(self._finalizer.run())
                async with asyncio.TaskGroup() as versions:
                    for _ in range(self._workers):
                        versions.create_task(self._worker(queue, versions))
                    await self._read(entries, queue)
                if self._finalizer is not None:
                    self._finalizer.close()
        except* (FatalRemoteError, JournalError) as fatal:
            raise most_severe(fatal) from None
        finally:
            self._report.totals.bytes_hashed = self._assets.bytes_hashed
            self._report.totals.bytes_downloaded = self._assets.bytes_downloaded
            while not queue.empty():  # read, never started (the run was cancelled)
                if (job := queue.get_nowait()) is not None:
                    self._outcomes.never_started(job.spec)

    async def _read(
        self, entries: Iterator[VersionSpec | Problem], queue: asyncio.Queue[Job | None]
    ) -> None:
        """Feed the queue from the manifest, reading it in a thread in small batches.

        Each batch's versions the journal knows done are settled first, together, without
        a worker (`skip_known_done`). Once stopping, the rest of the manifest is still
        read, but only to list each of its versions as `pending` in the report: the
        report accounts for every version.
        """
        try:
            async for batch in batches(entries, READ_BATCH):
                jobs = []
                for entry in batch:
                    if isinstance(entry, Problem):
                        self._outcomes.problem(entry)
                    else:
                        jobs.append(Job.of(entry, self._scope))
                if jobs and not self._stopping.is_set():
                    jobs = await self._flow.skip_known_done(jobs)
                for job in jobs:
                    if self._stopping.is_set() or not await self._offer(queue, job):
                        self._outcomes.never_started(job.spec)
        except asyncio.CancelledError:
            self._report.unread = True
            raise
        for _ in range(self._workers):
            await queue.put(None)

    async def _offer(self, queue: asyncio.Queue[Job | None], job: Job) -> bool:
        """Queue a version; False if a stop came first (the reader never waits past one)."""
        try:
            queue.put_nowait(job)
            return True
        except asyncio.QueueFull:
            pass
        put = asyncio.ensure_future(queue.put(job))
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((put, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            put.cancel()  # a put already done stays done: the version is in the queue
        return put.done() and not put.cancelled()

    async def _worker(self, queue: asyncio.Queue[Job | None], versions: asyncio.TaskGroup) -> None:
        """Take versions one by one; each goes on in a task of its own once its assets are
        sent, so its finalization (which lingers to batch) does not hold the worker."""
        while (job := await queue.get()) is not None:
            await self._in_flight.acquire()
            sent = asyncio.Event()
            versions.create_task(self._one(job, sent))
            await sent.wait()

    async def _one(self, job: Job, sent: asyncio.Event) -> None:
        spec = job.spec
        try:
            with structlog.contextvars.bound_contextvars(
                namespace=spec.namespace, package=spec.package, version=spec.version
            ):
                await self._guarded(job, sent)
        except BaseException:  # the drain ran out, or the run ends: in the report, pending
            self._outcomes.cancelled(job)
            raise
        finally:
            sent.set()
            self._in_flight.release()

    async def _guarded(self, job: Job, sent: asyncio.Event) -> None:
        """One version; its errors become its outcome (fatal ones end the run)."""
        try:
            if self._stopping.is_set():
                raise Interrupted("stopping")
            await self._flow.process(job, sent)
        except Interrupted:
            self._outcomes.ended(job, VersionOutcome.PENDING)
        except (FatalRemoteError, JournalError):
            raise  # nothing else can succeed, or be recorded
        except UploaderError as error:
            self._outcomes.ended(job, VersionOutcome.FAILED, str(error))
            log.warning("version failed", error=str(error))
        await self._outcomes.close(job, sent=self._flow.sends)
