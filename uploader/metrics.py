"""Prometheus metrics of uploads: one `Metrics` per process, a run's or the service's.

    uploader_versions_total{outcome}                  counter    versions ended (VersionOutcome)
    uploader_assets_total{outcome}                    counter    assets ended (AssetOutcome)
    uploader_published_bytes_total                    counter    bytes the service confirmed
    uploader_hashed_bytes_total                       counter    bytes read and hashed
    uploader_publish_requests_total                   counter    PublishPackageVersion attempts
    uploader_manifest_problems_total                  counter    manifest entries refused
    uploader_rate_limit_requests_per_second{family}   gauge      the current limit (limits.py)
    uploader_request_duration_seconds{operation}      histogram  each request, success or not
    uploader_retries_total{operation,reason}          counter    failed attempts tried again
    uploader_throttles_total{operation}               counter    of those, throttled ones

Where each figure comes from, so that nothing is counted twice:
- The first six are `report.Totals`, the counters every run keeps for its summary, read
  when scraped (`_TotalsCollector`). Several may be watched at once (the service: one
  per job) and are summed; `retire` folds an ended run's into a retained sum, so a
  counter never goes down when a job ends.
- The gauge is a `RateLimits` snapshot (anything with `snapshot()`), also read when scraped.
- The rest are counted as they happen: `Metrics` is the `RequestObserver` the client
  tells of each request (codeartifact.py: `operation` is the API name) and the
  `RetryObserver` `Remote` tells of each retry (`reason`: errors.RetryReason). Throttles
  are the retries whose reason is `throttled`: the report's `throttled`, by operation.

Every label value is a member of a closed set (an enum of ours, or `unknown`): no
message, name, credential, token or header can reach a label, whatever an error says.
Scrape from the event loop's thread (the counters are plain attributes of the run).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import (
    CONTENT_TYPE_PLAIN_0_0_4,
    generate_latest,
    write_to_textfile,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from uploader.api import Operation
from uploader.domain import AssetOutcome, VersionOutcome
from uploader.errors import InvalidInputError, RemoteError, RetryableRemoteError, RetryReason
from uploader.limits import Family, FamilySnapshot
from uploader.report import Totals

if TYPE_CHECKING:
    from aiohttp import web

CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4  # what `generate_latest` writes
PREFIX: Final = "uploader_"
UNKNOWN: Final = "unknown"  # the operation of an error no request raised
# From a listing's few milliseconds to a large asset's minutes (60 s base + 1 MiB/s).
DURATION_BUCKETS_S: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                             30.0, 60.0, 120.0, 300.0, 600.0)  # fmt: skip
_OPERATIONS: Final = frozenset(Operation)

log = structlog.get_logger(__name__)


class LimitsView(Protocol):
    """What the rate gauge reads: `RateLimits`, or the service's shared limits."""

    def snapshot(self) -> Mapping[Family, FamilySnapshot]:
        """Every family's current rate."""


class Metrics:
    """The metrics of every run of this process, in a registry of their own.

    Never the global `prometheus_client.REGISTRY`: two `Metrics` (two tests, two
    services in one process) never see each other's figures.
    """

    def __init__(self) -> None:
        # auto_describe: a collector added later is checked for clashing names too.
        self.registry = CollectorRegistry(auto_describe=True)
        self._watched: list[Totals] = []
        self._retired = Totals()
        self._limits: LimitsView | None = None
        self._durations = Histogram(
            PREFIX + "request_duration_seconds", "Seconds each CodeArtifact request took, "
            "by operation, whatever its outcome.", ["operation"], registry=self.registry,
            buckets=DURATION_BUCKETS_S,
        )  # fmt: skip
        self._retries = Counter(
            PREFIX + "retries", "Failed requests tried again, by operation and reason.",
            ["operation", "reason"], registry=self.registry,
        )  # fmt: skip
        self._throttles = Counter(
            PREFIX + "throttles", "Throttled requests tried again, by operation.",
            ["operation"], registry=self.registry,
        )  # fmt: skip
        self.registry.register(_TotalsCollector(self.totals))
        self.registry.register(_LimitsCollector(lambda: self._limits))

    def __repr__(self) -> str:
        return f"<Metrics watching={len(self._watched)} limits={self._limits is not None}>"

    # --- what is read when scraped ---------------------------------------------------------

    def watch(self, totals: Totals) -> None:
        """Count `totals` (a run's, as it goes) in every scrape until it is retired."""
        if not any(each is totals for each in self._watched):
            self._watched.append(totals)

    def retire(self, totals: Totals) -> None:
        """A watched run ended: keep its figures in the retained sum; again is a no-op."""
        for i, each in enumerate(self._watched):
            if each is totals:
                del self._watched[i]
                self._retired.add_json(totals.to_json())
                return

    def totals(self) -> Totals:
        """The retired runs' figures and the watched runs' figures, summed."""
        total = Totals()
        for each in (self._retired, *self._watched):
            total.add_json(each.to_json())
        return total

    def watch_limits(self, limits: LimitsView | None) -> None:
        """Show these limits' current rates (None: none); replaces the limits shown before."""
        self._limits = limits

    def add_collector(self, collector: Collector) -> None:
        """Add a collector of the caller's (the service: jobs by state, queue depth).

        Raises ValueError (prometheus_client's DuplicateTimeseries) on a name already used.
        """
        self.registry.register(collector)

    # --- what is counted as it happens (api.RequestObserver, api.RetryObserver) -------------

    def request_ended(
        self, operation: Operation, duration_s: float, error: RemoteError | None
    ) -> None:
        """One request of `operation` took `duration_s` (its error is not a label)."""
        self._durations.labels(operation=_operation(operation)).observe(max(0.0, duration_s))

    def retrying(self, error: RetryableRemoteError) -> None:
        """A failed attempt is tried again: count it by operation and reason."""
        operation = _operation(error.operation)
        self._retries.labels(operation=operation, reason=error.reason.value).inc()
        if error.reason is RetryReason.THROTTLED:
            self._throttles.labels(operation=operation).inc()

    # --- the exposition ---------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition (`CONTENT_TYPE`) of everything, now."""
        return generate_latest(self.registry)

    def write_textfile(self, path: Path) -> None:
        """Write `render()`'s text to `path` atomically, for node_exporter's textfile
        collector (a temporary file beside it, renamed over it). Raises OSError."""
        write_to_textfile(os.fspath(path), self.registry)


