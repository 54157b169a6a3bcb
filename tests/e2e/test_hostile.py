"""A hostile endpoint gets no more than a faithful one (issue 15), end to end.

Each test runs the real client (aioboto3 over loopback) through the stand-in
(tests/standin.py) in front of the emulator, one operation answered badly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from structlog.testing import capture_logs

from tests.conftest import DOMAIN, REGION, REPOSITORY
from tests.e2e.test_run import make_tree, remote_sha256s, settings
from tests.standin import EndlessBody, Hold, NextToken, Redirect, StandIn, Throttle
from uploader import constants as c
from uploader import runner
from uploader.codeartifact import ClientSettings, CodeArtifact, open_client
from uploader.domain import PackageRef, Target
from uploader.emulator import EmulatorThread
from uploader.errors import Outcome, RejectedError
from uploader.report import Report

RUN_TIMEOUT_S = 30.0  # far above what each run takes; before the fixes some ran forever


@pytest.fixture
def standin(emulator: EmulatorThread) -> Iterator[StandIn]:
    """A stand-in in front of the test emulator."""
    with StandIn(emulator.endpoint_url) as server:
        yield server


class NoSleep:
    """The back-off's sleep, recording each wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits_s: list[float] = []

    async def __call__(self, seconds: float) -> None:
        """Record the wait; yield to the loop once."""
        self.waits_s.append(seconds)
        await asyncio.sleep(0)


def _versions(report_path: Path) -> dict[str, dict[str, object]]:
    return {v["version"]: v for v in json.loads(report_path.read_text())["versions"]}


async def test_a_redirect_is_never_followed(
    standin: StandIn, emulator: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 307 on publish stops the run (exit 3) naming status and host; the host gets nothing."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-session-token")
    manifest = make_tree(tmp_path / "tree", versions=2, assets=2, size_bytes=512 * 1024)
    with StandIn(None, host="127.0.0.2") as elsewhere:
        standin.set("PublishPackageVersion", Redirect(elsewhere.endpoint_url))
        run = runner.run(settings(manifest, standin, report=tmp_path / "r.json"), sleep=NoSleep())
        report = await asyncio.wait_for(run, RUN_TIMEOUT_S)
        assert sum(elsewhere.requests.values()) == 0
        assert elsewhere.bytes_received == 0
    assert report.outcome() is Outcome.CANNOT_START, report.summary()
    assert report.fatal is not None
    assert "HTTP 307" in report.fatal
    assert "127.0.0.2" in report.fatal
    assert "redirects are never followed" in report.fatal
    assert emulator.stats()["requests"].get("PublishPackageVersion", 0) == 0


async def test_a_redirect_of_the_first_call_is_fatal_too(standin: StandIn, tmp_path: Path) -> None:
    """Any call redirected (here DescribeRepository, the first) ends the run with exit 3."""
    manifest = make_tree(tmp_path / "tree", versions=1, assets=1)
    with StandIn(None, host="127.0.0.2") as elsewhere:
        standin.set("DescribeRepository", Redirect(elsewhere.endpoint_url, status=301))
        report = await asyncio.wait_for(
            runner.run(settings(manifest, standin), sleep=NoSleep()), RUN_TIMEOUT_S
        )
        assert sum(elsewhere.requests.values()) == 0
    assert report.outcome() is Outcome.CANNOT_START
    assert report.fatal is not None
    assert "HTTP 301" in report.fatal


async def test_endless_throttling_ends_with_the_version_failed(
    standin: StandIn, tmp_path: Path
) -> None:
    """Retry-After: 1000000000 waits the 60 s cap per retry, and the version fails in the end."""
    manifest = make_tree(tmp_path / "tree", versions=1, assets=1)
    standin.set("PublishPackageVersion", Throttle(retry_after="1000000000"))
    sleep = NoSleep()
    report_path = tmp_path / "r.json"
    report = await asyncio.wait_for(
        runner.run(settings(manifest, standin, report=report_path), sleep=sleep), RUN_TIMEOUT_S
    )
    assert report.outcome() is Outcome.SOME_FAILED, report.summary()
    assert standin.count("PublishPackageVersion") == 8  # --max-attempts' default
    publish_waits = [w for w in sleep.waits_s if w >= 1.0]
    assert publish_waits == [c.MAX_RETRY_AFTER_S] * 7
    assert _versions(report_path)["1.0"]["status"] == "failed"


