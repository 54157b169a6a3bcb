"""What the service's handlers share: settings, roots, the store, the broker, the scheduler.

Also how a job is shown (`job_json`: the same counters the progress display shows, the
rate and the limit) and what `/readyz` checks.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aioboto3
from aiohttp import web
from prometheus_client import Gauge

from uploader.config import RunSettings
from uploader.domain import Target
from uploader.errors import UploaderError
from uploader.limits import Family
from uploader.metrics import CONTENT_TYPE, Metrics
from uploader.service.broker import QuotaBroker
from uploader.service.jobs import Job, JobStore
from uploader.service.scheduler import Scheduler

# What a client sees of a job's settings: where it goes, never how we get there.
SHOWN_SETTINGS = ("domain", "domain_owner", "repository", "namespace", "status", "asset_root")


@dataclass
class ServiceState:
    """The service's parts, for the handlers."""

    base: RunSettings  # the service's settings: target and tuning, every job's defaults
    roots: Sequence[Path]
    store: JobStore
    broker: QuotaBroker
    scheduler: Scheduler
    metrics: Metrics = field(default_factory=Metrics)  # every job's figures, the quota's

    def __post_init__(self) -> None:
        registry = self.metrics.registry
        self._jobs = Gauge("uploader_jobs", "Jobs by state.", ["state"], registry=registry)
        self._queue = Gauge(
            "uploader_job_queue_depth", "Jobs waiting for a slot.", registry=registry
        )
        self._queue.set_function(lambda: self.scheduler.queue_depth)
        self.metrics.watch_limits(self.broker.limits)

    def root_for(self, wanted: str | None) -> Path:
        """The job's root: the first `--root`, or the one named (by its path)."""
        if wanted is None:
            return self.roots[0]
        for root in self.roots:
            if Path(wanted) == root or Path(wanted).resolve() == root:
                return root
        raise web.HTTPBadRequest(
            text=f'{{"error": "root: {wanted!r} is not one of the service\'s --root folders"}}',
            content_type="application/json",
        )

    def job_json(self, job: Job) -> dict[str, Any]:
        """A job as the API shows it."""
        live = self.scheduler.live(job.id)
        report = None if live is None else live.report
        counters = report.totals.to_json() if report is not None else dict(job.totals or {})
        elapsed_s = report.elapsed_s if report is not None else _elapsed(job)
        requests = counters.get("publish_requests", 0)
        return {
            "id": job.id,
            "state": job.state.value,
            "created": _iso(job.created_s),
            "started": _iso(job.started_s),
            "finished": _iso(job.finished_s),
            "runs": job.runs,
            "cancel_requested": job.cancel_requested,
            "settings": {k: job.settings.get(k) for k in SHOWN_SETTINGS},
            "counters": counters,
            "rate": {
                "publishes_per_s": round(requests / elapsed_s, 3) if elapsed_s else 0.0,
                "limit_per_s": self.broker.limits.rate_per_s(Family.PUBLISH),
            },
            "error": job.error,
            "links": {
                "self": f"/v1/jobs/{job.id}",
                "report": f"/v1/jobs/{job.id}/report",
                "cancel": f"/v1/jobs/{job.id}/cancel",
            },
        }

    async def refresh_job_counts(self) -> None:
        """The jobs-by-state gauge, from the table."""
        for state, n in (await self.store.counts()).items():
            self._jobs.labels(state=state.value).set(n)

    def metrics_text(self) -> tuple[bytes, str]:
        """The Prometheus exposition and its content type."""
        return self.metrics.render(), CONTENT_TYPE

    async def readiness_problems(self) -> list[str]:
        """Why the service cannot take work now (empty: ready)."""
        problems = []
        try:
            await self.store.check_writable()
        except Exception as error:
            problems.append(f"store: {self.store.data_dir} is not writable ({error})")
        problems += await _credentials_problems(self.base)
        if not problems and self.base.domain and self.base.repository:
            problems += await _target_problems(self.base)
        return problems


def _elapsed(job: Job) -> float:
    if job.started_s is None:
        return 0.0
    end = job.finished_s or datetime.datetime.now(datetime.UTC).timestamp()
    return max(0.0, end - job.started_s)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat()


async def _credentials_problems(settings: RunSettings) -> list[str]:
    session = aioboto3.Session(profile_name=settings.profile, region_name=settings.region)
    try:
        # A coroutine at run time (aiobotocore's session), whatever the stubs say.
        credentials = await cast("Awaitable[object]", session.get_credentials())
    except Exception as error:
        return [f"credentials: cannot resolve them ({type(error).__name__})"]
    return [] if credentials is not None else ["credentials: none found in the AWS chain"]


async def _target_problems(settings: RunSettings) -> list[str]:
    from uploader.runner import open_api  # noqa: PLC0415 - the client only when asked

    assert settings.domain is not None
    assert settings.repository is not None
    target = Target(settings.domain, settings.repository, settings.domain_owner)
    try:
        async with contextlib.AsyncExitStack() as stack:
            api, _ = await open_api(settings, stack)
            assert api is not None
            await api.describe_repository(target)
    except UploaderError as error:
        return [f"target: {target}: {error}"]
    return []
