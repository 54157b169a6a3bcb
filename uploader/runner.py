"""`uploader run` as one function: settings in, a finished Report out.

Composes the pieces (manifest reader, emulator for `--local`, client, journal, hasher,
limits, pipeline, report), owns their lifetimes and the signals: the first SIGINT or
SIGTERM stops new work and lets requests in flight end (up to the drain timeout); a
second one cancels at once. Either way the journal is closed cleanly, the report is
written and the exit code is 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from rich.console import Console

from uploader import constants as c
from uploader.api import RequestObserver
from uploader.assets import Assets
from uploader.codeartifact import ClientSettings, CodeArtifact, open_client
from uploader.config import LOCAL_CREDENTIALS, RunSettings
from uploader.errors import FatalRemoteError, JournalError
from uploader.filters import manifest_entries
from uploader.hashing import Hasher
from uploader.journal import Journal, JournalLock
from uploader.limits import Limits
from uploader.manifest import Problem, VersionSpec, count_entries
from uploader.openfiles import SPARE_CONNECTIONS, fit_open_files
from uploader.pipeline import Pipeline
from uploader.progress import ProgressDisplay
from uploader.remote import Remote
from uploader.report import Report, Totals, check_report_path
from uploader.verify import Finding, Tally, Verifier

if TYPE_CHECKING:
    from uploader.metrics import Metrics

log = structlog.get_logger(__name__)
CONNECTIONS_BEYOND_UPLOADS = SPARE_CONNECTIONS  # for list, describe and finalize calls
Sleep = Callable[[float], Awaitable[None]]


async def open_api(
    settings: RunSettings,
    stack: contextlib.AsyncExitStack,
    observer: RequestObserver | None = None,
) -> tuple[CodeArtifact | None, str]:
    """The client for this run and the scope naming its endpoint in the journal.

    None for a dry run; the embedded emulator for `--local`, whose scope is its folder
    (its port changes from run to run). `observer` hears of every request (metrics).
    """
    max_connections = settings.max_uploads + CONNECTIONS_BEYOND_UPLOADS
    if settings.dry_run:
        return None, "dry-run"
    client_settings = ClientSettings(
        region=settings.region,
        profile=settings.profile,
        endpoint_url=settings.endpoint_url,
        max_connections=max_connections,
    )
    scope = ""
    if settings.local:
        # Imported here: aiohttp's server is not loaded by every run (~60 ms per process).
        from uploader.emulator import Emulator  # noqa: PLC0415

        emulator = await stack.enter_async_context(Emulator(settings.local_dir))
        log.info("local emulator started", endpoint=emulator.endpoint_url)
        scope = f"local:{settings.local_dir.resolve()}"
        client_settings = ClientSettings(
            region=settings.region or c.DEFAULT_REGION,
            endpoint_url=emulator.endpoint_url,
            max_connections=max_connections,
            access_key_id=LOCAL_CREDENTIALS[0],
            secret_access_key=LOCAL_CREDENTIALS[1],
        )
    client = await stack.enter_async_context(open_client(client_settings))
    return CodeArtifact(client, observer=observer), scope or str(client.meta.endpoint_url)


async def _open_journal(
    settings: RunSettings, stack: contextlib.AsyncExitStack, *, lock: bool
) -> Journal | None:
    """The journal, locked for this run unless `lock` is False (a `--processes` child:
    its parent holds the lock for all of them). Raises JournalError if another run has it."""
    if settings.dry_run:
        return None
    if lock:
        stack.enter_context(JournalLock(settings.journal_path()))
    return await stack.enter_async_context(Journal(settings.journal_path()))


async def run(
    settings: RunSettings,
    *,
    sleep: Sleep = asyncio.sleep,
    console: Console | None = None,
    part_dir: Path | None = None,
    on_listening: Callable[[], None] | None = None,
    limits: Limits | None = None,
    stop: asyncio.Event | None = None,
    on_report: Callable[[Report], None] | None = None,
    metrics: Metrics | None = None,
) -> Report:
    """Upload everything the manifest lists; the report says how it went.

    Args:
        settings: what to upload, where, how hard.
        sleep: the retry back-off's sleep (tests observe the waits through it).
        console: where to draw progress (a terminal); None draws nothing.
        part_dir: this process runs a share of a `--processes` run (parts.py): its
            report goes to this folder, for the parent to merge.
        on_listening: called once SIGINT and SIGTERM stop the run gracefully.
        limits: the rate limits to share (service mode: this job's share of the
            service's quota); None makes the settings' own.
        stop: set, it stops the run as a first signal would (drain, then `interrupted`);
            given, the run leaves the process's signals alone (service mode: many runs
            share one process, which owns its signals).
        metrics: where this run's figures go (the service's, shared by its jobs); None
            makes one when `--metrics-addr` or `--metrics-file` asks for it. The run's
            counters are watched while it runs and retired at its end; the rate limits
            shown are the run's own only in a Metrics the run made.

    Raises InvalidInputError before any work if the report could not be written.
    """
    if settings.processes > 1:
        raise ValueError("a run of several processes is parts.run_parts's")
    check_report_path(settings.report)
    settings = fit_open_files(settings)
    report = Report(settings.report, part_dir=part_dir)
    if on_report is not None:
        on_report(report)
    own_metrics = metrics is None
    metrics = _metrics_asked_for(settings) if metrics is None else metrics
    try:
        async with contextlib.AsyncExitStack() as stack:
            if metrics is not None:
                await stack.enter_async_context(_observing(metrics, report, settings))
            await _run(settings, report, stack, sleep, console, on_listening=on_listening,
                       child=part_dir is not None, limits=limits, stop=stop,
                       metrics=metrics, show_limits=own_metrics)  # fmt: skip
        if part_dir is not None:
            _write_part(report)
        report.write()
    finally:
        report.close()
    return report


def _metrics_asked_for(settings: RunSettings) -> Metrics | None:
    """A Metrics of this run's own, if its settings ask for metrics."""
    if settings.metrics_addr is None and settings.metrics_file is None:
        return None
    # Imported here: prometheus_client is loaded only by the runs that want metrics.
    from uploader.metrics import Metrics  # noqa: PLC0415

    return Metrics()


