"""uploader.metrics: the exposition parses, its names follow Prometheus' conventions, its
counters move with the run's and never go down, and no secret reaches it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import aiohttp
import botocore.session
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_api import FakeCodeArtifact
from uploader.api import Operation, RequestObserver, RetryObserver
from uploader.codeartifact import translate
from uploader.config import Address, RunSettings, parse_address
from uploader.domain import AssetOutcome, VersionOutcome
from uploader.errors import (
    InvalidInputError,
    RetryableRemoteError,
    RetryReason,
    ThrottledError,
)
from uploader.limits import Family, RateLimits
from uploader.metrics import Metrics, check_textfile_path
from uploader.remote import Remote
from uploader.report import Totals

_: RequestObserver = Metrics()  # mypy proves Metrics is both observers
__: RetryObserver = Metrics()

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEBYaDEXAMPLETOKEN"


def families(metrics: Metrics) -> dict[str, Metric]:
    """The parsed exposition, by family name."""
    text = metrics.render().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(metrics: Metrics, sample: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 if absent)."""
    for family in families(metrics).values():
        for s in family.samples:
            if s.name == sample and s.labels == labels:
                return float(s.value)
    return 0.0


def retryable(
    operation: str, reason: RetryReason = RetryReason.SERVER_ERROR
) -> RetryableRemoteError:
    """A transient error as codeartifact.py leaves it: naming its operation."""
    error = (
        ThrottledError("slow down")
        if reason is RetryReason.THROTTLED
        else RetryableRemoteError("oops", code="InternalServerException", reason=reason)
    )
    error.operation = operation
    return error


def busy_totals() -> Totals:
    """A run's counters part way through."""
    totals = Totals()
    totals.versions[VersionOutcome.FINALIZED] += 3
    totals.versions[VersionOutcome.FAILED] += 1
    totals.assets[AssetOutcome.PUBLISHED] += 7
    totals.assets[AssetOutcome.PRESENT] += 2
    totals.bytes_published = 7000
    totals.bytes_hashed = 9000
    totals.publish_requests = 8
    totals.problems = 1
    return totals


def test_names_types_and_labels_follow_prometheus_conventions() -> None:
    """Every family is `uploader_`-prefixed, counters end in _total, units are in names."""
    metrics = Metrics()
    metrics.watch(busy_totals())
    metrics.watch_limits(RateLimits())
    metrics.request_ended(Operation.PUBLISH_PACKAGE_VERSION, 0.2, None)
    metrics.retrying(retryable(Operation.PUBLISH_PACKAGE_VERSION, RetryReason.THROTTLED))
    found = {name: f.type for name, f in families(metrics).items()}
    expected = {
        "uploader_versions": "counter",
        "uploader_assets": "counter",
        "uploader_published_bytes": "counter",
        "uploader_hashed_bytes": "counter",
        "uploader_publish_requests": "counter",
        "uploader_manifest_problems": "counter",
        "uploader_rate_limit_requests_per_second": "gauge",
        "uploader_request_duration_seconds": "histogram",
        "uploader_retries": "counter",
        "uploader_throttles": "counter",
    }
    assert expected.items() <= found.items()
    assert all(name.startswith("uploader_") for name in found)
    for family in families(metrics).values():
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
    labels = {f.name: {k for s in f.samples for k in s.labels} for f in families(metrics).values()}
    assert labels["uploader_versions"] == {"outcome"}
    assert labels["uploader_rate_limit_requests_per_second"] == {"family"}
    assert labels["uploader_request_duration_seconds"] == {"operation", "le"}
    assert labels["uploader_retries"] == {"operation", "reason"}
    assert labels["uploader_throttles"] == {"operation"}


def test_every_outcome_is_exposed_from_zero() -> None:
    """Each VersionOutcome and AssetOutcome has its sample before anything happened."""
    metrics = Metrics()
    versions = families(metrics)["uploader_versions"].samples
    assets = families(metrics)["uploader_assets"].samples
    assert {s.labels["outcome"] for s in versions} == {o.value for o in VersionOutcome}
    assert {s.labels["outcome"] for s in assets} == {o.value for o in AssetOutcome}
    assert all(s.value == 0 for s in (*versions, *assets))


