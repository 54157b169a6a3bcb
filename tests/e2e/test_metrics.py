"""`uploader run --metrics-file/--metrics-addr` end to end: a real run, its metrics parsed
with prometheus_client's own parser and held to the run's JSON report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DOMAIN, REGION, REPOSITORY, start_emulator
from tests.e2e.test_run import make_tree, run_cli
from uploader.emulator.faults import FaultPlan, Quotas
from uploader.errors import ExitCode
from uploader.metrics import CONTENT_TYPE

SCRAPE_TIMEOUT_S = 5.0
WAIT_S = 60.0  # for a slow run to reach the point a test waits for


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value of every sample of an exposition."""
    return {
        (s.name, frozenset(s.labels.items())): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> float:
    """The sum of a sample over all its labels."""
    return sum(v for (n, _), v in found.items() if n == name)


def by_label(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, label: str
) -> dict[str, float]:
    """A sample's values by one label, zeros left out (the report lists only counts seen)."""
    values = {dict(labels)[label]: v for (n, labels), v in found.items() if n == name}
    return {k: v for k, v in values.items() if v}


def assert_matches_report(metrics_text: str, report: dict[str, Any]) -> None:
    """Every counter the report has, the metrics have equal."""
    found, totals = samples(metrics_text), report["totals"]
    assert by_label(found, "uploader_versions_total", "outcome") == totals["versions"]
    assert by_label(found, "uploader_assets_total", "outcome") == totals["assets"]
    assert total(found, "uploader_published_bytes_total") == totals["bytes_published"]
    assert total(found, "uploader_hashed_bytes_total") == totals["bytes_hashed"]
    assert total(found, "uploader_publish_requests_total") == totals["publish_requests"]
    assert total(found, "uploader_manifest_problems_total") == totals["manifest_problems"]
    assert total(found, "uploader_retries_total") == totals["retries"]
    assert total(found, "uploader_throttles_total") == totals["throttled"]


def test_metrics_file_of_a_local_run_matches_its_report(tmp_path: Path) -> None:
    """`run --local --metrics-file`: the file parses, its counters are the report's, every
    request is in the latency histogram, and no temporary file is left beside it."""
    manifest = make_tree(tmp_path / "tree", versions=6, assets=2)
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli(
        "run", str(manifest), "--local", "--local-dir", str(tmp_path / "emu"),
        "--domain", DOMAIN, "--repository", REPOSITORY, "--namespace", "acme",
        "--report", str(out / "report.json"), "--metrics-file", str(out / "uploader.prom"),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == ExitCode.OK, result.stderr
    text = (out / "uploader.prom").read_text()
    report = json.loads((out / "report.json").read_text())
    assert_matches_report(text, report)
    assert report["totals"]["versions"] == {"finalized": 6}
    found = samples(text)
    publishes = ("uploader_request_duration_seconds_count",
                 frozenset({("operation", "PublishPackageVersion")}))  # fmt: skip
    assert found[publishes] == report["totals"]["publish_requests"] == 12
    rates = by_label(found, "uploader_rate_limit_requests_per_second", "family")
    assert rates["publish"] == 10
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "uploader.prom"]


def test_metrics_file_of_a_throttled_run_counts_retries_by_operation(tmp_path: Path) -> None:
    """Against a 5/s publish quota at 50/s, throttles and retries are counted by operation
    and reason, and their sums are the report's."""
    manifest = make_tree(tmp_path / "tree", versions=10, assets=2)
    quotas = Quotas.none().with_rate("PublishPackageVersion", 5)
    emu = start_emulator(tmp_path / "emulator", quotas=quotas)
    try:
        result = run_cli(
            "run", str(manifest), "--endpoint-url", emu.endpoint_url, "--region", REGION,
            "--domain", DOMAIN, "--repository", REPOSITORY, "--namespace", "acme",
            "--rate", "50", "--report", "report.json", "--metrics-file", "m.prom", cwd=tmp_path,
        )  # fmt: skip
    finally:
        emu.stop()
    assert result.returncode == ExitCode.OK, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    text = (tmp_path / "m.prom").read_text()
    assert_matches_report(text, report)
    throttles = by_label(samples(text), "uploader_throttles_total", "operation")
    assert throttles["PublishPackageVersion"] > 0
    retried = by_label(samples(text), "uploader_retries_total", "reason")
    assert retried.get("throttled") == report["totals"]["throttled"]


def scrape(url: str) -> tuple[str, str]:
    """GET the metrics: (content type, text)."""
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as reply:
        return reply.headers["Content-Type"], reply.read().decode()


def served_url(stderr: IO[str]) -> str:
    """The metrics URL the run logs once it listens (JSON log lines)."""
    for line in stderr:
        event = json.loads(line)
        if event.get("event") == "serving metrics":
            return str(event["url"])
    raise AssertionError("the run never said where it serves its metrics")


def wait_for(url: str, name: str, above: float) -> dict[tuple[str, frozenset[Any]], float]:
    """Scrape until the sum of `name` passes `above`; that scrape's samples."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        content_type, text = scrape(url)
        assert content_type == CONTENT_TYPE
        found = samples(text)
        if total(found, name) > above:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{name} stayed at or below {above}")


def test_metrics_addr_serves_moving_counters_and_the_file_survives_an_interrupt(
    tmp_path: Path,
) -> None:
    """`--metrics-addr 127.0.0.1:0` against a slow emulator: scrapes parse and the counters
    move while the run runs; after SIGINT the run exits 130 and still writes the file,
    whose counters (pending versions included) are the report's."""
    manifest = make_tree(tmp_path / "tree", versions=40, assets=2)
    faults = FaultPlan.parse(["publish:latency=100ms"], seed=1)
    emu = start_emulator(tmp_path / "emulator", faults=faults)
    args = [sys.executable, "-m", "uploader", "run", str(manifest),
            "--endpoint-url", emu.endpoint_url, "--region", REGION, "--domain", DOMAIN,
            "--repository", REPOSITORY, "--namespace", "acme", "--rate", "1000",
            "--max-uploads", "2", "--workers", "2", "--metrics-addr", "127.0.0.1:0",
            "--metrics-file", "m.prom", "--report", "report.json"]  # fmt: skip
    env = {**os.environ, "UPLOADER_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    try:
        with subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) as child:  # fmt: skip
            assert child.stderr is not None
            url = served_url(child.stderr)
            assert url.startswith("http://127.0.0.1:")
            assert not url.endswith(":0/metrics")
            first = wait_for(url, "uploader_publish_requests_total", 0)
            published = total(first, "uploader_publish_requests_total")
            later = wait_for(url, "uploader_publish_requests_total", published)
            assert total(later, "uploader_request_duration_seconds_count") > total(
                first, "uploader_request_duration_seconds_count"
            )
            child.send_signal(signal.SIGINT)
            child.stderr.read()
            code = child.wait(timeout=WAIT_S)
    finally:
        emu.stop()
    assert code == ExitCode.INTERRUPTED
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["interrupted"]
    assert report["totals"]["versions"].get("pending", 0) > 0
    assert_matches_report((tmp_path / "m.prom").read_text(), report)
