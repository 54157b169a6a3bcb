"""Remote assets published through today's `CodeArtifact.publish`, into the emulator.

Streamed (a declared SHA-256: `BlockingBody`) and spooled (none: `Spool`), from S3 on
moto and from the HTTP test server; the real aioboto3 clients on both sides.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DOMAIN, REGION, REPOSITORY
from tests.moto_s3 import BUCKET, fresh_bucket, moto_server
from tests.sources_server import FileServer
from uploader.codeartifact import ClientSettings, CodeArtifact, open_client
from uploader.domain import PackageRef, Target
from uploader.emulator import EmulatorThread
from uploader.errors import RejectedError
from uploader.sources.base import Source, SourceObject
from uploader.sources.body import publish_body
from uploader.sources.errors import TransientSourceError
from uploader.sources.http import HttpSettings, HttpSource
from uploader.sources.s3 import S3Settings, S3Source
from uploader.sources.spool import Spool

PACKAGE = PackageRef(Target(DOMAIN, REPOSITORY), "acme", "app")
DATA = random.Random(7).randbytes(3 * 1024 * 1024 + 11)


@pytest.fixture
async def api(emulator: EmulatorThread) -> AsyncIterator[CodeArtifact]:
    """The uploader's CodeArtifact client on the emulator."""
    async with open_client(ClientSettings(region=REGION, endpoint_url=emulator.endpoint_url)) as c:
        yield CodeArtifact(c)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto S3 server on port 0 for this module's tests."""
    with moto_server() as url:
        yield url


@pytest.fixture
async def s3(moto_url: str) -> AsyncIterator[Any]:
    """A plain S3 client on moto, with a fresh versioned bucket."""
    async with fresh_bucket(moto_url) as client:
        yield client


@pytest.fixture
async def server() -> AsyncIterator[FileServer]:
    """The HTTP test server with `a.tgz` and its checksums declared."""
    files = FileServer()
    files.put("a.tgz", DATA)
    await files.start()
    try:
        yield files
    finally:
        await files.stop()


def http_source() -> HttpSource:
    return HttpSource(HttpSettings(allow_http=True), environ={"NETRC": "/nonexistent"})


async def stream(api: CodeArtifact, source: Source, obj: SourceObject, sha256: str) -> Any:
    """Publish `obj` streamed from its source with `sha256`, as the pipeline would."""
    body = publish_body(await source.open(obj))
    return await api.publish(
        PACKAGE, "1.0", asset_name="a.tgz", body=body, sha256=sha256, size_bytes=obj.size_bytes
    )


async def stored(api: CodeArtifact) -> dict[str, str]:
    """The assets the service holds for version 1.0, by name: their SHA-256."""
    version = await api.describe_version(PACKAGE, "1.0")
    return {} if version is None else {n: a.sha256 for n, a in version.assets.items()}


async def test_declared_sha256_streams_from_http_into_the_service(
    api: CodeArtifact, server: FileServer, emulator: EmulatorThread
) -> None:
    """An Artifactory-style X-Checksum-Sha256 lets the body stream through, read once."""
    async with http_source() as source:
        obj = await source.stat(f"{server.base()}/files/a.tgz")
        assert obj.sha256 is not None
        reply = await stream(api, source, obj, obj.sha256)
    assert reply.confirms("a.tgz", hashlib.sha256(DATA).hexdigest())
    assert await stored(api) == {"a.tgz": hashlib.sha256(DATA).hexdigest()}
    assert [m for m, _, _ in server.requests] == ["HEAD", "GET"]


async def test_a_wrong_declared_sha256_is_refused_by_the_service(
    api: CodeArtifact, server: FileServer, emulator: EmulatorThread
) -> None:
    """A declared SHA-256 that is not the bytes' is refused: nothing is stored."""
    server.put("a.tgz", DATA, sha256=hashlib.sha256(b"other").hexdigest())
    async with http_source() as source:
        obj = await source.stat(f"{server.base()}/files/a.tgz")
        assert obj.sha256 is not None
        with pytest.raises(RejectedError, match="SHA-256"):
            await stream(api, source, obj, obj.sha256)
    assert await stored(api) == {}


async def test_a_reset_mid_body_ends_the_attempt_with_the_source_error(
    api: CodeArtifact, server: FileServer
) -> None:
    """A source connection reset while streaming is the attempt's TransientSourceError."""
    async with http_source() as source:
        obj = await source.stat(f"{server.base()}/reset/a.tgz")
        with pytest.raises(TransientSourceError, match=r"/reset/a\.tgz"):
            await stream(api, source, obj, hashlib.sha256(DATA).hexdigest())


async def test_s3_without_declared_hash_goes_through_the_spool(
    api: CodeArtifact, moto_url: str, s3: Any, emulator: EmulatorThread, tmp_path: Path
) -> None:
    """An S3 object with no trusted checksum is spooled to disk, hashed, then published
    from the spool, a retry reading the spool again and not S3."""
    await s3.put_object(Bucket=BUCKET, Key="big.tgz", Body=DATA)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    spool = Spool(8 * 1024 * 1024, spool_dir=spool_dir, memory_max_bytes=1024 * 1024)
    async with S3Source(S3Settings(endpoint_url=moto_url)) as source:
        obj = await source.stat(f"s3://{BUCKET}/big.tgz")
        assert obj.sha256 is None
        async with spool.fetch(source, obj) as spooled:
            assert spooled.path is not None
            for _ in range(2):
                reply = await api.publish(
                    PACKAGE, "1.0", asset_name="a.tgz", body=spooled.body(),
                    sha256=spooled.sha256, size_bytes=spooled.size_bytes,
                )  # fmt: skip
    assert reply.confirms("a.tgz", hashlib.sha256(DATA).hexdigest())
    assert list(spool_dir.iterdir()) == []
