"""`uploader serve`: jobs over real HTTP, run by the real client against the emulator."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DOMAIN, REGION, REPOSITORY, SECRET_KEY, start_emulator
from tests.e2e.test_run import local_sha256s, make_tree, remote_sha256s
from uploader import runner
from uploader.config import Rate, RunSettings
from uploader.emulator import EmulatorThread
from uploader.emulator.faults import Quotas
from uploader.service.server import Service

TOKEN = "test-token-0123456789abcdef"
OTHER_TOKEN = "rotated-token-fedcba9876543210"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def service_settings(emulator: EmulatorThread, **overrides: Any) -> RunSettings:
    """The service's settings: the test emulator's `demo/repo`, namespace `acme`."""
    values: dict[str, Any] = {
        "manifest": "-", "domain": DOMAIN, "repository": REPOSITORY, "namespace": "acme",
        "endpoint_url": emulator.endpoint_url, "region": REGION, "rate": Rate(1000.0),
    }  # fmt: skip
    values.update(overrides)
    return RunSettings(**values)


@pytest.fixture
async def service(tmp_path: Path, emulator: EmulatorThread) -> AsyncIterator[Service]:
    """A service on a free port, its root `tmp_path/tree`, two tokens."""
    (tmp_path / "tree").mkdir()
    async with Service(
        service_settings(emulator), data_dir=tmp_path / "data", roots=[tmp_path / "tree"],
        tokens=[TOKEN, OTHER_TOKEN], port=0, max_body_bytes=1024 * 1024,
    ) as running:  # fmt: skip
        yield running


async def wait_for(
    http: aiohttp.ClientSession, url: str, states: set[str], timeout_s: float = 60
) -> dict[str, Any]:
    """Poll a job until it reaches one of `states`."""
    deadline = time.monotonic() + timeout_s
    while True:
        async with http.get(url, headers=AUTH) as reply:
            job: dict[str, Any] = await reply.json()
        if job["state"] in states or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.05)


async def test_a_job_runs_to_completion_and_its_report_is_runs(
    tmp_path: Path, service: Service, emulator: EmulatorThread
) -> None:
    """POST a JSON Lines manifest: the job is queued, runs, succeeds; every asset is on the
    emulator with its SHA-256; its report equals what `uploader run --report` writes."""
    manifest = make_tree(tmp_path / "tree", versions=6)
    async with aiohttp.ClientSession(service.url) as http:
        async with http.post(
            "/v1/jobs",
            data=manifest.read_bytes(),
            headers={**AUTH, "Content-Type": "application/x-ndjson"},
        ) as reply:
            assert reply.status == 201, await reply.text()
            job = await reply.json()
            assert reply.headers["Location"] == f"/v1/jobs/{job['id']}"
        assert job["state"] in ("queued", "running")
        done = await wait_for(http, f"/v1/jobs/{job['id']}", {"succeeded", "failed"})
        assert done["state"] == "succeeded", done
        assert done["counters"]["versions"] == {"finalized": 6}
        assert done["counters"]["assets"] == {"published": 18}
        assert done["started"]
        assert done["finished"]
        async with http.get(f"/v1/jobs/{job['id']}/report", headers=AUTH) as reply:
            assert reply.status == 200
            served = await reply.json()
        async with http.get("/metrics", headers=AUTH) as reply:
            exposition = await reply.text()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }
    assert samples[("uploader_assets_total", (("outcome", "published"),))] == 18
    assert samples[("uploader_jobs", (("state", "succeeded"),))] == 1
    assert samples[("uploader_rate_limit_requests_per_second", (("family", "publish"),))] == 1000
    operation = (("operation", "PublishPackageVersion"),)
    assert samples[("uploader_request_duration_seconds_count", operation)] == 18
    assert remote_sha256s(emulator) == local_sha256s(tmp_path / "tree")
    # The same manifest through `run` against a fresh emulator: the same report.
    fresh = start_emulator(tmp_path / "fresh")
    try:
        report_path = tmp_path / "run-report.json"
        settings = service_settings(fresh, manifest=str(manifest), report=report_path,
                                    journal=tmp_path / "j.sqlite", progress=False)  # fmt: skip
        await runner.run(settings)
    finally:
        fresh.stop()
    by_run = json.loads(report_path.read_text())
    assert set(served) == set(by_run)
    assert _by_version(served) == _by_version(by_run)
    assert served["totals"] == by_run["totals"]


def _by_version(report: dict[str, Any]) -> list[dict[str, Any]]:
    """A report's versions in a fixed order (workers finish in any order)."""
    return sorted(report["versions"], key=lambda v: (v["package"], v["version"]))


