"""`uploader run` end to end: real aioboto3 over loopback against the emulator."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import DOMAIN, REGION, REPOSITORY, start_emulator
from uploader import runner
from uploader.config import Rate, RunSettings
from uploader.emulator import EmulatorThread
from uploader.emulator.faults import FaultPlan, Quotas
from uploader.errors import ExitCode, Outcome

PKG = {"domain": DOMAIN, "repository": REPOSITORY, "format": "generic", "namespace": "acme"}


def make_tree(root: Path, versions: int, assets: int = 3, *, size_bytes: int = 1024) -> Path:
    """Files for `versions` x `assets` and a JSON Lines manifest listing them."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for v in range(versions):
        names = []
        for a in range(assets):
            path = root / "files" / f"pkg{v % 7}" / f"{v}" / f"asset{a}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(hashlib.sha512(b"%d/%d" % (v, a)).digest() * (size_bytes // 64))
            names.append({"path": str(path.relative_to(root))})
        entry = {"package": f"pkg{v % 7}", "version": f"1.{v}", "assets": names}
        lines.append(json.dumps(entry))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def settings(manifest: Path, emulator: EmulatorThread, **overrides: Any) -> RunSettings:
    """Run settings aimed at the test emulator's `demo/repo`."""
    values: dict[str, Any] = {
        "manifest": str(manifest),
        "domain": DOMAIN,
        "repository": REPOSITORY,
        "namespace": "acme",
        "endpoint_url": emulator.endpoint_url,
        "region": REGION,
        "rate": Rate(1000.0),
    }
    values.update(overrides)
    return RunSettings(**values)


def remote_sha256s(emulator: EmulatorThread) -> dict[tuple[str, str, str], str]:
    """(package, version, asset) -> SHA-256 of everything the emulator holds, via boto3."""
    client = boto3.client("codeartifact", endpoint_url=emulator.endpoint_url, region_name=REGION)
    found = {}
    for package in client.list_packages(domain=DOMAIN, repository=REPOSITORY)["packages"]:
        name = package["package"]
        pages = client.get_paginator("list_package_versions").paginate(**PKG, package=name)
        for page in pages:
            for version in page["versions"]:
                assert version["status"] == "Published", (name, version)
                assets = client.list_package_version_assets(
                    **PKG, package=name, packageVersion=version["version"]
                )["assets"]
                for asset in assets:
                    key = (name, version["version"], asset["name"])
                    found[key] = asset["hashes"]["SHA-256"]
    return found


