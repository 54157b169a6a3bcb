"""Remote assets under source faults: `run` over HTTP(S) sources into the emulator.

The sources are tests/sources_server.py over loopback (503s, resets mid-body, 404s, a
bearer-protected path); the target is a real emulator; the run is `runner.run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import start_emulator
from tests.e2e.test_run import settings
from tests.sources_server import FileServer
from uploader import runner
from uploader.assets import Assets, SourcedDigest
from uploader.errors import Outcome
from uploader.hashing import Hasher
from uploader.manifest import Place, RemoteAssetSpec
from uploader.sources.http import HttpSettings
from uploader.sources.registry import Sources
from uploader.sources.spool import Spool

TOKEN = "Bearer s3cr3t-t0ken-of-the-store"


@pytest.fixture
async def files() -> AsyncIterator[FileServer]:
    """A file server on port 0 with six files, their true SHA-256s declared on half."""
    server = FileServer(auth=TOKEN)
    for n in range(6):
        server.put(f"f{n}.bin", hashlib.sha512(b"%d" % n).digest() * 2000, declare=n % 2 == 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def manifest_of(path: Path, urls: dict[str, str]) -> Path:
    """One version per package: `package -> url`."""
    lines = [
        json.dumps({"package": package, "version": "1", "assets": [{"url": url}]})
        for package, url in urls.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_fault_mix_fails_each_bad_version_with_its_url(
    files: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """503s then success, a private file with a bearer token: Published; a body reset every
    time and a 404: those versions failed, each naming its URL; the token is never shown."""
    base = files.base()
    urls = {
        "plain": f"{base}/files/f0.bin",
        "undeclared": f"{base}/files/f1.bin",
        "flaky": f"{base}/flaky/2/f2.bin",
        "private": f"{base}/private/f3.bin",
        "reset": f"{base}/reset/f4.bin",
        "missing": f"{base}/files/nope.bin",
    }
    manifest = manifest_of(tmp_path / "m.jsonl", urls)
    out = tmp_path / "report.json"
    emu = start_emulator(tmp_path / "emulator")
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("STORE_TOKEN", TOKEN)
            run = settings(manifest, emu, report=out, allow_http=True, max_attempts=3,
                           source_header="Authorization: env:STORE_TOKEN")  # fmt: skip
            result = await runner.run(run)
    finally:
        emu.stop()
    assert result.outcome() is Outcome.SOME_FAILED
    versions = {v["package"]: v for v in json.loads(out.read_text())["versions"]}
    for good in ("plain", "undeclared", "flaky", "private"):
        assert versions[good]["status"] == "finalized", versions[good]
    assert versions["missing"]["status"] == "failed"
    assert f"{base}/files/nope.bin: 404" in versions["missing"]["error"]
    assert versions["reset"]["status"] == "failed"
    assert f"{base}/reset/f4.bin" in versions["reset"]["error"]
    shown = capsys.readouterr()
    for text in (shown.out, shown.err, out.read_text()):
        assert TOKEN not in text
        assert "s3cr3t" not in text


async def test_http_urls_need_allow_http(files: FileServer, tmp_path: Path) -> None:
    """Without --allow-http an http:// asset fails its version, saying so; nothing is read."""
    manifest = manifest_of(tmp_path / "m.jsonl", {"plain": f"{files.base()}/files/f0.bin"})
    out = tmp_path / "report.json"
    emu = start_emulator(tmp_path / "emulator")
    try:
        result = await runner.run(settings(manifest, emu, report=out))
    finally:
        emu.stop()
    assert result.outcome() is Outcome.SOME_FAILED
    (version,) = json.loads(out.read_text())["versions"]
    assert "--allow-http" in version["error"]
    assert not files.requests


async def test_a_version_larger_than_spool_bytes_still_publishes(
    files: FileServer, tmp_path: Path
) -> None:
    """Undeclared assets larger together than --spool-bytes: the version is Published
    (spooled one at a time to be hashed, then streamed), with no wait for budget."""
    size = len(files.files["f1.bin"].data)
    many: dict[str, Any] = {
        "package": "big", "version": "1",
        "assets": [{"url": f"{files.base()}/files/f{n}.bin", "name": f"f{n}.bin"}
                   for n in (1, 3, 5)],
    }  # fmt: skip
    for n in (1, 3, 5):
        files.files[f"f{n}.bin"].sha256 = None
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps(many) + "\n")
    out = tmp_path / "report.json"
    emu = start_emulator(tmp_path / "emulator")
    try:
        result = await runner.run(
            settings(manifest, emu, report=out, allow_http=True, spool_bytes=2 * size)
        )
    finally:
        emu.stop()
    assert result.outcome() is Outcome.DONE, out.read_text()
    assert result.totals.versions == {"finalized": 1}


async def test_a_version_larger_than_the_spool_is_spooled_one_at_a_time(
    files: FileServer,
) -> None:
    """Three undeclared assets, a budget of two: each is hashed through the spool alone and
    let go (to be streamed with the hash found); the budget's peak stays within it."""
    size = len(files.files["f1.bin"].data)
    specs = [
        RemoteAssetSpec(f"f{n}.bin", f"{files.base()}/files/f{n}.bin", None, Place("m", 1, ""))
        for n in (1, 3, 5)
    ]
    spool = Spool(2 * size, memory_max_bytes=size // 2)  # each one through a temp file
    async with Hasher() as hasher, Sources(http=HttpSettings(allow_http=True)) as sources:
        assets = Assets(hasher, sources=sources, spool=spool)
        async with contextlib.AsyncExitStack() as held:
            digests = await assets.digest_all(specs, held=held)
            assert spool.budget.in_use_bytes == 0  # nothing held for the send
    assert spool.budget.peak_bytes <= 2 * size
    assert all(isinstance(d, SourcedDigest) and d.streamed for d in digests)
    assert [d.sha256 for d in digests] == [
        hashlib.sha256(files.files[f"f{n}.bin"].data).hexdigest() for n in (1, 3, 5)
    ]
    assert assets.bytes_downloaded == 3 * size