def test_counters_are_read_from_the_watched_totals_when_scraped() -> None:
    """The exposition shows the Totals as they are at each scrape: nothing is copied."""
    metrics, totals = Metrics(), busy_totals()
    metrics.watch(totals)
    assert value(metrics, "uploader_versions_total", outcome="finalized") == 3
    assert value(metrics, "uploader_assets_total", outcome="already_present") == 2
    assert value(metrics, "uploader_published_bytes_total") == 7000
    assert value(metrics, "uploader_hashed_bytes_total") == 9000
    assert value(metrics, "uploader_publish_requests_total") == 8
    assert value(metrics, "uploader_manifest_problems_total") == 1
    totals.versions[VersionOutcome.FINALIZED] += 1
    totals.bytes_published += 500
    assert value(metrics, "uploader_versions_total", outcome="finalized") == 4
    assert value(metrics, "uploader_published_bytes_total") == 7500


def test_several_watched_totals_are_summed_and_watching_twice_counts_once() -> None:
    """Two jobs' Totals add up; watching the same Totals again does not double it."""
    metrics, one, two = Metrics(), busy_totals(), busy_totals()
    metrics.watch(one)
    metrics.watch(two)
    metrics.watch(one)
    assert value(metrics, "uploader_assets_total", outcome="published") == 14
    assert value(metrics, "uploader_published_bytes_total") == 14000


def test_retire_keeps_every_counter_monotonic() -> None:
    """A retired job's figures stay in the sum; later changes to it and a second retire
    change nothing."""
    metrics, ended, running = Metrics(), busy_totals(), busy_totals()
    metrics.watch(ended)
    metrics.watch(running)
    before = value(metrics, "uploader_published_bytes_total")
    metrics.retire(ended)
    assert value(metrics, "uploader_published_bytes_total") == before
    ended.bytes_published += 10**6  # a retired run is no longer read
    metrics.retire(ended)
    metrics.retire(Totals())  # never watched: nothing to fold in
    assert value(metrics, "uploader_published_bytes_total") == before
    running.bytes_published += 1
    assert value(metrics, "uploader_published_bytes_total") == before + 1
    assert metrics.totals().versions[VersionOutcome.FINALIZED] == 6


def test_rate_limit_gauge_follows_the_watched_limits() -> None:
    """One gauge sample per family, the limit as it is now; none before limits are watched."""
    metrics, limits = Metrics(), RateLimits({Family.PUBLISH: 20.0})
    assert families(metrics)["uploader_rate_limit_requests_per_second"].samples == []
    metrics.watch_limits(limits)
    gauge = families(metrics)["uploader_rate_limit_requests_per_second"]
    assert {s.labels["family"] for s in gauge.samples} == {f.value for f in Family}
    assert value(metrics, "uploader_rate_limit_requests_per_second", family="publish") == 20
    limits.set_rate(Family.PUBLISH, 5.0)
    assert value(metrics, "uploader_rate_limit_requests_per_second", family="publish") == 5


def test_request_durations_are_a_histogram_per_operation() -> None:
    """Each request is one observation of its operation, failed ones included."""
    metrics = Metrics()
    metrics.request_ended(Operation.PUBLISH_PACKAGE_VERSION, 0.02, None)
    metrics.request_ended(Operation.PUBLISH_PACKAGE_VERSION, 3.0, ThrottledError("slow"))
    metrics.request_ended(Operation.LIST_PACKAGE_VERSIONS, 0.001, None)
    name = "uploader_request_duration_seconds"
    publish = {"operation": "PublishPackageVersion"}
    assert value(metrics, f"{name}_count", **publish) == 2
    assert value(metrics, f"{name}_sum", **publish) == pytest.approx(3.02)
    assert value(metrics, f"{name}_bucket", le="0.025", **publish) == 1
    assert value(metrics, f"{name}_count", operation="ListPackageVersions") == 1