def _observing(
    metrics: Metrics, report: Report, settings: RunSettings
) -> contextlib.AbstractAsyncContextManager[None]:
    from uploader.metrics import observing  # noqa: PLC0415

    return observing(metrics, report.totals, address=settings.metrics_addr,
                     textfile=settings.metrics_file)  # fmt: skip


def _write_part(report: Report) -> None:
    """This share's counters for the parent; if they cannot be written (a full disk), the
    parent reports this process as ended without a report."""
    try:
        report.write_part()
    except OSError as error:
        log.error("cannot write this process's share of the report", error=str(error))


async def _run(
    settings: RunSettings,
    report: Report,
    stack: contextlib.AsyncExitStack,
    sleep: Sleep,
    console: Console | None,
    *,
    on_listening: Callable[[], None] | None = None,
    child: bool = False,
    limits: Limits | None = None,
    stop: asyncio.Event | None = None,
    metrics: Metrics | None = None,
    show_limits: bool = False,
) -> None:
    try:
        journal = await _open_journal(settings, stack, lock=not child)
        hasher = await stack.enter_async_context(
            Hasher(hash_threads=settings.hash_threads, cache=journal if settings.resume else None)
        )
        assets = await stack.enter_async_context(
            Assets.of(settings, hasher, journal if settings.resume else None)
        )
        api, scope = await open_api(settings, stack, observer=metrics)
        remote = None
        if api is not None:
            limits = limits or settings.rate_limits()
            remote = Remote(api, limits, report.totals, max_attempts=settings.max_attempts,
                            max_retry_after_s=settings.max_retry_after_s,
                            sleep=sleep, observer=metrics)  # fmt: skip
            if metrics is not None and show_limits:
                metrics.watch_limits(limits)
        pipeline = Pipeline(remote, assets, report, settings, scope=scope, journal=journal)
        display = await stack.enter_async_context(
            ProgressDisplay(
                report.totals,
                hasher=hasher,
                limits=None if remote is None else remote.limits,
                versions_total=_versions_total(settings),
                console=console,
                enabled=console is not None,
            )
        )
        entries = display.counting(manifest_entries(settings))
        await _until_done_or_stopped(
            pipeline, entries, settings, report, on_listening=on_listening, stop=stop
        )
    except (FatalRemoteError, JournalError) as error:
        report.fatal = str(error)
        log.error("cannot go on", error=str(error))


