"""S3Source's declared-hash and fault paths against a small S3 stand-in whose replies
the test controls (moto never returns ChecksumType, and does not throttle or reset).

The stand-in answers HeadObject and GetObject (path style: `/BUCKET/KEY`) for one
object, with the `x-amz-checksum-*` headers set per test, and can answer `SlowDown` or
close the connection halfway through a body.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from tests.conftest import DOMAIN, REGION, REPOSITORY
from uploader.codeartifact import ClientSettings, CodeArtifact, open_client
from uploader.domain import PackageRef, Target
from uploader.emulator import EmulatorThread
from uploader.sources.base import SourceObject
from uploader.sources.body import publish_body
from uploader.sources.errors import TransientSourceError
from uploader.sources.s3 import S3Settings, S3Source

DATA = bytes(range(256)) * 8192  # 2 MiB
SHA256_B64 = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
SLOW_DOWN = b"<Error><Code>SlowDown</Code><Message>Please reduce your rate</Message></Error>"


@dataclass
class FakeS3:
    """One object at /bkt/key; `checksum_type`, `slow_downs` and `reset` shape replies."""

    checksum_type: str | None = "FULL_OBJECT"
    slow_downs: int = 0
    reset: bool = False
    seen: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.method)
        if request.path != "/bkt/key":
            raise web.HTTPNotFound()
        if request.method == "GET" and self.slow_downs:
            self.slow_downs -= 1
            return web.Response(status=503, body=SLOW_DOWN, content_type="application/xml")
        headers = {"ETag": '"e1"', "Last-Modified": "Wed, 02 Dec 2026 10:00:00 GMT",
                   "x-amz-checksum-sha256": SHA256_B64}  # fmt: skip
        if self.checksum_type:
            headers["x-amz-checksum-type"] = self.checksum_type
        reply = web.StreamResponse(headers=headers)
        reply.content_length = len(DATA)
        await reply.prepare(request)
        if request.method == "GET":
            await reply.write(DATA[: len(DATA) // 2] if self.reset else DATA)
            if self.reset:
                assert request.transport is not None
                request.transport.close()
        return reply


@pytest.fixture
async def fake_s3() -> AsyncIterator[FakeS3]:
    """The S3 stand-in on a free loopback port."""
    fake = FakeS3()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
async def source(fake_s3: FakeS3) -> AsyncIterator[S3Source]:
    """An S3Source on the stand-in."""
    async with S3Source(S3Settings(endpoint_url=fake_s3.url)) as opened:
        yield opened


async def read_all(source: S3Source, obj: SourceObject) -> bytes:
    """The whole body of `obj`, read through `open`."""
    async with await source.open(obj) as body:
        return b"".join([chunk async for chunk in body])


async def test_full_object_sha256_is_declared(source: S3Source) -> None:
    """A FULL_OBJECT x-amz-checksum-sha256 is the object's SHA-256, in hex."""
    obj = await source.stat("s3://bkt/key")
    assert obj.sha256 == hashlib.sha256(DATA).hexdigest()


async def test_composite_sha256_is_not_declared(source: S3Source, fake_s3: FakeS3) -> None:
    """A COMPOSITE checksum (of a multipart object's parts) declares nothing."""
    fake_s3.checksum_type = "COMPOSITE"
    assert (await source.stat("s3://bkt/key")).sha256 is None


async def test_slow_down_is_transient(source: S3Source, fake_s3: FakeS3) -> None:
    """S3's 503 SlowDown is a TransientSourceError; the next open reads the object."""
    obj = await source.stat("s3://bkt/key")
    fake_s3.slow_downs = 1
    with pytest.raises(TransientSourceError, match=r"source: s3://bkt/key: 503 SlowDown"):
        await source.open(obj)
    assert await read_all(source, obj) == DATA


async def test_reset_mid_body_is_transient(source: S3Source, fake_s3: FakeS3) -> None:
    """A connection closed halfway through a GetObject body is a TransientSourceError."""
    obj = await source.stat("s3://bkt/key")
    fake_s3.reset = True
    with pytest.raises(TransientSourceError, match="s3://bkt/key"):
        await read_all(source, obj)


async def test_declared_sha256_streams_from_s3_to_the_service(
    source: S3Source, emulator: EmulatorThread
) -> None:
    """With a trusted SHA-256 the object streams from S3 into PublishPackageVersion once."""
    obj = await source.stat("s3://bkt/key")
    assert obj.sha256 is not None
    settings = ClientSettings(region=REGION, endpoint_url=emulator.endpoint_url)
    async with open_client(settings) as client:
        reply = await CodeArtifact(client).publish(
            PackageRef(Target(DOMAIN, REPOSITORY), "acme", "app"), "1.0", asset_name="key",
            body=publish_body(await source.open(obj)), sha256=obj.sha256,
            size_bytes=obj.size_bytes,
        )  # fmt: skip
    assert reply.confirms("key", obj.sha256)
