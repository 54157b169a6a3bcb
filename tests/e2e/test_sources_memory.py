"""A large remote object goes through `open` and the disk spool in bounded memory.

The file is served by `python -m http.server` in another process, so the measure
(tracemalloc, this process only) sees the client's allocations and not the server's.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from uploader.sources.http import HttpSettings, HttpSource
from uploader.sources.spool import Spool

MIB = 1024 * 1024
SIZE_BYTES = 64 * MIB
MAX_GROWTH_BYTES = 32 * MIB

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A 64 MiB file behind a separate HTTP server process: its URL and SHA-256."""
    root = tmp_path_factory.mktemp("served")
    sha = hashlib.sha256()
    with (root / "big.bin").open("wb") as file:
        for i in range(SIZE_BYTES // MIB):
            block = bytes([i % 256]) * MIB
            file.write(block)
            sha.update(block)
    command = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
               "--directory", str(root)]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().split(" port ")[1].split()[0]
        yield f"http://127.0.0.1:{port}/big.bin", sha.hexdigest()
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def source() -> HttpSource:
    return HttpSource(HttpSettings(allow_http=True), environ={"NETRC": "/nonexistent"})


async def test_64_mib_streams_through_open_in_bounded_memory(served: tuple[str, str]) -> None:
    """Reading a 64 MiB body through `open` allocates far less than the body (< 32 MiB)."""
    url, sha256 = served
    async with source() as http:
        obj = await http.stat(url)
        tracemalloc.start()
        try:
            digest = hashlib.sha256()
            async with await http.open(obj) as body:
                async for chunk in body:
                    digest.update(chunk)
            _, peak_bytes = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (obj.size_bytes, digest.hexdigest()) == (SIZE_BYTES, sha256)
    assert peak_bytes < MAX_GROWTH_BYTES, f"peak {peak_bytes / MIB:.1f} MiB"


async def test_64_mib_spools_to_disk_in_bounded_memory(
    served: tuple[str, str], tmp_path: Path
) -> None:
    """Spooling a 64 MiB body to disk keeps memory bounded and hashes it right."""
    url, sha256 = served
    spool = Spool(128 * MIB, spool_dir=tmp_path)
    async with source() as http:
        obj = await http.stat(url)
        tracemalloc.start()
        try:
            async with spool.fetch(http, obj) as spooled:
                _, peak_bytes = tracemalloc.get_traced_memory()
                assert spooled.sha256 == sha256
                assert spooled.path is not None
                assert spooled.path.stat().st_size == SIZE_BYTES
        finally:
            tracemalloc.stop()
    assert peak_bytes < MAX_GROWTH_BYTES, f"peak {peak_bytes / MIB:.1f} MiB"
    assert list(tmp_path.iterdir()) == []
