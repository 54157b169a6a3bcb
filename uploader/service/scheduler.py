"""The service's job runner: queued jobs start in order, at most `--max-jobs` at once.

Each job is one `runner.run`, as `uploader run` would do it (its own journal, report,
workers), with two differences: its requests take their rate tokens from the service's
quota broker (one quota for all jobs), and it stops when told, not on the process's
signals (the service owns those). A cancel drains the job as a first SIGINT would; a
service stop drains every running job, which becomes `interrupted` and continues at the
next start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field

import structlog

from uploader import runner
from uploader.config import RunSettings
from uploader.domain import JobState
from uploader.errors import Outcome, UploaderError
from uploader.metrics import Metrics
from uploader.report import Report, Totals
from uploader.service.broker import QuotaBroker
from uploader.service.jobs import Job, JobStore

log = structlog.get_logger(__name__)


@dataclass
class Live:
    """A running job: its stop switch and, once the run made it, its report."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    report: Report | None = None
    task: asyncio.Task[None] | None = None


class Scheduler:
    """Starts queued jobs as slots free up; cancels and drains them."""

    def __init__(
        self, store: JobStore, broker: QuotaBroker, *, max_jobs: int, metrics: Metrics
    ) -> None:
        self._store = store
        self._broker = broker
        self._metrics = metrics
        self._max_jobs = max_jobs
        self._queue: deque[str] = deque()
        self._running: dict[str, Live] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.stopping = False

    def __repr__(self) -> str:
        return f"<Scheduler running={len(self._running)} queued={len(self._queue)}>"

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for a slot."""
        return len(self._queue)

    def live(self, job_id: str) -> Live | None:
        """The running job's live state, or None."""
        return self._running.get(job_id)

    async def start(self) -> None:
        """Queue every job the last service left unfinished, then start dealing slots."""
        for job in await self._store.requeue_unfinished():
            self._queue.append(job.id)
        if self._queue:
            log.info("continuing unfinished jobs", jobs=len(self._queue))
        self._loop_task = asyncio.create_task(self._loop(), name="scheduler")
        self._wake.set()

    def enqueue(self, job: Job) -> None:
        """A newly accepted job waits for its slot."""
        self._queue.append(job.id)
        self._wake.set()

    async def cancel(self, job: Job) -> Job:
        """Cancel a job: a queued one at once, a running one by draining it."""
        job = await self._store.request_cancel(job.id)
        if job.id in self._queue:
            self._queue.remove(job.id)
            return await self._store.ended(job.id, JobState.CANCELLED, error=None, totals={})
        live = self._running.get(job.id)
        if live is not None:
            live.stop.set()
        return job

    async def stop(self) -> None:
        """Start no job; drain the running ones (each within its --drain-timeout)."""
        self.stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        tasks = [live.task for live in self._running.values() if live.task is not None]
        for live in self._running.values():
            live.stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue and len(self._running) < self._max_jobs and not self.stopping:
                job = await self._store.get(self._queue.popleft())
                if job is not None and not job.state.finished:
                    live = self._running[job.id] = Live()
                    live.task = asyncio.create_task(self._run(job, live), name=f"job-{job.id}")

    async def _run(self, job: Job, live: Live) -> None:
        try:
            await self._store.started(job.id)
            with structlog.contextvars.bound_contextvars(job=job.id):
                log.info("job started", runs=job.runs + 1)
                state, error, totals = await self._run_job(job, live)
                log.info("job ended", state=state.value, error=error)
            await self._store.ended(job.id, state, error=error, totals=totals.to_json())
        finally:
            self._running.pop(job.id, None)
            self._wake.set()

    async def _run_job(self, job: Job, live: Live) -> tuple[JobState, str | None, Totals]:
        def keep(report: Report) -> None:
            live.report = report

        try:
            settings = RunSettings.from_json(job.settings)
            report = await runner.run(
                settings, limits=self._broker.share(job.id), stop=live.stop, on_report=keep,
                metrics=self._metrics,
            )  # fmt: skip
        except UploaderError as error:  # found before any work (an unwritable report)
            return JobState.FAILED, str(error), Totals()
        except Exception as error:  # a bug: the job fails, the service goes on
            log.exception("job crashed")
            return JobState.FAILED, f"internal error: {type(error).__name__}: {error}", Totals()
        return await self._state_of(job.id, report), _error_of(report), report.totals

    async def _state_of(self, job_id: str, report: Report) -> JobState:
        outcome = report.outcome()
        if outcome is Outcome.DONE:
            return JobState.SUCCEEDED
        if outcome is not Outcome.INTERRUPTED:
            return JobState.FAILED
        job = await self._store.get(job_id)
        if job is not None and job.cancel_requested:
            return JobState.CANCELLED
        return JobState.INTERRUPTED if self.stopping else JobState.FAILED


def _error_of(report: Report) -> str | None:
    if report.fatal is not None:
        return report.fatal
    return None if report.outcome() is Outcome.DONE else report.summary()