async def test_every_endpoint_but_healthz_needs_a_valid_token(service: Service) -> None:
    """401 with WWW-Authenticate without a token and with a wrong one; each token works."""
    async with aiohttp.ClientSession(service.url) as http:
        async with http.get("/healthz") as reply:
            assert reply.status == 200
        for path in ("/v1/jobs", "/metrics", "/readyz", "/v1/openapi.json"):
            async with http.get(path) as reply:
                assert reply.status == 401, path
                assert reply.headers["WWW-Authenticate"].startswith("Bearer")
            async with http.get(
                path, headers={"Authorization": "Bearer wrong-token-000000000"}
            ) as reply:
                assert reply.status == 401, path
        for token in (TOKEN, OTHER_TOKEN):
            async with http.get("/v1/jobs", headers={"Authorization": f"Bearer {token}"}) as reply:
                assert reply.status == 200


async def test_bad_submissions_are_refused_naming_the_place(
    tmp_path: Path, service: Service
) -> None:
    """Oversize body: 413. A path outside the root, or a symlink out of it: 400 naming the
    line and field. Problems are all listed; nothing is queued."""
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"secret")
    (tmp_path / "tree" / "link.bin").symlink_to(outside)
    lines = [
        {"package": "p", "version": "1", "assets": [{"path": "../outside.bin"}]},
        {"package": "p", "version": "2", "assets": [{"path": "link.bin"}]},
        {"package": "p", "version": "3", "assets": [{"path": str(outside)}]},
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    headers = {**AUTH, "Content-Type": "application/x-ndjson"}
    async with aiohttp.ClientSession(service.url) as http:
        async with http.post("/v1/jobs", data=body, headers=headers) as reply:
            assert reply.status == 400
            refused = await reply.json()
        async with http.post(
            "/v1/jobs", data=io.BytesIO(b"x" * (2 * 1024 * 1024)), headers=headers
        ) as reply:
            assert reply.status == 413
        async with http.post(
            "/v1/jobs", data=b"{}", headers={**AUTH, "Content-Type": "text/csv"}
        ) as reply:
            assert reply.status == 415
        async with http.post("/v1/jobs?root=/etc", data=body, headers=headers) as reply:
            assert reply.status == 400
            assert (await reply.json())["error"].startswith("root: '/etc' is not one of")
        async with http.get("/v1/jobs", headers=AUTH) as reply:
            assert (await reply.json())["jobs"] == []
    assert list((service.store.data_dir / "incoming").iterdir()) == []  # nothing left behind
    assert refused["problem_count"] == 3
    for line, problem in enumerate(refused["problems"], start=1):
        assert problem.startswith(f"manifest.jsonl:{line}: assets[0].path: path escapes"), problem


async def test_a_repeated_idempotency_key_creates_one_job(tmp_path: Path, service: Service) -> None:
    """The same POST twice with one Idempotency-Key: 201 then 200, the same job id."""
    make_tree(tmp_path / "tree", versions=1)
    entry = {"package": "solo", "version": "1", "assets": [{"path": "files/pkg0/0/asset0.bin"}]}
    envelope = {"manifest": [entry], "namespace": "other"}
    headers = {**AUTH, "Idempotency-Key": "ci-run-42"}
    async with aiohttp.ClientSession(service.url) as http:
        async with http.post("/v1/jobs", json=envelope, headers=headers) as reply:
            assert reply.status == 201, await reply.text()
            first = await reply.json()
        async with http.post("/v1/jobs", json=envelope, headers=headers) as reply:
            assert reply.status == 200
            second = await reply.json()
        async with http.get("/v1/jobs", headers=AUTH) as reply:
            listed = (await reply.json())["jobs"]
    assert first["id"] == second["id"]
    assert [job["id"] for job in listed] == [first["id"]]
    assert first["settings"]["namespace"] == "other"


async def test_openapi_describes_exactly_the_routes(service: Service) -> None:
    """Every route is in /v1/openapi.json under its name, and every operation is a route."""
    app = service.app()
    routes = {
        (r.method.lower(), r.resource.canonical): r.name for r in app.router.routes() if r.resource
    }
    async with (
        aiohttp.ClientSession(service.url) as http,
        http.get("/v1/openapi.json", headers=AUTH) as reply,
    ):
        spec = await reply.json()
    described = {
        (method, path): operation["operationId"]
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert {k: v for k, v in routes.items() if k[0] != "head"} == described


async def test_cancel_drains_a_running_job(tmp_path: Path) -> None:
    """A job against a slow (2 publishes/s) emulator, cancelled mid-way: state cancelled,
    some versions done, the rest left; a queued job behind it still runs."""
    emu = start_emulator(
        tmp_path / "emulator", quotas=Quotas.none().with_rate("PublishPackageVersion", 4)
    )
    try:
        manifest = make_tree(tmp_path / "tree", versions=40, assets=1)
        async with Service(
            service_settings(emu, rate=Rate(4.0)), data_dir=tmp_path / "data",
            roots=[tmp_path / "tree"], tokens=[TOKEN], port=0, max_jobs=1,
        ) as service, aiohttp.ClientSession(service.url) as http:  # fmt: skip
            headers = {**AUTH, "Content-Type": "application/x-ndjson"}
            async with http.post("/v1/jobs", data=manifest.read_bytes(), headers=headers) as reply:
                big = await reply.json()
            small_body = json.dumps(
                {"package": "tail", "version": "1", "assets": [{"path": "files/pkg0/0/asset0.bin"}]}
            )
            async with http.post("/v1/jobs", data=small_body, headers=headers) as reply:
                small = await reply.json()
            assert small["state"] == "queued"
            await wait_for(http, f"/v1/jobs/{big['id']}", {"running"})
            for _ in range(600):  # a minute at most: wait for some progress to cancel
                if await _finalized(http, big["id"]) >= 2:
                    break
                await asyncio.sleep(0.1)
            async with http.post(f"/v1/jobs/{big['id']}/cancel", headers=AUTH) as reply:
                assert reply.status == 202
            cancelled = await wait_for(
                http, f"/v1/jobs/{big['id']}", {"cancelled", "failed", "succeeded"}
            )
            done = await wait_for(http, f"/v1/jobs/{small['id']}", {"succeeded", "failed"})
        assert cancelled["state"] == "cancelled", cancelled
        assert 0 < cancelled["counters"]["versions"].get("finalized", 0) < 40
        assert done["state"] == "succeeded"
    finally:
        emu.stop()


def start_serve(
    tmp_path: Path, emulator: EmulatorThread, *extra: str
) -> tuple[subprocess.Popen[str], str]:
    """`uploader serve` in a subprocess; its URL from the first stdout line."""
    env = {**os.environ, "UPLOADER_LOG_FORMAT": "json", "UPLOADER_API_TOKENS": TOKEN}
    log = (tmp_path / "serve.log").open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "uploader", "serve", "--port", "0", "--data", str(tmp_path / "data"),
         "--root", str(tmp_path / "tree"), "--endpoint-url", emulator.endpoint_url,
         "--region", REGION, "--domain", DOMAIN, "--repository", REPOSITORY,
         "--namespace", "acme", *extra],
        env=env, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    log.close()
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("listening on "), (tmp_path / "serve.log").read_text()
    return process, line.removeprefix("listening on ").strip()


def stop_serve(process: subprocess.Popen[str]) -> int:
    """SIGTERM, then its exit code."""
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    return process.returncode


async def test_sigterm_drains_and_the_next_start_finishes_without_resending(tmp_path: Path) -> None:
    """SIGTERM mid-job: exit 0, the job interrupted; the next start continues it to
    succeeded, and no asset the emulator confirmed was published twice."""
    emu = start_emulator(
        tmp_path / "emulator", quotas=Quotas.none().with_rate("PublishPackageVersion", 10)
    )
    try:
        manifest = make_tree(tmp_path / "tree", versions=30, assets=1)
        process, url = start_serve(tmp_path, emu, "--rate", "10")
        async with aiohttp.ClientSession(url) as http:
            headers = {**AUTH, "Content-Type": "application/x-ndjson"}
            async with http.post("/v1/jobs", data=manifest.read_bytes(), headers=headers) as reply:
                job = await reply.json()
            await asyncio.sleep(1.2)
        assert stop_serve(process) == 0
        process, url = start_serve(tmp_path, emu, "--rate", "10")
        try:
            async with aiohttp.ClientSession(url) as http:
                done = await wait_for(http, f"/v1/jobs/{job['id']}", {"succeeded", "failed"})
        finally:
            stop_serve(process)
        assert done["state"] == "succeeded", done
        assert done["runs"] == 2
        logged = (tmp_path / "serve.log").read_text()
        assert "interrupted" in logged
        for secret in (TOKEN, SECRET_KEY):
            assert secret not in logged
            assert secret.encode() not in (tmp_path / "data" / "jobs.sqlite").read_bytes()
        publishes = emu.stats()["publishes"]
        assert len(publishes) == 30
        assert set(publishes.values()) == {1}, {k: n for k, n in publishes.items() if n != 1}
    finally:
        emu.stop()


def test_serve_refuses_to_start_without_a_token_off_loopback(tmp_path: Path) -> None:
    """No token: exit 2 (with or without --insecure-no-auth on 0.0.0.0)."""
    (tmp_path / "tree").mkdir()
    base = [sys.executable, "-m", "uploader", "serve", "--port", "0",
            "--root", str(tmp_path / "tree"), "--data", str(tmp_path / "data")]  # fmt: skip
    no_token = subprocess.run(base, check=False, capture_output=True, text=True, timeout=60)
    assert no_token.returncode == 2
    assert "no API token" in no_token.stderr
    open_wide = subprocess.run(
        [*base, "--host", "0.0.0.0", "--insecure-no-auth"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert open_wide.returncode == 2
    assert "loopback" in open_wide.stderr


@pytest.mark.slow
async def test_three_jobs_share_one_quota_fairly(tmp_path: Path) -> None:
    """Jobs of 60, 60 and 15 versions against a 20/s publish quota, the service at
    --rate 20: under 1 % of publishes throttled, all succeed, and when the small one ends
    neither big one has published more than 1.5x its 15 assets (a third of the tokens each)."""
    quota = Quotas.none().with_rate("PublishPackageVersion", 20)
    emu = start_emulator(tmp_path / "emulator", quotas=quota)
    try:
        for name in ("a", "b"):
            make_tree(tmp_path / "tree" / name, versions=60, assets=1)
        make_tree(tmp_path / "tree" / "small", versions=15, assets=1)
        async with Service(
            service_settings(emu, rate=Rate(20.0)), data_dir=tmp_path / "data",
            roots=[tmp_path / "tree"], tokens=[TOKEN], port=0,
        ) as service, aiohttp.ClientSession(service.url) as http:  # fmt: skip
            ids = {}
            for name in ("a", "b", "small"):
                lines = (tmp_path / "tree" / name / "manifest.jsonl").read_text().splitlines()
                body = "\n".join(_prefixed(line, name) for line in lines)
                headers = {**AUTH, "Content-Type": "application/x-ndjson"}
                async with http.post("/v1/jobs", data=body, headers=headers) as reply:
                    assert reply.status == 201, await reply.text()
                    ids[name] = (await reply.json())["id"]
            small = await wait_for(http, f"/v1/jobs/{ids['small']}", {"succeeded", "failed"}, 90)
            others = [await _published(http, ids[name]) for name in ("a", "b")]
            for name in ("a", "b"):
                job = await wait_for(http, f"/v1/jobs/{ids[name]}", {"succeeded", "failed"}, 90)
                assert job["state"] == "succeeded", job
            assert small["state"] == "succeeded", small
        stats = emu.stats()
    finally:
        emu.stop()
    throttled = stats["throttled"].get("PublishPackageVersion", 0)
    sent = sum(stats["publishes"].values()) + throttled
    assert throttled <= 0.01 * sent, stats["throttled"]
    # Fair share: while the small job ran, each job got a third of the tokens, so each big
    # one had published about as many assets as the small one's 15 when it ended.
    assert max(others) <= 1.5 * 15, others


async def _finalized(http: aiohttp.ClientSession, job_id: str) -> int:
    """Versions a job has finalized so far."""
    async with http.get(f"/v1/jobs/{job_id}", headers=AUTH) as reply:
        job: dict[str, Any] = await reply.json()
    return int(job["counters"].get("versions", {}).get("finalized", 0))


async def _published(http: aiohttp.ClientSession, job_id: str) -> int:
    """Assets a job has published so far."""
    async with http.get(f"/v1/jobs/{job_id}", headers=AUTH) as reply:
        job: dict[str, Any] = await reply.json()
    return int(job["counters"].get("assets", {}).get("published", 0))


def _prefixed(line: str, folder: str) -> str:
    """An entry of a sub-tree's manifest with its paths relative to the service's root."""
    entry = json.loads(line)
    entry["package"] = f"{folder}-{entry['package']}"
    for asset in entry["assets"]:
        asset["path"] = f"{folder}/{asset['path']}"
    return json.dumps(entry)


async def test_readyz_checks_the_store_credentials_and_target(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Ready against `demo/repo`; 503 naming the target when the repository does not exist."""
    (tmp_path / "tree").mkdir()
    for repository, status in ((REPOSITORY, 200), ("missing", 503)):
        async with (
            Service(
                service_settings(emulator, repository=repository),
                data_dir=tmp_path / f"data-{repository}", roots=[tmp_path / "tree"],
                tokens=[TOKEN], port=0,
            ) as service,
            aiohttp.ClientSession(service.url) as http,
            http.get("/readyz", headers=AUTH) as reply,
        ):  # fmt: skip
            ready = await reply.json()
        assert reply.status == status, ready
        assert ready["ready"] is (status == 200)
        if status == 503:
            assert any("target: demo/missing" in p for p in ready["problems"]), ready
