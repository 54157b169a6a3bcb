"""Sources: one Source for a run, the store chosen by scheme and opened on first use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.moto_s3 import BUCKET, fresh_bucket, moto_server
from tests.sources_server import FileServer
from uploader.sources.errors import PermanentSourceError
from uploader.sources.http import HttpSettings
from uploader.sources.registry import Sources
from uploader.sources.s3 import S3Settings


@pytest.fixture
async def server() -> AsyncIterator[FileServer]:
    """The HTTP test server holding `a.tgz`."""
    files = FileServer()
    files.put("a.tgz", b"from http")
    await files.start()
    try:
        yield files
    finally:
        await files.stop()


@pytest.fixture
def moto_url() -> Iterator[str]:
    """A moto S3 server on port 0."""
    with moto_server() as url:
        yield url


async def test_each_url_goes_to_its_store(server: FileServer, moto_url: str) -> None:
    """s3:// URLs are read by the S3 source and http:// ones by the HTTP source."""
    async with fresh_bucket(moto_url) as s3:
        await s3.put_object(Bucket=BUCKET, Key="b.tgz", Body=b"from s3")
    http = HttpSettings(allow_http=True)
    async with Sources(S3Settings(endpoint_url=moto_url), http, environ={}) as sources:
        for url, data in ((f"{server.base()}/files/a.tgz", b"from http"),
                          (f"s3://{BUCKET}/b.tgz", b"from s3")):  # fmt: skip
            async with await sources.open(await sources.stat(url)) as body:
                assert b"".join([chunk async for chunk in body]) == data
        assert repr(sources) == "Sources(opened=['http', 's3'])"


async def test_a_store_is_opened_only_when_used(server: FileServer) -> None:
    """HTTP URLs alone never make an S3 client (no S3 credentials are needed)."""
    async with Sources(http=HttpSettings(allow_http=True), environ={}) as sources:
        await sources.stat(f"{server.base()}/files/a.tgz")
        assert repr(sources) == "Sources(opened=['http'])"


async def test_an_unknown_scheme_is_refused() -> None:
    """A URL of another scheme is a permanent error naming it."""
    async with Sources(environ={}) as sources:
        with pytest.raises(PermanentSourceError, match=r"source: ftp://h/x: not an s3://"):
            await sources.stat("ftp://h/x")
