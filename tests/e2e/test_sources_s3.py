"""S3Source against moto in server mode over loopback, with the real aioboto3 client."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.conftest import SECRET_KEY
from tests.moto_s3 import BUCKET, fresh_bucket, moto_server
from uploader.sources.base import SourceIdentity, SourceObject
from uploader.sources.errors import (
    FatalSourceError,
    SourceChangedError,
    SourceError,
    SourceNotFoundError,
)
from uploader.sources.s3 import S3Settings, S3Source

DATA = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto S3 server on port 0 for this module's tests."""
    with moto_server() as url:
        yield url


@pytest.fixture
async def s3(moto_url: str) -> AsyncIterator[Any]:
    """A plain S3 client on moto; a fresh versioned bucket holding `a.tgz`."""
    async with fresh_bucket(moto_url) as client:
        await client.put_object(Bucket=BUCKET, Key="a.tgz", Body=DATA)
        yield client


@pytest.fixture
async def source(moto_url: str, s3: Any) -> AsyncIterator[S3Source]:
    """An S3Source pointed at moto by its own endpoint setting."""
    async with S3Source(S3Settings(endpoint_url=moto_url)) as opened:
        yield opened


async def read_all(source: S3Source, obj: SourceObject, start_byte: int = 0) -> bytes:
    """The body of `obj` from `start_byte`, read through `open`."""
    async with await source.open(obj, start_byte=start_byte) as body:
        return b"".join([chunk async for chunk in body])


async def test_stat_gives_size_and_identity(source: S3Source) -> None:
    """HeadObject gives the size, the ETag, the VersionId and the time."""
    obj = await source.stat(f"s3://{BUCKET}/a.tgz")
    assert obj.size_bytes == len(DATA)
    assert obj.identity.etag == '"' + hashlib.md5(DATA, usedforsecurity=False).hexdigest() + '"'
    assert obj.identity.version_id
    assert obj.identity.last_modified


async def test_open_streams_the_object_and_ranges(source: S3Source) -> None:
    """open yields the bytes; from a start byte, the rest of them."""
    obj = await source.stat(f"s3://{BUCKET}/a.tgz")
    assert await read_all(source, obj) == DATA
    assert await read_all(source, obj, start_byte=1000) == DATA[1000:]


async def test_a_sha256_without_checksum_type_is_not_trusted(source: S3Source, s3: Any) -> None:
    """moto returns ChecksumSHA256 but no ChecksumType: not declared (only FULL_OBJECT is)."""
    put = await s3.put_object(Bucket=BUCKET, Key="c.tgz", Body=DATA, ChecksumAlgorithm="SHA256")
    assert base64.b64decode(put["ChecksumSHA256"]) == hashlib.sha256(DATA).digest()
    obj = await source.stat(f"s3://{BUCKET}/c.tgz")
    assert obj.sha256 is None


async def test_version_id_in_the_url_reads_that_version(source: S3Source, s3: Any) -> None:
    """`?versionId=` names an older version, which is read though the key moved on."""
    old = await source.stat(f"s3://{BUCKET}/a.tgz")
    await s3.put_object(Bucket=BUCKET, Key="a.tgz", Body=b"new")
    pinned = await source.stat(f"s3://{BUCKET}/a.tgz?versionId={old.identity.version_id}")
    assert pinned.size_bytes == len(DATA)
    assert await read_all(source, pinned) == DATA


async def test_a_stat_pins_the_version_it_saw(source: S3Source, s3: Any) -> None:
    """An object overwritten after stat is still read as stat'ed (its version)."""
    obj = await source.stat(f"s3://{BUCKET}/a.tgz")
    await s3.put_object(Bucket=BUCKET, Key="a.tgz", Body=b"new")
    assert await read_all(source, obj) == DATA


async def test_changed_object_is_refused(source: S3Source, s3: Any) -> None:
    """Without a version to pin, an overwritten object fails If-Match: SourceChangedError."""
    obj = await source.stat(f"s3://{BUCKET}/a.tgz")
    await s3.put_object(Bucket=BUCKET, Key="a.tgz", Body=DATA[::-1])
    unpinned = SourceObject(obj.url, obj.size_bytes, None, None, SourceIdentity(obj.identity.etag))
    with pytest.raises(SourceChangedError, match=r"412 PreconditionFailed"):
        await source.open(unpinned)


async def test_missing_key_names_the_url(source: S3Source) -> None:
    """A missing key is SourceNotFoundError `source: s3://bucket/key: 404 ...`."""
    with pytest.raises(SourceNotFoundError) as raised:
        await source.stat(f"s3://{BUCKET}/nope.tgz")
    assert str(raised.value) == f"source: s3://{BUCKET}/nope.tgz: 404 Not Found"


async def test_endpoint_from_the_s3_variable(moto_url: str, s3: Any) -> None:
    """Without an endpoint setting, AWS_ENDPOINT_URL_S3 is used (and AWS_ENDPOINT_URL is not)."""
    environ = {"AWS_ENDPOINT_URL_S3": moto_url, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    async with S3Source(environ=environ) as source:
        assert source.endpoint_url == moto_url
        assert (await source.stat(f"s3://{BUCKET}/a.tgz")).size_bytes == len(DATA)


async def test_no_credentials_is_fatal(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials at all is a FatalSourceError (exit 3), naming no secret."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    async with S3Source(S3Settings(endpoint_url=moto_url)) as source:
        with pytest.raises(FatalSourceError, match="no S3 credentials"):
            await source.stat(f"s3://{BUCKET}/a.tgz")


async def test_unknown_profile_is_fatal() -> None:
    """An unknown profile is a FatalSourceError at start."""
    with pytest.raises(FatalSourceError, match="profile 'ghost' not found"):
        async with S3Source(S3Settings(profile="ghost")):
            pass


async def test_no_secret_key_in_errors_or_logs(source: S3Source) -> None:
    """The secret key appears in no error message and no log line."""
    with capture_logs() as logs, pytest.raises(SourceError) as raised:
        await source.stat(f"s3://{BUCKET}/nope.tgz")
    assert SECRET_KEY not in str(raised.value) + repr(source) + str(logs)