def _operation(name: str) -> str:
    """A label for an operation: one of ours, never free text."""
    return name if name in _OPERATIONS else UNKNOWN


class _TotalsCollector:
    """The run counters of `report.Totals`, every outcome always present (0 until seen)."""

    def __init__(self, totals: Callable[[], Totals]) -> None:
        self._totals = totals

    def collect(self) -> Iterable[Metric]:
        t = self._totals()
        yield _by_outcome("versions", "Package versions ended, by outcome.", t.versions,
                          [o.value for o in VersionOutcome])  # fmt: skip
        yield _by_outcome("assets", "Assets ended, by outcome.", t.assets,
                          [o.value for o in AssetOutcome])  # fmt: skip
        yield _counter("published_bytes", "Bytes the service confirmed.", t.bytes_published)
        yield _counter("hashed_bytes", "Bytes read and hashed.", t.bytes_hashed)
        yield _counter("publish_requests", "PublishPackageVersion attempts.", t.publish_requests)
        yield _counter("manifest_problems", "Manifest entries refused.", t.problems)


class _LimitsCollector:
    """The current rate limit of each API family, when limits are watched."""

    def __init__(self, limits: Callable[[], LimitsView | None]) -> None:
        self._limits = limits

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            PREFIX + "rate_limit_requests_per_second",
            "The current request-rate limit, by API family.", labels=["family"],
        )  # fmt: skip
        limits = self._limits()
        for family, snapshot in (limits.snapshot() if limits is not None else {}).items():
            gauge.add_metric([Family(family).value], snapshot.rate_per_s)
        yield gauge


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(PREFIX + name, documentation, value=value)


def _by_outcome(
    name: str, documentation: str, counts: Mapping[str, int], outcomes: list[str]
) -> CounterMetricFamily:
    family = CounterMetricFamily(PREFIX + name, documentation, labels=["outcome"])
    for outcome in outcomes:
        family.add_metric([outcome], counts.get(outcome, 0))
    return family


# --- for `uploader run --metrics-addr/--metrics-file` --------------------------------------


@contextlib.asynccontextmanager
async def observing(
    metrics: Metrics, totals: Totals, *, address: tuple[str, int] | None, textfile: Path | None
) -> AsyncIterator[None]:
    """One run's part in `metrics`, for the block's length: its `totals` watched (retired
    at the end), `GET /metrics` served on `address` meanwhile (`--metrics-addr`), and the
    metrics written to `textfile` at the end, whatever the outcome (`--metrics-file`).

    Raises InvalidInputError before the block when `textfile` cannot be written or
    `address` cannot be listened on.
    """
    check_textfile_path(textfile)
    metrics.watch(totals)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if address is not None:
                await stack.enter_async_context(serve(metrics, *address))
            yield
    finally:
        metrics.retire(totals)
        write_at_end(metrics, textfile)


def check_textfile_path(path: Path | None) -> None:
    """Before any work: InvalidInputError unless `--metrics-file` can be written there
    (its folder exists; it is not a folder itself)."""
    if path is None:
        return
    target = path.resolve()
    if target.is_dir():
        raise InvalidInputError(f"--metrics-file {path}: is a folder")
    if not target.parent.is_dir():
        raise InvalidInputError(f"--metrics-file {path}: folder {target.parent} does not exist")


def write_at_end(metrics: Metrics, path: Path | None) -> None:
    """`--metrics-file`: write the metrics; a failure is logged, never raised (the run's
    outcome is the uploads', and this runs on the way out of a failed run too)."""
    if path is None:
        return
    try:
        metrics.write_textfile(path)
    except OSError as error:
        log.error("cannot write the metrics file", path=str(path), error=str(error))


@contextlib.asynccontextmanager
async def serve(metrics: Metrics, host: str, port: int) -> AsyncIterator[str]:
    """`GET /metrics` on `host:port` (0: any free port) while the block runs; yields its
    URL. Raises InvalidInputError if it cannot listen there."""
    # Imported here: aiohttp's server is loaded only by the runs that serve metrics.
    from aiohttp import web  # noqa: PLC0415

    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as error:
            raise InvalidInputError(
                f"--metrics-addr {_join(host, port)}: cannot listen: {error.strerror or error}"
            ) from error
        url = f"http://{_join(*_bound(runner))}/metrics"
        log.info("serving metrics", url=url)
        yield url
    finally:
        await runner.cleanup()


def _bound(runner: web.AppRunner) -> tuple[str, int]:
    """The address the server listens on (the port chosen for port 0)."""
    address = runner.addresses[0]
    return str(address[0]), int(address[1])


def _join(host: str, port: int) -> str:
    """`host:port`, an IPv6 host in brackets."""
    try:
        socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        return f"{host}:{port}"
    return f"[{host}]:{port}"