async def test_sigterm_does_not_wait_out_a_long_backoff(standin: StandIn, tmp_path: Path) -> None:
    """A SIGTERM during a 60 s back-off ends the run at once, exit 130."""
    manifest = make_tree(tmp_path / "tree", versions=1, assets=1)
    standin.set("PublishPackageVersion", Throttle(retry_after="1000000000"))

    async def terminate_once_throttled() -> None:
        while standin.count("PublishPackageVersion") == 0:  # noqa: ASYNC110  # another thread's
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # now in the back-off
        os.kill(os.getpid(), signal.SIGTERM)

    killer: list[asyncio.Task[None]] = []
    started = time.monotonic()
    report = await asyncio.wait_for(
        runner.run(
            settings(manifest, standin),
            on_listening=lambda: killer.append(asyncio.create_task(terminate_once_throttled())),
        ),
        RUN_TIMEOUT_S,
    )
    await killer[0]
    assert time.monotonic() - started < 10.0
    assert report.outcome() is Outcome.INTERRUPTED
    assert standin.count("PublishPackageVersion") == 1


async def test_a_repeated_next_token_fails_the_version(standin: StandIn, tmp_path: Path) -> None:
    """A listing whose nextToken comes back is stopped at once; that version fails, clearly."""
    manifest = make_tree(tmp_path / "tree", versions=1, assets=1)
    _publish_other_version(standin, "pkg0")
    standin.set("ListPackageVersions", NextToken(repeat="again"))
    report_path = tmp_path / "r.json"
    report = await asyncio.wait_for(
        runner.run(settings(manifest, standin, report=report_path), sleep=NoSleep()),
        RUN_TIMEOUT_S,
    )
    assert report.outcome() is Outcome.SOME_FAILED
    assert standin.count("ListPackageVersions") == 2
    error = str(_versions(report_path)["1.0"]["error"])
    assert "the listing repeated a nextToken after 2 pages" in error


def _publish_other_version(standin: StandIn, package: str) -> None:
    """An Unfinished version 0.9 of `package`, so that its versions can be listed."""
    client = boto3.client("codeartifact", endpoint_url=standin.endpoint_url, region_name=REGION)
    client.publish_package_version(
        domain=DOMAIN, repository=REPOSITORY, format="generic", namespace="acme",
        package=package, packageVersion="0.9", assetName="x", assetContent=b"x",
        assetSHA256=hashlib.sha256(b"x").hexdigest(), unfinished=True,
    )  # fmt: skip


async def test_a_listing_without_end_stops_at_the_page_cap(standin: StandIn) -> None:
    """A new nextToken on every page ends with RejectedError after max_pages requests."""
    _publish_other_version(standin, "app")
    standin.set("ListPackageVersions", NextToken())
    client_settings = ClientSettings(region=REGION, endpoint_url=standin.endpoint_url)
    async with open_client(client_settings) as client:
        api = CodeArtifact(client, max_pages=5)
        with pytest.raises(RejectedError, match="did not end after 5 pages") as caught:
            await api.list_versions(PackageRef(Target(DOMAIN, REPOSITORY), "acme", "app"), limit=10)
    assert caught.value.code == "TooManyPages"
    assert standin.count("ListPackageVersions") == 5


async def test_a_reply_without_end_is_not_read_whole(standin: StandIn, tmp_path: Path) -> None:
    """A 64 MiB chunked publish reply is given up at the cap on each attempt; the version fails."""
    manifest = make_tree(tmp_path / "tree", versions=1, assets=1)
    standin.set("PublishPackageVersion", EndlessBody(total_bytes=64 * 1024 * 1024))
    report_path = tmp_path / "r.json"
    report = await asyncio.wait_for(
        runner.run(settings(manifest, standin, report=report_path, max_attempts=2),
                   sleep=NoSleep()),
        RUN_TIMEOUT_S,
    )  # fmt: skip
    assert report.outcome() is Outcome.SOME_FAILED, report.summary()
    error = str(_versions(report_path)["1.0"]["error"])
    assert f"replies are read up to {c.MAX_REPLY_BYTES} bytes" in error
    assert standin.bytes_sent < 2 * 64 * 1024 * 1024  # both attempts were cut short


async def test_a_declared_huge_reply_is_refused_unread(standin: StandIn, tmp_path: Path) -> None:
    """A reply declaring 2,000 MiB is refused from its headers: almost nothing is sent."""
    manifest = make_tree(tmp_path / "tree", versions=1, assets=1)
    huge = EndlessBody(total_bytes=2000 * 1024 * 1024, declare_length=True)
    standin.set("ListPackageVersions", huge)
    report_path = tmp_path / "r.json"
    report = await asyncio.wait_for(
        runner.run(settings(manifest, standin, report=report_path, max_attempts=2),
                   sleep=NoSleep()),
        RUN_TIMEOUT_S,
    )  # fmt: skip
    assert report.outcome() is Outcome.SOME_FAILED
    assert "reply of 2097152000 bytes refused" in str(_versions(report_path)["1.0"]["error"])
    assert standin.bytes_sent < 2 * c.MAX_REPLY_BYTES


