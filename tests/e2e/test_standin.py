"""Tests of the hostile stand-in itself (tests/standin.py), with boto3 and raw aiohttp."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import DOMAIN, REGION, REPOSITORY
from tests.standin import EndlessBody, Hold, NextToken, Redirect, Reply, StandIn, Throttle
from uploader.emulator import EmulatorThread

PKG = {"domain": DOMAIN, "repository": REPOSITORY, "format": "generic", "namespace": "acme"}


@pytest.fixture
def standin(emulator: EmulatorThread) -> Iterator[StandIn]:
    """A stand-in in front of the test emulator."""
    with StandIn(emulator.endpoint_url) as server:
        yield server


def _client(standin: StandIn) -> Any:
    return boto3.client(
        "codeartifact", endpoint_url=standin.endpoint_url, region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}),
    )  # fmt: skip


def _publish(client: Any, content: bytes = b"abc", version: str = "1.0") -> Any:
    return client.publish_package_version(
        **PKG, package="app", packageVersion=version, assetName="a.bin", assetContent=content,
        assetSHA256=hashlib.sha256(content).hexdigest(), unfinished=True,
    )  # fmt: skip


def test_forwards_signed_requests_unchanged(standin: StandIn, emulator: EmulatorThread) -> None:
    """Without behaviours every call reaches the emulator, signature intact, and is counted."""
    client = _client(standin)
    reply = _publish(client)
    assert reply["asset"]["hashes"]["SHA-256"] == hashlib.sha256(b"abc").hexdigest()
    assert standin.count("PublishPackageVersion") == 1
    assert emulator.stats()["requests"]["PublishPackageVersion"] == 1


def test_throttle_answers_429_with_the_given_retry_after(standin: StandIn) -> None:
    """Throttle answers every call of its operation with 429 and that Retry-After."""
    standin.set("PublishPackageVersion", Throttle(retry_after="1000000000"))
    with pytest.raises(ClientError) as caught:
        _publish(_client(standin))
    response = caught.value.response
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1000000000"


def test_times_limits_a_behaviour_to_the_first_requests(standin: StandIn) -> None:
    """With times=1 only the first call misbehaves; the next is forwarded."""
    standin.set("PublishPackageVersion", Throttle(), times=1)
    client = _client(standin)
    with pytest.raises(ClientError):
        _publish(client)
    assert _publish(client)["asset"]["name"] == "a.bin"


async def test_redirect_points_elsewhere_and_reads_no_body(standin: StandIn) -> None:
    """Redirect answers 307 with Location to the given host and the same path."""
    standin.set("PublishPackageVersion", Redirect("http://127.0.0.2:9"))
    async with (
        aiohttp.ClientSession() as session,
        session.post(standin.endpoint_url + "/v1/package/version/publish?x=1",
                     data=b"body", allow_redirects=False) as reply,
    ):  # fmt: skip
        assert reply.status == 307
        assert reply.headers["Location"] == "http://127.0.0.2:9/v1/package/version/publish?x=1"


async def test_a_host_without_upstream_counts_what_it_receives() -> None:
    """With no upstream the stand-in answers 502 and counts the requests and bytes it got."""
    with StandIn(None, host="127.0.0.2") as sink:
        async with (
            aiohttp.ClientSession() as session,
            session.post(sink.endpoint_url + "/anything", data=b"12345") as reply,
        ):
            assert reply.status == 502
        assert sink.count("/anything") == 1
        assert sink.bytes_received == 5


async def test_endless_body_streams_until_the_client_leaves(standin: StandIn) -> None:
    """EndlessBody keeps writing; a client that reads 1 MiB and leaves ends it."""
    standin.set("ListPackageVersions", EndlessBody())
    async with (
        aiohttp.ClientSession() as session,
        session.post(standin.endpoint_url + "/v1/package/versions") as reply,
    ):
        assert reply.headers["Transfer-Encoding"] == "chunked"
        got = await reply.content.readexactly(1024 * 1024)
    assert got == b" " * len(got)
    assert standin.bytes_sent >= len(got)


def test_next_token_repeats_or_never_ends(standin: StandIn) -> None:
    """NextToken sets the same token on every page, or a new one on each."""
    client = _client(standin)
    _publish(client)
    standin.set("ListPackageVersions", NextToken(repeat="again"))
    assert client.list_package_versions(**PKG, package="app")["nextToken"] == "again"
    standin.set("ListPackageVersions", NextToken())
    first = client.list_package_versions(**PKG, package="app")["nextToken"]
    second = client.list_package_versions(**PKG, package="app")["nextToken"]
    assert first != second


def test_reply_replaces_the_answer_after_forwarding(
    standin: StandIn, emulator: EmulatorThread
) -> None:
    """Reply(forward_first=True) lets the emulator store the asset, then answers as told."""
    standin.set("PublishPackageVersion", Reply(200, b"not json", forward_first=True))
    reply = _publish(_client(standin))
    assert "asset" not in reply  # botocore takes an unparsable 200 for an empty reply
    assert emulator.stats()["requests"]["PublishPackageVersion"] == 1


async def test_hold_pauses_a_body_until_released(standin: StandIn) -> None:
    """Hold reads the first bytes, signals, and forwards only once released."""
    hold = Hold(after_bytes=4, then=Reply(204))
    standin.set("PublishPackageVersion", hold)
    async with aiohttp.ClientSession() as session:
        request = session.post(standin.endpoint_url + "/v1/package/version/publish", data=b"x" * 8)
        pending = asyncio.ensure_future(request.__aenter__())
        assert await asyncio.to_thread(hold.reached.wait, 5)
        assert not pending.done()
        standin.release()
        reply = await pending
        assert reply.status == 204
        reply.release()
