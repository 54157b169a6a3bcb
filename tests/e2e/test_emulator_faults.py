"""Quotas and seeded faults, observed by a real boto3 client over loopback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import DOMAIN, REPOSITORY, start_emulator
from tests.e2e.test_emulator_api import PKG, make_client, publish
from uploader.emulator.faults import FaultPlan, Quotas


def outcome(client: BaseClient, i: int) -> str:
    """Publish asset `i` once and name what happened."""
    try:
        publish(client, b"asset %d" % i, asset=f"a{i}")
    except ClientError as error:
        return str(error.response["ResponseMetadata"]["HTTPStatusCode"])
    except BotoCoreError:
        return "dropped"
    return "ok"


def run_schedule(tmp_path: Path, seed: int, count: int = 60) -> tuple[list[str], dict[str, object]]:
    """Outcomes of `count` publishes against a fresh faulty emulator, and its stats."""
    plan = FaultPlan.parse(["publish:error=0.2,reset=0.1,lost_reply=0.1"], seed=seed)
    emu = start_emulator(tmp_path, faults=plan)
    try:
        client = make_client(emu.endpoint_url)
        return [outcome(client, i) for i in range(count)], emu.stats()
    finally:
        emu.stop()


def test_fault_schedule_is_reproducible(tmp_path: Path) -> None:
    """The same seed gives the same outcome for every request; another seed does not."""
    first, stats = run_schedule(tmp_path / "a", seed=7)
    again, _ = run_schedule(tmp_path / "b", seed=7)
    other, _ = run_schedule(tmp_path / "c", seed=8)
    assert first == again
    assert first != other
    assert {"ok", "500", "503", "dropped"} <= set(first)
    assert sum(stats["faults"]["PublishPackageVersion"].values()) == first.count(
        "500"
    ) + first.count(  # type: ignore[index]
        "503"
    ) + first.count("dropped")


def test_lost_reply_stores_the_asset(tmp_path: Path) -> None:
    """A lost reply answers 500 although the asset was stored; a retry is then accepted."""
    emu = start_emulator(tmp_path, faults=FaultPlan.parse(["publish:lost_reply=1"]))
    try:
        client = make_client(emu.endpoint_url)
        with pytest.raises(ClientError) as excinfo:
            publish(client, b"kept")
        assert excinfo.value.response["Error"]["Code"] == "InternalServerException"
        assets = client.list_package_version_assets(**PKG, package="app", packageVersion="1.0.0")
        assert assets["assets"][0]["hashes"]["SHA-256"] == hashlib.sha256(b"kept").hexdigest()
        assert emu.stats()["publishes"] == {
            f"{DOMAIN}/{REPOSITORY}/generic/acme/app/1.0.0/app.tar.gz": 1
        }
    finally:
        emu.stop()


def test_reset_drops_the_connection_and_stores_nothing(tmp_path: Path) -> None:
    """A reset reads part of the body then closes the connection: no reply, nothing stored."""
    emu = start_emulator(tmp_path, faults=FaultPlan.parse(["publish:reset=1"]))
    try:
        client = make_client(emu.endpoint_url)
        with pytest.raises(BotoCoreError):
            publish(client, b"x" * (1024 * 1024))
        with pytest.raises(ClientError) as excinfo:
            client.describe_package_version(**PKG, package="app", packageVersion="1.0.0")
        assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    finally:
        emu.stop()


def test_throttling_carries_retry_after(tmp_path: Path) -> None:
    """An empty bucket answers 429 ThrottlingException with a Retry-After in seconds."""
    emu = start_emulator(tmp_path, quotas=Quotas.none().with_rate("PublishPackageVersion", 1))
    try:
        client = make_client(emu.endpoint_url)
        publish(client, b"first", asset="a")
        with pytest.raises(ClientError) as excinfo:
            publish(client, b"second", asset="b")
        response = excinfo.value.response
        assert response["Error"]["Code"] == "ThrottlingException"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert int(response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
        assert response["retryAfterSeconds"] >= 1
        stats = emu.stats()
        assert stats["throttled"] == {"PublishPackageVersion": 1}
    finally:
        emu.stop()


def test_aws_quotas_limit_publish_to_ten_per_second(tmp_path: Path) -> None:
    """With AWS's quotas, a burst of publishes is cut at the 10/s bucket."""
    emu = start_emulator(tmp_path, quotas=Quotas.aws())
    try:
        client = make_client(emu.endpoint_url)
        outcomes = [outcome(client, i) for i in range(30)]
        assert outcomes.count("429") >= 10
        assert 10 <= outcomes.count("ok") <= 20
    finally:
        emu.stop()


def test_latency_fault_delays_replies(tmp_path: Path) -> None:
    """latency=200ms makes each reply at least that late."""
    import time

    emu = start_emulator(tmp_path, faults=FaultPlan.parse(["*:latency=200ms"]))
    try:
        client = make_client(emu.endpoint_url)
        started = time.monotonic()
        client.describe_domain(domain=DOMAIN)
        assert time.monotonic() - started >= 0.2
    finally:
        emu.stop()