def local_sha256s(root: Path) -> dict[tuple[str, str, str], str]:
    """The same map, computed from the files under `root`."""
    found = {}
    for line in (root / "manifest.jsonl").read_text().splitlines():
        entry = json.loads(line)
        for asset in entry["assets"]:
            path = root / asset["path"]
            key = (entry["package"], entry["version"], path.name)
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.mark.slow
async def test_faulty_throttled_run_publishes_everything(tmp_path: Path) -> None:
    """200 versions x 3 assets through 20/s throttling and seeded faults: all Published, exact."""
    manifest = make_tree(tmp_path / "tree", versions=200)
    faults = FaultPlan.parse(["publish:error=0.1,reset=0.05,lost_reply=0.05"], seed=42)
    quotas = Quotas.none().with_rate("PublishPackageVersion", 20)
    emu = start_emulator(tmp_path / "emulator", faults=faults, quotas=quotas)
    try:
        report_path = tmp_path / "report.json"
        report = await runner.run(
            settings(manifest, emu, rate=Rate(20.0), report=report_path, max_uploads=8)
        )
        assert report.outcome() is Outcome.DONE, report.summary()
        assert remote_sha256s(emu) == local_sha256s(tmp_path / "tree")
        written = json.loads(report_path.read_text())
        assert written["totals"]["versions"] == {"finalized": 200}
        assert (
            written["totals"]["assets"].get("published", 0)
            + written["totals"]["assets"].get("already_present", 0)
            == 600
        )
        for version in written["versions"]:
            assert version["status"] == "finalized"
            for asset in version["assets"]:
                path = Path(asset["path"])
                assert asset["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        stats = emu.stats()
        assert stats["faults"]["PublishPackageVersion"], "the faults were injected"
        assert stats["requests"]["PublishPackageVersion"] == report.totals.publish_requests
    finally:
        emu.stop()


async def test_lost_reply_then_conflict_is_success(tmp_path: Path) -> None:
    """A publish whose reply was lost, then refused as a duplicate, counts as published."""
    manifest = make_tree(tmp_path / "tree", versions=2, assets=2)
    faults = FaultPlan.parse(["publish:lost_reply=0.5"], seed=1)
    emu = start_emulator(tmp_path / "emulator", faults=faults, republish_conflicts=True)
    try:
        report = await runner.run(settings(manifest, emu))
        assert report.outcome() is Outcome.DONE, report.summary()
        assert report.totals.assets["already_present"] >= 1
        assert remote_sha256s(emu) == local_sha256s(tmp_path / "tree")
    finally:
        emu.stop()


async def test_different_content_conflict_fails_only_that_version(tmp_path: Path) -> None:
    """An asset stored with other bytes fails its version with a clear error; others publish."""
    manifest = make_tree(tmp_path / "tree", versions=3, assets=1)
    emu = start_emulator(tmp_path / "emulator")
    try:
        client = boto3.client("codeartifact", endpoint_url=emu.endpoint_url, region_name=REGION)
        client.publish_package_version(
            **PKG, package="pkg1", packageVersion="1.1", assetName="asset0.bin",
            assetContent=b"other bytes", assetSHA256=hashlib.sha256(b"other bytes").hexdigest(),
            unfinished=True,
        )  # fmt: skip
        report_path = tmp_path / "report.json"
        report = await runner.run(settings(manifest, emu, report=report_path))
        assert report.outcome() is Outcome.SOME_FAILED
        versions = {v["version"]: v for v in json.loads(report_path.read_text())["versions"]}
        assert versions["1.0"]["status"] == versions["1.2"]["status"] == "finalized"
        assert versions["1.1"]["status"] == "failed"
        assert "asset0.bin already exists with different content" in versions["1.1"]["error"]
        assert hashlib.sha256(b"other bytes").hexdigest() in versions["1.1"]["error"]
    finally:
        emu.stop()


async def test_retry_after_is_honoured_and_attempts_are_not_multiplied(tmp_path: Path) -> None:
    """After a 429 the next attempt waits at least Retry-After; one attempt is one request."""
    manifest = make_tree(tmp_path / "tree", versions=1, assets=3)
    quotas = Quotas.none().with_rate("PublishPackageVersion", 1)
    emu = start_emulator(tmp_path / "emulator", quotas=quotas)
    waits: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        waits.append(seconds)
        import asyncio

        await asyncio.sleep(seconds)

    try:
        report = await runner.run(settings(manifest, emu, rate=Rate(1000.0)), sleep=recording_sleep)
        assert report.outcome() is Outcome.DONE, report.summary()
        assert report.totals.throttled >= 1
        assert waits, "throttled requests were retried"
        assert min(waits) >= 1.0, waits  # the emulator's Retry-After is 1 s
        stats = emu.stats()
        assert stats["requests"]["PublishPackageVersion"] == report.totals.publish_requests
        assert stats["throttled"]["PublishPackageVersion"] == report.totals.throttled
    finally:
        emu.stop()


async def test_dry_run_sends_nothing(emulator: EmulatorThread, tmp_path: Path) -> None:
    """--dry-run hashes every file and makes no request."""
    manifest = make_tree(tmp_path / "tree", versions=4, assets=2)
    report = await runner.run(settings(manifest, emulator, dry_run=True))
    assert report.outcome() is Outcome.DONE
    assert report.totals.versions["hashed"] == 4
    assert report.totals.bytes_hashed == 8 * 1024
    assert emulator.stats()["requests"] == {}


async def test_missing_repository_is_fatal(emulator: EmulatorThread, tmp_path: Path) -> None:
    """A repository that does not exist stops the run with exit 3, before any publish."""
    manifest = make_tree(tmp_path / "tree", versions=3)
    report = await runner.run(settings(manifest, emulator, repository="nope"))
    assert report.outcome() is Outcome.CANNOT_START
    assert "nope" in (report.fatal or "")
    assert "PublishPackageVersion" not in emulator.stats()["requests"]


async def test_unfinished_status_leaves_versions_unfinished(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """status Unfinished publishes the assets and does not finalize."""
    manifest = make_tree(tmp_path / "tree", versions=2, assets=1)
    report = await runner.run(settings(manifest, emulator, status=_status("Unfinished")))
    assert report.totals.versions["unfinished"] == 2
    assert "UpdatePackageVersionsStatus" not in emulator.stats()["requests"]


def _status(value: str) -> Any:
    from uploader.domain import TargetStatus

    return TargetStatus(value)


def run_cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`uploader ARGS` in a subprocess, JSON logs on stderr."""
    env = {**os.environ, "UPLOADER_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "uploader", *args], cwd=cwd, env=env, input=stdin,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_bad_entries_are_reported_and_good_ones_published(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Each bad entry names file:line:field; good entries publish; run exits 1, validate 2."""
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / "m.yaml").write_text(
        "defaults: {domain: demo, repository: repo, namespace: acme}\n"
        "versions:\n"
        "  - {package: good, version: '1', assets: [{path: a.bin}]}\n"
        "  - {package: 'bad name', version: '1', assets: [{path: a.bin}]}\n"
        "  - {package: good, version: '2', assets: [{path: missing.bin}]}\n"
        "  - {package: good, version: 3, assets: [{path: a.bin}]}\n"
        "  - {package: good, version: '4', assets: [{path: a.bin, sha256: '" + "0" * 64 + "'}]}\n"
        "  - {package: good, version: '5', assets: [{path: a.bin}]}\n"
    )
    common = ["--endpoint-url", emulator.endpoint_url, "--region", REGION, "--rate", "1000"]
    result = run_cli("run", "m.yaml", *common, "--report", "r.json", cwd=tmp_path)
    assert result.returncode == ExitCode.SOME_FAILED, result.stderr
    assert "m.yaml:4: versions[1].package" in result.stderr
    assert "m.yaml:5: versions[2].assets[0].path: file not found" in result.stderr
    assert "m.yaml:6: versions[3].version" in result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    statuses = {v["version"]: v["status"] for v in report["versions"]}
    assert statuses == {"1": "finalized", "4": "failed", "5": "finalized"}
    validated = run_cli("validate", "m.yaml", cwd=tmp_path)
    assert validated.returncode == ExitCode.BAD_INPUT
    problem_lines = [line for line in validated.stderr.splitlines() if line.startswith("m.yaml:")]
    problem_lines = [line for line in problem_lines if line[len("m.yaml:")].isdigit()]
    assert len(problem_lines) == 3


def test_stdin_manifest_and_summary(emulator: EmulatorThread, tmp_path: Path) -> None:
    """`-` reads JSON Lines from stdin; the summary line reports the outcome."""
    (tmp_path / "x.bin").write_bytes(b"x" * 100)
    line = json.dumps({"package": "piped", "version": "1", "assets": [{"path": "x.bin"}]})
    result = run_cli(
        "run", "-", "--endpoint-url", emulator.endpoint_url, "--region", REGION,
        "--domain", DOMAIN, "--repository", REPOSITORY, "--namespace", "acme",
        cwd=tmp_path, stdin=line + "\n",
    )  # fmt: skip
    assert result.returncode == ExitCode.OK, result.stderr
    assert "1 finalized" in result.stdout


def test_bad_flags_are_usage_errors(tmp_path: Path) -> None:
    """Bad --rate, --shard or --workers values exit 2 with one line, no traceback."""
    for args in (["--rate", "fast"], ["--shard", "3/2"], ["--workers", "0"]):
        result = run_cli("run", "m.jsonl", *args, cwd=tmp_path)
        assert result.returncode == ExitCode.BAD_INPUT, (args, result.stderr)
        assert "Traceback" not in result.stderr


async def test_shards_split_by_package_and_cover_everything(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Shards 1/3, 2/3, 3/3 publish disjoint packages that together are the whole manifest."""
    manifest = make_tree(tmp_path / "tree", versions=21, assets=1)
    seen: list[set[tuple[str, str]]] = []
    for k in (1, 2, 3):
        report_path = tmp_path / f"r{k}.json"
        journal = tmp_path / f"j{k}.sqlite"
        report = await runner.run(
            settings(manifest, emulator, shard=(k, 3), report=report_path, journal=journal)
        )
        assert report.outcome() is Outcome.DONE
        versions = json.loads(report_path.read_text())["versions"]
        seen.append({(v["package"], v["version"]) for v in versions})
    packages = [{p for p, _ in shard} for shard in seen]
    assert len(packages[0] | packages[1] | packages[2]) == sum(len(p) for p in packages)
    assert sum(len(s) for s in seen) == 21
    assert remote_sha256s(emulator) == local_sha256s(tmp_path / "tree")


@pytest.mark.slow
async def test_rate_auto_finds_a_quota_above_the_default(tmp_path: Path) -> None:
    """--rate auto starts at AWS's 10/s and climbs towards an account's higher quota (25/s)."""
    manifest = make_tree(tmp_path / "tree", versions=60, assets=3)
    quotas = Quotas.none().with_rate("PublishPackageVersion", 25)
    emu = start_emulator(tmp_path / "emulator", quotas=quotas)
    try:
        report = await runner.run(settings(manifest, emu, rate=Rate(None, auto=True)))
        assert report.outcome() is Outcome.DONE, report.summary()
        rate = report.totals.assets["published"] / report.elapsed_s
        throttled = emu.stats()["throttled"].get("PublishPackageVersion", 0)
        assert rate > 12, report.summary()  # above the fixed default of 10/s
        assert throttled <= 0.1 * report.totals.publish_requests, report.summary()
    finally:
        emu.stop()


async def test_unreachable_endpoint_cannot_start(tmp_path: Path) -> None:
    """Nothing listening at the endpoint: exit 3 after the retries, not a failure per version."""
    manifest = make_tree(tmp_path / "tree", versions=3, assets=1)
    report = await runner.run(
        RunSettings(
            manifest=str(manifest),
            domain=DOMAIN,
            repository=REPOSITORY,
            namespace="acme",
            endpoint_url="http://127.0.0.1:9",
            region=REGION,
            max_attempts=2,
        )
    )
    assert report.outcome() is Outcome.CANNOT_START
    assert "cannot use demo/repo" in (report.fatal or "")
    assert not report.totals.versions.get("failed")