def test_retries_by_operation_and_reason_and_throttles_by_operation() -> None:
    """A throttled retry counts as a retry and a throttle; other reasons only as retries."""
    metrics = Metrics()
    metrics.retrying(retryable(Operation.PUBLISH_PACKAGE_VERSION, RetryReason.THROTTLED))
    metrics.retrying(retryable(Operation.PUBLISH_PACKAGE_VERSION, RetryReason.THROTTLED))
    metrics.retrying(retryable(Operation.PUBLISH_PACKAGE_VERSION, RetryReason.CONNECTION))
    metrics.retrying(retryable(Operation.UPDATE_PACKAGE_VERSIONS_STATUS, RetryReason.TIMEOUT))
    publish = "PublishPackageVersion"
    assert value(metrics, "uploader_retries_total", operation=publish, reason="throttled") == 2
    assert value(metrics, "uploader_retries_total", operation=publish, reason="connection") == 1
    assert (
        value(metrics, "uploader_retries_total", operation="UpdatePackageVersionsStatus",
              reason="timeout") == 1
    )  # fmt: skip
    assert value(metrics, "uploader_throttles_total", operation=publish) == 2
    assert value(metrics, "uploader_throttles_total", operation="UpdatePackageVersionsStatus") == 0


def test_an_error_no_request_named_is_labelled_unknown() -> None:
    """An error raised outside a request (no operation), or naming a stranger, is `unknown`."""
    metrics = Metrics()
    metrics.retrying(RetryableRemoteError("unconfirmed", code="UnconfirmedPublish"))
    metrics.retrying(retryable("GetAuthorizationToken"))
    assert value(metrics, "uploader_retries_total", operation="unknown", reason="other") == 1
    assert value(metrics, "uploader_retries_total", operation="unknown", reason="server_error") == 1


def test_no_secret_reaches_the_exposition() -> None:
    """Credentials, tokens and signatures in errors and their operation never become labels."""
    metrics = Metrics()
    leaky = RetryableRemoteError(
        f"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{SECRET} X-Amz-Security-Token"
        f"={TOKEN}", code=TOKEN, reason=RetryReason.SERVER_ERROR,
    )  # fmt: skip
    leaky.operation = f"PublishPackageVersion?token={TOKEN}"
    metrics.retrying(leaky)
    metrics.request_ended(Operation.PUBLISH_PACKAGE_VERSION, 0.1, leaky)
    metrics.watch(busy_totals())
    text = metrics.render().decode()
    for secret in (SECRET, TOKEN, "AKIDEXAMPLE", "Authorization", "X-Amz", "Credential"):
        assert secret not in text


def test_each_metrics_has_its_own_registry() -> None:
    """Two Metrics never share figures, and the global registry holds none of ours."""
    first, second = Metrics(), Metrics()
    first.request_ended(Operation.DESCRIBE_REPOSITORY, 0.1, None)
    count = "uploader_request_duration_seconds_count"
    assert value(first, count, operation="DescribeRepository") == 1
    assert value(second, count, operation="DescribeRepository") == 0
    assert not any(f.name.startswith("uploader_") for f in REGISTRY.collect())


class _Jobs:
    """A collector as the service adds one: jobs by state."""

    def __init__(self, name: str = "uploader_jobs") -> None:
        self.name = name

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(self.name, "Jobs by state.", labels=["state"])
        gauge.add_metric(["running"], 2)
        yield gauge


def test_added_collectors_are_exposed_and_a_clashing_name_is_refused() -> None:
    """add_collector's figures appear in the exposition; one reusing a name is a ValueError."""
    metrics = Metrics()
    metrics.add_collector(_Jobs())
    assert value(metrics, "uploader_jobs", state="running") == 2
    with pytest.raises(ValueError, match="uploader_versions"):
        metrics.add_collector(_Jobs("uploader_versions_total"))


def test_write_textfile_writes_the_exposition_atomically(tmp_path: Path) -> None:
    """The file parses as the exposition does and no temporary file is left beside it."""
    metrics = Metrics()
    metrics.watch(busy_totals())
    path = tmp_path / "uploader.prom"
    path.write_text("old\n")
    metrics.write_textfile(path)
    parsed = {f.name for f in text_string_to_metric_families(path.read_text())}
    assert "uploader_versions" in parsed
    assert [p.name for p in tmp_path.iterdir()] == ["uploader.prom"]


