"""The spool: one download, hashed while written, in memory or on disk, within a budget."""

from __future__ import annotations

import asyncio
import hashlib
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fake_sources import MemorySource
from uploader.sources.errors import (
    PermanentSourceError,
    SourceHashMismatchError,
    TransientSourceError,
)
from uploader.sources.spool import Spool, SpoolBudget

KIB = 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_small_asset_is_spooled_in_memory(tmp_path: Path) -> None:
    """An asset up to the memory threshold is kept as bytes, hashed, no file written."""
    data = random.Random(1).randbytes(100 * KIB)
    source = MemorySource({"m://a": data})
    spool = Spool(1024 * KIB, spool_dir=tmp_path, memory_max_bytes=128 * KIB)
    async with spool.fetch(source, await source.stat("m://a")) as spooled:
        assert (spooled.content, spooled.path, spooled.sha256) == (data, None, sha256(data))
        assert spooled.body() == data
    assert list(tmp_path.iterdir()) == []


async def test_large_asset_goes_to_a_temp_file_removed_after(tmp_path: Path) -> None:
    """An asset over the threshold is a temp file under spool_dir, deleted after the block."""
    data = random.Random(2).randbytes(3 * 1024 * KIB + 7)
    source = MemorySource({"m://a": data})
    spool = Spool(8 * 1024 * KIB, spool_dir=tmp_path, memory_max_bytes=64 * KIB)
    async with spool.fetch(source, await source.stat("m://a")) as spooled:
        assert spooled.content is None
        assert spooled.path is not None
        assert spooled.path.parent == tmp_path
        assert spooled.sha256 == sha256(data)
        for _ in range(2):  # each publish attempt reads it afresh
            body = spooled.body()
            assert not isinstance(body, bytes)
            with body:
                assert body.read() == data
    assert list(tmp_path.iterdir()) == []
    assert source.opens == 1


async def test_temp_file_removed_when_the_download_fails(tmp_path: Path) -> None:
    """A body that breaks mid-way leaves no file and gives the budget back."""
    source = MemorySource({"m://a": bytes(2 * 1024 * KIB)}, break_at=1024 * KIB)
    spool = Spool(4 * 1024 * KIB, spool_dir=tmp_path, memory_max_bytes=0)
    with pytest.raises(TransientSourceError, match="m://a"):
        async with spool.fetch(source, await source.stat("m://a")):
            pass
    assert list(tmp_path.iterdir()) == []
    assert spool.budget.in_use_bytes == 0


async def test_temp_file_removed_when_cancelled(tmp_path: Path) -> None:
    """A fetch cancelled while its block runs removes its file and frees its bytes."""
    source = MemorySource({"m://a": bytes(512 * KIB)})
    spool = Spool(1024 * KIB, spool_dir=tmp_path, memory_max_bytes=0)
    inside = asyncio.Event()

    async def hold() -> None:
        async with spool.fetch(source, await source.stat("m://a")):
            inside.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(hold())
    await inside.wait()
    assert len(list(tmp_path.iterdir())) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(tmp_path.iterdir()) == []
    assert spool.budget.in_use_bytes == 0


async def test_declared_sha1_mismatch_is_detected(tmp_path: Path) -> None:
    """Bytes whose SHA-1 is not the declared one fail, naming the URL and both hashes."""
    source = MemorySource({"m://a": b"good"}, declare=("sha1",))
    obj = await source.stat("m://a")
    source.objects["m://a"] = b"evil"
    spool = Spool(1024 * KIB, spool_dir=tmp_path)
    with pytest.raises(SourceHashMismatchError) as raised:
        async with spool.fetch(source, obj):
            pass
    bad = hashlib.sha1(b"evil", usedforsecurity=False).hexdigest()
    assert str(raised.value) == f"source: m://a: SHA-1 declared {obj.sha1}, the bytes' is {bad}"


async def test_declared_sha1_that_holds_passes(tmp_path: Path) -> None:
    """A declared SHA-1 that matches is checked and kept."""
    source = MemorySource({"m://a": b"good"}, declare=("sha1",))
    obj = await source.stat("m://a")
    async with Spool(KIB).fetch(source, obj) as spooled:
        assert spooled.sha1 == obj.sha1


async def test_asset_larger_than_the_budget_fails_at_once() -> None:
    """An asset that can never fit is a permanent error of that asset, read not at all."""
    source = MemorySource({"m://big": bytes(2 * KIB)})
    with pytest.raises(PermanentSourceError, match="2048 bytes, more than the spool's 1024"):
        async with Spool(KIB).fetch(source, await source.stat("m://big")):
            pass
    assert source.opens == 0


async def test_budget_waits_in_arrival_order() -> None:
    """A reservation that does not fit waits; later small ones queue behind it."""
    budget = SpoolBudget(10)
    await budget.acquire(6)
    order: list[str] = []

    async def take(name: str, size: int) -> None:
        await budget.acquire(size)
        order.append(name)

    big = asyncio.create_task(take("big", 8))
    small = asyncio.create_task(take("small", 2))
    await asyncio.sleep(0)
    assert order == []  # small would fit, but waits behind big
    budget.release(6)
    await asyncio.gather(big, small)
    assert order == ["big", "small"]
    assert budget.in_use_bytes == 10


async def test_a_cancelled_waiter_lets_the_next_one_in() -> None:
    """Cancelling the head waiter wakes those behind it."""
    budget = SpoolBudget(10)
    await budget.acquire(5)
    big = asyncio.create_task(budget.acquire(10))
    small = asyncio.create_task(budget.acquire(5))
    await asyncio.sleep(0)
    big.cancel()
    await asyncio.wait_for(small, 1)
    assert budget.in_use_bytes == 10


@settings(max_examples=25)
@given(
    sizes=st.lists(st.integers(1, 300 * KIB), min_size=1, max_size=40),
    budget_kib=st.integers(300, 1200),
    hold=st.lists(st.integers(0, 3), min_size=40, max_size=40),
)
def test_spool_never_exceeds_its_budget_under_concurrency(
    sizes: list[int], budget_kib: int, hold: list[int]
) -> None:
    """Many concurrent fetches never hold more than the budget (counted by the source and
    by the holders, not by the spool), and every one completes."""
    objects = {f"m://{i}": random.Random(i).randbytes(size) for i, size in enumerate(sizes)}
    source = MemorySource(objects, chunk_bytes=16 * KIB)
    spool = Spool(budget_kib * KIB, memory_max_bytes=100 * KIB)
    held = {"now": 0, "peak": 0}

    async def one(i: int) -> str:
        obj = await source.stat(f"m://{i}")
        async with spool.fetch(source, obj) as spooled:
            held["now"] += obj.size_bytes
            held["peak"] = max(held["peak"], held["now"] + source.open_bytes)
            for _ in range(hold[i]):
                await asyncio.sleep(0)
            held["now"] -= obj.size_bytes
            return spooled.sha256

    async def main() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(len(sizes))))

    digests = asyncio.run(main())
    assert digests == [sha256(objects[f"m://{i}"]) for i in range(len(sizes))]
    assert held["peak"] <= budget_kib * KIB
    assert source.peak_open_bytes <= budget_kib * KIB
    assert spool.budget.peak_bytes <= budget_kib * KIB
    assert spool.budget.in_use_bytes == 0
