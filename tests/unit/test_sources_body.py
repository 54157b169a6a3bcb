"""BlockingBody / publish_body: a source body as a blocking file, read from a thread."""

from __future__ import annotations

import asyncio

import pytest

from tests.fake_sources import MemorySource
from uploader.sources.body import BlockingBody, publish_body


async def test_reads_from_a_thread_give_the_body_and_its_length() -> None:
    """Read in a thread, the file yields the source's bytes; len() is their length."""
    data = bytes(range(256)) * 1000
    source = MemorySource({"m://a": data}, chunk_bytes=1000)
    body = publish_body(await source.open(await source.stat("m://a")))
    assert len(body) == len(data)  # type: ignore[arg-type]
    got = await asyncio.to_thread(body.read)
    body.close()
    await asyncio.sleep(0)  # the release, scheduled on the loop
    assert got == data
    assert source.open_bytes == 0


async def test_a_read_on_the_loop_thread_refuses_rather_than_hangs() -> None:
    """A read made on the loop's own thread raises at once instead of deadlocking."""
    source = MemorySource({"m://a": b"x"})
    body = BlockingBody(await source.open(await source.stat("m://a")))
    with pytest.raises(RuntimeError, match="would hang"):
        body.read()
    body.close()


async def test_close_from_a_thread_releases_the_source() -> None:
    """Closed from another thread (aiohttp's executor), the source's body is released."""
    source = MemorySource({"m://a": bytes(10_000)})
    body = publish_body(await source.open(await source.stat("m://a")))
    await asyncio.to_thread(body.read, 100)
    await asyncio.to_thread(body.close)
    assert source.open_bytes == 0