def test_a_metrics_file_without_a_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    """--metrics-file in a missing folder, or naming a folder, is bad input naming the flag."""
    check_textfile_path(None)
    check_textfile_path(tmp_path / "new.prom")
    with pytest.raises(InvalidInputError, match=r"--metrics-file .*does not exist"):
        check_textfile_path(tmp_path / "missing" / "m.prom")
    with pytest.raises(InvalidInputError, match=r"--metrics-file .*is a folder"):
        check_textfile_path(tmp_path)


def test_every_operation_is_one_of_codeartifacts() -> None:
    """Operation's values are the API names botocore's model holds."""
    model = botocore.session.get_session().get_service_model("codeartifact")
    assert {o.value for o in Operation} <= set(model.operation_names)


async def test_remote_tells_its_observer_of_each_retry() -> None:
    """Remote.call reports each retried failure, with its operation and reason; not the last."""
    metrics, waits = Metrics(), []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    remote = Remote(FakeCodeArtifact(), RateLimits({Family.PUBLISH: 1000.0}), Totals(),
                    max_attempts=3, max_retry_after_s=0.0, sleep=sleep,
                    observer=metrics)  # fmt: skip
    reasons = (RetryReason.THROTTLED, RetryReason.CONNECTION, RetryReason.CONNECTION)
    errors = iter([retryable(Operation.PUBLISH_PACKAGE_VERSION, r) for r in reasons])

    async def fails() -> None:
        raise next(errors)

    with pytest.raises(RetryableRemoteError):
        await remote.call(Family.PUBLISH, fails)
    publish = "PublishPackageVersion"
    assert len(waits) == 2
    assert value(metrics, "uploader_retries_total", operation=publish, reason="throttled") == 1
    assert value(metrics, "uploader_retries_total", operation=publish, reason="connection") == 1
    assert value(metrics, "uploader_throttles_total", operation=publish) == 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ClientError({"Error": {"Code": "ThrottlingException"},
                      "ResponseMetadata": {"HTTPStatusCode": 429}}, "PublishPackageVersion"),
         RetryReason.THROTTLED),
        (ClientError({"Error": {"Code": "InternalServerException"},
                      "ResponseMetadata": {"HTTPStatusCode": 500}}, "PublishPackageVersion"),
         RetryReason.SERVER_ERROR),
        (aiohttp.ServerDisconnectedError(), RetryReason.CONNECTION),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), RetryReason.CONNECTION),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), RetryReason.TIMEOUT),
        (TimeoutError(), RetryReason.TIMEOUT),
    ],
)  # fmt: skip
def test_transient_errors_say_their_reason(error: Exception, reason: RetryReason) -> None:
    """codeartifact.translate gives each transient failure the reason its retry is counted by."""
    ours = translate(error)
    assert isinstance(ours, RetryableRemoteError)
    assert ours.reason is reason


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:0", Address("127.0.0.1", 0)), ("[::1]:9100", Address("::1", 9100)),
     ("metrics.local:65535", Address("metrics.local", 65535))],
)  # fmt: skip
def test_metrics_addr_reads_host_and_port(text: str, address: Address) -> None:
    """--metrics-addr takes HOST:PORT (IPv6 in brackets) and shows it back the same way."""
    assert parse_address(text) == address
    assert parse_address(str(address)) == address


@pytest.mark.parametrize("text", ["9100", ":9100", "::1:9100", "host:65536", "a b:1", "[::1]"])
def test_a_bad_metrics_addr_is_bad_input_naming_the_flag(text: str) -> None:
    """Anything but HOST:PORT with a port up to 65535 is InvalidInputError naming the flag."""
    with pytest.raises(InvalidInputError, match="--metrics-addr"):
        parse_address(text)


def test_metrics_need_a_single_process() -> None:
    """--metrics-addr or --metrics-file with --processes above 1 is refused."""
    with pytest.raises(InvalidInputError, match="need --processes 1"):
        RunSettings(manifest="m.jsonl", processes=2, metrics_file=Path("m.prom"))
    with pytest.raises(InvalidInputError, match="need --processes 1"):
        RunSettings(manifest="m.jsonl", processes=2, metrics_addr=Address("127.0.0.1", 0))
