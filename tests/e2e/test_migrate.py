"""Migrating straight from a store: `scan` -> `validate` -> `run` -> `verify`, end to end.

S3 is moto in server mode (real HTTP, the real aioboto3 client on both sides);
Artifactory and Nexus are the store fakes of tests/stores_fakes.py; the target is the
embedded emulator (`--local`). Every command runs as the user runs it: a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY
from tests.moto_s3 import moto_server
from tests.stores_fakes import PASSWORD, TOKEN, USER, StoredFile, StoreServer
from uploader.errors import ExitCode

NAMES = ("--domain", "mig", "--repository", "repo")
TARGET = ("--local", "--local-dir", "emu", *NAMES)
BEARER = ("--source-header", "Authorization: env:STORE_TOKEN")


def uploader(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`uploader ARGS` in a subprocess with JSON logs, no netrc of the developer's."""
    environ = {**os.environ, "UPLOADER_LOG_FORMAT": "json", "HOME": str(cwd), **env}
    return subprocess.run(
        [sys.executable, "-m", "uploader", *args], cwd=cwd, env=environ,
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def report(path: Path) -> dict[str, Any]:
    """A run's JSON report."""
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for the whole module."""
    with moto_server() as url:
        yield url


def full_object(request: Any, **_: Any) -> None:
    """Mark a put's checksum FULL_OBJECT, as S3 reports a single put's (moto does not)."""
    request.headers["x-amz-checksum-type"] = "FULL_OBJECT"


def fill_bucket(url: str, name: str, packages: int) -> Any:
    """`packages` packages of one version and two assets; even ones with a declared SHA-256."""
    client = boto3.client(
        "s3", endpoint_url=url, region_name=REGION,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )  # fmt: skip
    client.create_bucket(Bucket=name)
    for p in range(packages):
        declared = p % 2 == 0
        if declared:
            client.meta.events.register("before-sign.s3.PutObject", full_object)
        for asset in ("tool.tgz", "NOTES.txt"):
            extra = {"ChecksumAlgorithm": "SHA256"} if declared else {}
            body = hashlib.sha512(f"{p}/{asset}".encode()).digest() * (1 + p)
            client.put_object(Bucket=name, Key=f"dump/acme/tool-{p}/1.{p}/{asset}", Body=body,
                              **extra)  # fmt: skip
        if declared:
            client.meta.events.unregister("before-sign.s3.PutObject", full_object)
    return client


def test_fifty_packages_from_s3_round_trip(moto_url: str, tmp_path: Path) -> None:
    """scan s3:// -> validate -> run -> verify: 50 packages, exit 0 each; a rerun downloads
    0 bytes and publishes nothing; verify --no-download checks the declared ones only."""
    fill_bucket(moto_url, "round-trip", 50)
    source = ("--source-endpoint-url", moto_url)
    manifest = tmp_path / "m.jsonl"
    scanned = uploader("scan", "s3://round-trip/dump/", *source, "-o", str(manifest), cwd=tmp_path)
    assert scanned.returncode == ExitCode.OK, scanned.stderr
    validated = uploader("validate", str(manifest), *NAMES, cwd=tmp_path)
    assert validated.returncode == ExitCode.OK, validated.stdout + validated.stderr
    assert "50 version(s), 100 asset(s)" in validated.stdout

    first = tmp_path / "first.json"
    ran = uploader("run", str(manifest), *TARGET, *source, "--report", str(first), cwd=tmp_path)
    assert ran.returncode == ExitCode.OK, ran.stderr[-3000:]
    totals = report(first)["totals"]
    assert totals["versions"] == {"finalized": 50}
    assert totals["assets"] == {"published": 100}
    undeclared = sum(len(hashlib.sha512(b"x").digest()) * (1 + p) * 2 for p in range(1, 50, 2))
    assert totals["bytes_downloaded"] == undeclared  # declared ones streamed, never spooled

    verified = uploader("verify", str(manifest), *TARGET, *source, cwd=tmp_path)
    assert verified.returncode == ExitCode.OK, verified.stdout + verified.stderr[-2000:]
    assert "50 match, 0 differ" in verified.stdout
    audit = uploader("verify", str(manifest), *TARGET, *source, "--no-download", cwd=tmp_path)
    assert audit.returncode == ExitCode.SOME_FAILED
    assert "25 match, 25 differ" in audit.stdout
    assert "no SHA-256 declared by the manifest or the store" in audit.stdout

    again = tmp_path / "again.json"
    rerun = uploader("run", str(manifest), *TARGET, *source, "--report", str(again), cwd=tmp_path)
    assert rerun.returncode == ExitCode.OK, rerun.stderr[-3000:]
    totals = report(again)["totals"]
    assert totals["versions"] == {"skipped": 50}
    assert (totals["bytes_downloaded"], totals["publish_requests"]) == (0, 0)
    for text in (ran.stdout, ran.stderr, rerun.stderr, first.read_text(), verified.stderr):
        assert SECRET_KEY not in text


def test_a_wrong_declared_sha256_fails_that_asset_only(moto_url: str, tmp_path: Path) -> None:
    """A manifest's sha256 the object does not have: that version fails naming the URL and
    both hashes (the service refused the stream); the other version is Published."""
    client = fill_bucket(moto_url, "wrong-hash", 2)
    good = client.get_object(Bucket="wrong-hash", Key="dump/acme/tool-1/1.1/tool.tgz")["Body"]
    true_sha = hashlib.sha256(good.read()).hexdigest()
    lie = "0" * 64
    entries = [
        {"package": "bad", "version": "1", "assets": [
            {"url": "s3://wrong-hash/dump/acme/tool-1/1.1/tool.tgz", "sha256": lie}]},
        {"package": "good", "version": "1", "assets": [
            {"url": "s3://wrong-hash/dump/acme/tool-0/1.0/tool.tgz"}]},
    ]  # fmt: skip
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    out = tmp_path / "r.json"
    source = ("--source-endpoint-url", moto_url)
    ran = uploader("run", str(manifest), *TARGET, "--namespace", "acme", *source,
                   "--report", str(out), cwd=tmp_path)  # fmt: skip
    assert ran.returncode == ExitCode.SOME_FAILED, ran.stderr[-3000:]
    versions = {v["package"]: v for v in report(out)["versions"]}
    assert versions["good"]["status"] == "finalized"
    assert versions["bad"]["status"] == "failed"
    error = versions["bad"]["error"]
    assert "s3://wrong-hash/dump/acme/tool-1/1.1/tool.tgz" in error
    assert lie in error
    assert true_sha in error


def store_packages(count: int) -> dict[str, StoredFile]:
    """`count` packages of one asset; every other one without a SHA-256 (pre-5.5)."""
    return {
        f"acme/tool-{n}/1.{n}/tool-{n}.tgz": StoredFile(b"tool %d " % n * 50, sha256=n % 2 == 0)
        for n in range(count)
    }


@pytest.mark.parametrize("kind", ["artifactory", "nexus"])
def test_fifty_packages_from_a_store_round_trip(kind: str, tmp_path: Path) -> None:
    """scan --artifactory/--nexus -> validate -> run -> verify: exit 0 each; the bearer
    token (Artifactory) or the netrc password (Nexus) never appears in a log line or the
    report."""
    repo = "generic-local"
    server = StoreServer(repos={repo: store_packages(50)}).start()
    try:
        base = f"{server.url}/artifactory" if kind == "artifactory" else server.url
        manifest = tmp_path / "m.jsonl"
        env = {"STORE_TOKEN": f"Bearer {TOKEN}"}
        auth: tuple[str, ...] = BEARER
        if kind == "nexus":  # HOME is tmp_path: this is the netrc every command reads
            (tmp_path / ".netrc").write_text(
                f"machine 127.0.0.1 login {USER} password {PASSWORD}\n"
            )
            (tmp_path / ".netrc").chmod(0o600)
            auth = ()
        scanned = uploader("scan", f"--{kind}", base, repo, *auth, "-o", str(manifest),
                           cwd=tmp_path, **env)  # fmt: skip
        assert scanned.returncode == ExitCode.OK, scanned.stderr
        validated = uploader("validate", str(manifest), *NAMES, cwd=tmp_path)
        assert validated.returncode == ExitCode.OK, validated.stdout + validated.stderr
        out = tmp_path / "r.json"
        http = (*auth, "--allow-http")
        ran = uploader("run", str(manifest), *TARGET, *http, "--report", str(out), cwd=tmp_path,
                       **env)  # fmt: skip
        assert ran.returncode == ExitCode.OK, ran.stderr[-3000:]
        assert report(out)["totals"]["versions"] == {"finalized": 50}
        verified = uploader("verify", str(manifest), *TARGET, *http, cwd=tmp_path, **env)
        assert verified.returncode == ExitCode.OK, verified.stdout + verified.stderr[-2000:]
        assert "50 match, 0 differ" in verified.stdout
        for text in (scanned.stderr, ran.stdout, ran.stderr, out.read_text(), verified.stderr):
            assert TOKEN not in text
            assert PASSWORD not in text
    finally:
        server.stop()


def test_no_s3_credentials_at_all_is_exit_3(moto_url: str, tmp_path: Path) -> None:
    """An s3:// asset and no AWS credentials anywhere: the run cannot start, exit 3,
    naming the source; the emulator target (--local) needs none of its own."""
    manifest = tmp_path / "m.jsonl"
    asset = {"url": "s3://nobody/acme/x/1/x.tgz"}
    manifest.write_text(json.dumps({"package": "x", "version": "1", "assets": [asset]}) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    ran = subprocess.run(
        [sys.executable, "-m", "uploader", "run", str(manifest), *TARGET, "--namespace", "acme",
         "--source-endpoint-url", moto_url],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == ExitCode.CANNOT_START, ran.stderr[-2000:]
    assert "s3://nobody/acme/x/1/x.tgz" in ran.stderr
