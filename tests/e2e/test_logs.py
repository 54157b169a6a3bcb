"""Logs: one JSON event per throttle, retry, failure and finalize; never a secret."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import structlog

from tests.conftest import DOMAIN, REGION, REPOSITORY, SECRET_KEY, start_emulator
from tests.e2e.test_run import PKG, make_tree
from uploader.emulator.faults import FaultPlan, Quotas
from uploader.errors import ExitCode
from uploader.logs import REDACTED, configure_logging, redact_secrets


def test_events_are_json_bound_to_their_version_and_free_of_secrets(tmp_path: Path) -> None:
    """A faulty, throttled run: JSON lines only, each event bound, no credential anywhere."""
    manifest = make_tree(tmp_path / "tree", versions=8, assets=2)
    faults = FaultPlan.parse(["publish:error=0.2,reset=0.1"], seed=3)
    quotas = Quotas.none().with_rate("PublishPackageVersion", 5)
    emu = start_emulator(tmp_path / "emulator", faults=faults, quotas=quotas)
    try:
        client = boto3.client("codeartifact", endpoint_url=emu.endpoint_url, region_name=REGION)
        client.publish_package_version(
            **PKG, package="pkg1", packageVersion="1.1", assetName="asset0.bin",
            assetContent=b"x", assetSHA256=hashlib.sha256(b"x").hexdigest(), unfinished=True,
        )  # fmt: skip
        env = {**os.environ, "UPLOADER_LOG_FORMAT": "json"}
        result = subprocess.run(
            [sys.executable, "-m", "uploader", "run", str(manifest), "--endpoint-url",
             emu.endpoint_url, "--region", REGION, "--domain", DOMAIN, "--repository",
             REPOSITORY, "--namespace", "acme", "--rate", "50"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        emu.stop()
    assert result.returncode == ExitCode.SOME_FAILED, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stderr.splitlines()]  # JSON lines only
    names = {e["event"] for e in events}
    assert {"throttled", "retrying", "version finalized", "version failed"} <= names
    for event in events:
        if event["event"] in ("throttled", "retrying", "version finalized", "version failed"):
            assert event["namespace"] == "acme"
            assert event["package"].startswith("pkg")
    publish_retries = [e for e in events if e["event"] == "retrying" and "asset" in e]
    assert publish_retries, "publish retries name their asset"
    everything = result.stdout + result.stderr
    for secret in (SECRET_KEY, "Signature=", "Credential=", "AWS4-HMAC-SHA256"):
        assert secret not in everything


def test_redaction_drops_credential_like_keys() -> None:
    """Whatever a caller binds, credential-like keys are replaced before rendering."""
    with structlog.testing.capture_logs(processors=[redact_secrets]) as logs:
        structlog.get_logger().info(
            "x", aws_secret_access_key="s", Authorization="a", session_token="t", package="p"
        )
    assert logs[0]["aws_secret_access_key"] == REDACTED
    assert logs[0]["Authorization"] == REDACTED
    assert logs[0]["session_token"] == REDACTED
    assert logs[0]["package"] == "p"


def test_json_logs_keep_non_ascii_as_is() -> None:
    """A JSON log line writes `café` as UTF-8, not as a `\\u00e9` escape."""
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    try:
        structlog.get_logger().info("version finalized", package="café")
    finally:
        structlog.reset_defaults()
    line = stream.getvalue().strip()
    assert '"package": "café"' in line
    assert json.loads(line)["package"] == "café"