def _big_tree(root: Path, *, sha256: bool) -> tuple[Path, Path]:
    """One version of one 32 MiB file (larger than socket buffers), and its manifest."""
    path = root / "big.bin"
    root.mkdir(parents=True)
    path.write_bytes(hashlib.sha512(b"big").digest() * (32 * 1024 * 1024 // 64))
    asset: dict[str, str] = {"path": "big.bin"}
    if sha256:
        asset["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    entry = {"package": "app", "version": "1.0", "assets": [asset]}
    manifest = root / "manifest.jsonl"
    manifest.write_text(json.dumps(entry) + "\n")
    return manifest, path


async def _truncate_while_sent(standin: StandIn, manifest: Path, path: Path) -> Report:
    """Run; once the stand-in holds the first publish's body, cut the file to 1 MiB."""
    hold = Hold(after_bytes=64 * 1024)
    standin.set("PublishPackageVersion", hold, times=1)
    run = asyncio.ensure_future(
        runner.run(settings(manifest, standin, report=manifest.parent / "r.json"))
    )
    assert await asyncio.to_thread(hold.reached.wait, RUN_TIMEOUT_S)
    with path.open("r+b") as file:
        file.truncate(1024 * 1024)
    standin.release()
    return await asyncio.wait_for(run, RUN_TIMEOUT_S)


async def test_a_file_truncated_during_its_upload_is_hashed_again(
    standin: StandIn, emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The short read aborts the attempt at once; the next one sends the new bytes, new hash."""
    manifest, path = _big_tree(tmp_path / "tree", sha256=False)
    started = time.monotonic()
    with capture_logs() as events:
        report = await _truncate_while_sent(standin, manifest, path)
    assert time.monotonic() - started < 20.0  # not the 120 s read timeout
    assert report.outcome() is Outcome.DONE, report.summary()
    names = [e["event"] for e in events]
    assert "file changed during upload" in names
    assert "file changed since hashing; hashing again" in names
    assert remote_sha256s(emulator) == {
        ("app", "1.0", "big.bin"): hashlib.sha256(path.read_bytes()).hexdigest()
    }
    assert standin.count("PublishPackageVersion") == 2


async def test_a_file_truncated_during_its_upload_fails_against_its_declared_sha256(
    standin: StandIn, emulator: EmulatorThread, tmp_path: Path
) -> None:
    """With the manifest's sha256, the truncated file is never sent: the version fails."""
    manifest, path = _big_tree(tmp_path / "tree", sha256=True)
    report = await _truncate_while_sent(standin, manifest, path)
    assert report.outcome() is Outcome.SOME_FAILED
    error = str(_versions(manifest.parent / "r.json")["1.0"]["error"])
    assert "file changed and no longer matches its sha256" in error
    assert standin.count("PublishPackageVersion") == 1
    assert emulator.store is not None


async def test_a_publish_reply_that_says_nothing_is_confirmed_by_asking(
    standin: StandIn, tmp_path: Path
) -> None:
    """A 200 publish reply that cannot be parsed counts only once the service is seen to hold
    the asset; one that stored nothing is retried, then fails the version (issue 15 #7)."""
    from tests.standin import Reply

    manifest = make_tree(tmp_path / "tree", versions=1, assets=1)
    standin.set("PublishPackageVersion", Reply(200, b"not json", forward_first=True), times=1)
    report = await asyncio.wait_for(runner.run(settings(manifest, standin)), RUN_TIMEOUT_S)
    assert report.outcome() is Outcome.DONE, report.summary()
    assert report.totals.assets["published"] == 1
    assert remote_sha256s(standin) == local_sha256s_of(tmp_path / "tree")

    other = make_tree(tmp_path / "other", versions=1, assets=1, size_bytes=2048)
    other.write_text(other.read_text().replace('"pkg0"', '"other"'))
    standin.set("PublishPackageVersion", Reply(200, b"{}"))  # stores nothing, says nothing
    report_path = tmp_path / "r.json"
    failed = await asyncio.wait_for(
        runner.run(settings(other, standin, report=report_path, max_attempts=2),
                   sleep=NoSleep()),
        RUN_TIMEOUT_S,
    )  # fmt: skip
    assert failed.outcome() is Outcome.SOME_FAILED, failed.summary()
    (version,) = _versions(report_path).values()
    assert "did not confirm it" in str(version["error"])
    assert version["assets"][0]["outcome"] == "failed"  # type: ignore[index]


def local_sha256s_of(root: Path) -> dict[tuple[str, str, str], str]:
    from tests.e2e.test_run import local_sha256s

    return local_sha256s(root)