def _versions_total(settings: RunSettings) -> int | None:
    """The manifest's entry count for progress, when cheap to know (JSON Lines, no shard)."""
    whole = settings.shard[1] == 1 and settings.part[1] == 1
    return count_entries(settings.manifest) if whole else None


async def _until_done_or_stopped(
    pipeline: Pipeline,
    entries: Iterator[VersionSpec | Problem],
    settings: RunSettings,
    report: Report,
    *,
    on_listening: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the pipeline; on a signal (or `stop`), or at --max-duration, stop it gracefully
    (in-flight requests get --drain-timeout); on a second signal cancel it."""
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(pipeline.run(entries))

    def drain(why: str, **about: object) -> None:
        log.warning(f"{why}: no new work; letting requests in flight end",
                    drain_timeout_s=settings.drain_timeout_s, **about)  # fmt: skip
        pipeline.stop()
        loop.call_later(settings.drain_timeout_s, task.cancel)

    def on_signal(signum: int) -> None:
        if report.interrupted:
            log.warning("second signal: stopping now")
            task.cancel()
            return
        report.interrupted = True
        drain("stopping", signal=signal.Signals(signum).name)

    def out_of_time() -> None:
        if not report.interrupted:
            report.out_of_time = True
            drain("--max-duration reached", max_duration_s=settings.max_duration_s)

    with contextlib.ExitStack() as cleanup:
        if settings.max_duration_s is not None:
            cleanup.callback(loop.call_later(settings.max_duration_s, out_of_time).cancel)
        if stop is None:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, on_signal, signum)
                cleanup.callback(loop.remove_signal_handler, signum)
        else:
            cleanup.callback(asyncio.create_task(_on_stop(stop, report, drain)).cancel)
        if on_listening is not None:
            on_listening()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled() or _we_are_cancelled():
                raise
            log.warning("drain ended: requests still in flight were cancelled")


async def _on_stop(stop: asyncio.Event, report: Report, drain: Callable[[str], None]) -> None:
    """A stop asked for by the caller (service mode): a first signal, as far as the run goes."""
    await stop.wait()
    if not report.interrupted:
        report.interrupted = True
        drain("stop requested")


def _we_are_cancelled() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


async def verify(
    settings: RunSettings,
    *,
    on_finding: Callable[[Finding], None],
    on_problem: Callable[[Problem], None],
    console: Console | None = None,
) -> Tally:
    """Compare the service with the manifest's files; every file is read and hashed anew.

    `console` draws the same progress display as `run` (versions checked, bytes hashed).
    Raises FatalRemoteError when the service cannot be asked at all.
    """
    async with contextlib.AsyncExitStack() as stack:
        hasher = await stack.enter_async_context(Hasher(hash_threads=settings.hash_threads))
        assets = await stack.enter_async_context(Assets.of(settings, hasher, None))
        api, _ = await open_api(settings, stack)
        assert api is not None, "verify never runs dry"
        totals = Totals()
        remote = Remote(
            api, settings.rate_limits(), totals, max_attempts=settings.max_attempts,
            max_retry_after_s=settings.max_retry_after_s,
        )  # fmt: skip
        verifier = Verifier(remote, assets, workers=settings.workers, on_finding=on_finding,
                            on_problem=on_problem, download=settings.download)  # fmt: skip
        display = await stack.enter_async_context(
            ProgressDisplay(
                totals,
                hasher=hasher,
                limits=None,
                checked=verifier.tally,
                versions_total=_versions_total(settings),
                console=console,
                enabled=console is not None,
            )
        )
        return await verifier.run(display.counting(manifest_entries(settings)))
