"""The service is the truth: whatever the journal remembers, no version is ever finalized
without exactly its manifest's assets (real client over loopback, against the emulator)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.conftest import DOMAIN, REGION, REPOSITORY, start_emulator
from tests.e2e.test_run import PKG, settings
from uploader import runner
from uploader.domain import TargetStatus
from uploader.emulator import EmulatorThread
from uploader.emulator.records import PackageKey
from uploader.errors import Outcome
from uploader.report import Report
from uploader.verify import Finding, Tally

ASSETS = ("part1.bin", "part2.bin", "part3.bin", "part4.bin")


def write_version_tree(root: Path, versions: int = 1, assets: tuple[str, ...] = ASSETS) -> Path:
    """`versions` versions of package `app`, each with `assets`; a JSON Lines manifest."""
    lines = []
    for v in range(versions):
        folder = root / f"1.{v}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in assets:
            (folder / name).write_bytes(f"{v}/{name}".encode() * 64)
        entry = {"package": "app", "version": f"1.{v}",
                 "assets": [{"path": f"1.{v}/{name}"} for name in assets]}  # fmt: skip
        lines.append(json.dumps(entry))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def client(emulator: EmulatorThread) -> Any:
    return boto3.client("codeartifact", endpoint_url=emulator.endpoint_url, region_name=REGION)


def server_versions(emulator: EmulatorThread) -> dict[str, tuple[str, dict[str, str]]]:
    """version -> (status, asset name -> SHA-256) of package `app`, as the service says."""
    api = client(emulator)
    found = {}
    try:
        listed = api.list_package_versions(**PKG, package="app")["versions"]
    except api.exceptions.ResourceNotFoundException:
        return {}
    for item in listed:
        assets = api.list_package_version_assets(
            **PKG, package="app", packageVersion=item["version"]
        )["assets"]
        found[item["version"]] = (
            item["status"],
            {a["name"]: a["hashes"]["SHA-256"] for a in assets},
        )
    return found


def local_version(root: Path, version: str) -> dict[str, str]:
    """asset name -> SHA-256 of a version's files as they are now."""
    folder = root / version
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def delete_version(emulator: EmulatorThread, version: str) -> None:
    client(emulator).delete_package_versions(**PKG, package="app", versions=[version])


async def run(manifest: Path, emulator: EmulatorThread, **overrides: Any) -> Report:
    overrides.setdefault("journal", manifest.parent / "journal.sqlite")
    if isinstance(overrides.get("status"), str):
        overrides["status"] = TargetStatus(overrides["status"])
    return await runner.run(settings(manifest, emulator, **overrides))


async def verify(manifest: Path, emulator: EmulatorThread) -> tuple[Tally, list[Finding]]:
    findings: list[Finding] = []
    tally = await runner.verify(
        settings(manifest, emulator), on_finding=findings.append, on_problem=lambda _p: None
    )
    return tally, findings


def assert_never_published_incomplete(emulator: EmulatorThread, manifest: Path) -> None:
    """Every finished version on the service holds exactly its manifest entry's names."""
    names = {
        json.loads(line)["version"]: {Path(a["path"]).name for a in json.loads(line)["assets"]}
        for line in manifest.read_text().splitlines()
    }
    for version, (status, assets) in server_versions(emulator).items():
        if status != "Unfinished":
            assert set(assets) == names[version], (version, status, sorted(assets))


async def test_deleted_version_is_sent_whole_not_per_the_journal(tmp_path: Path) -> None:
    """The README's repair (delete the Unfinished version, rerun) republishes all 4 assets."""
    manifest = write_version_tree(tmp_path)
    emu = start_emulator(tmp_path / "emulator")
    try:
        first = await run(manifest, emu, status="Unfinished")
        assert first.outcome() is Outcome.DONE, first.summary()
        (tmp_path / "1.0" / "part4.bin").write_bytes(b"changed")
        conflict = await run(manifest, emu, status="Unfinished")
        assert conflict.outcome() is Outcome.SOME_FAILED
        delete_version(emu, "1.0")
        repaired = await run(manifest, emu)
        assert repaired.outcome() is Outcome.DONE, repaired.summary()
        assert repaired.totals.assets["published"] == 4
        assert server_versions(emu) == {"1.0": ("Published", local_version(tmp_path, "1.0"))}
        tally, findings = await verify(manifest, emu)
        assert findings == []
        assert tally.matching == 1
    finally:
        emu.stop()


@contextmanager
def emulator_on(port: int, data_dir: Path) -> Iterator[EmulatorThread]:
    emu = start_emulator(data_dir, port=port)
    try:
        yield emu
    finally:
        emu.stop()


async def test_emptied_service_never_yields_an_incomplete_published_version(
    tmp_path: Path,
) -> None:
    """After the service lost everything, a rerun sends a half-journaled version whole; the
    journal's finalized one is skipped (fast path), verify names it and --reconcile mends it."""
    manifest = write_version_tree(tmp_path, versions=2)
    first_emu = start_emulator(tmp_path / "emulator-1")
    port = int(first_emu.endpoint_url.rsplit(":", 1)[1])
    try:
        lines = manifest.read_text().splitlines()
        unfinished = json.loads(lines[0]) | {"status": "Unfinished"}
        manifest.write_text(json.dumps(unfinished) + "\n" + lines[1] + "\n")
        assert (await run(manifest, first_emu)).outcome() is Outcome.DONE
    finally:
        first_emu.stop()
    manifest.write_text("\n".join(lines) + "\n")  # 1.0 is now to be Published
    with emulator_on(port, tmp_path / "emulator-2") as emu:  # same endpoint, nothing stored
        rerun = await run(manifest, emu)
        assert rerun.outcome() is Outcome.DONE, rerun.summary()
        assert rerun.totals.versions == {"finalized": 1, "skipped": 1}
        assert server_versions(emu) == {"1.0": ("Published", local_version(tmp_path, "1.0"))}
        tally, findings = await verify(manifest, emu)
        assert [str(f) for f in findings] == ["acme/app@1.1: version_missing: not on the service"]
        assert "uploader run" in tally.summary()
        assert "--reconcile" in tally.summary()
        mended = await run(manifest, emu, reconcile=True)
        assert mended.outcome() is Outcome.DONE, mended.summary()
        assert mended.totals.versions == {"finalized": 1, "skipped": 1}
        assert (await verify(manifest, emu))[1] == []


async def test_asset_deleted_behind_our_back_is_sent_again(tmp_path: Path) -> None:
    """An Unfinished version that lost an asset on the service gets it again before it is
    Published, though the journal remembers it as published."""
    manifest = write_version_tree(tmp_path)
    emu = start_emulator(tmp_path / "emulator")
    try:
        assert (await run(manifest, emu, status="Unfinished")).outcome() is Outcome.DONE
        key = PackageKey(DOMAIN, REPOSITORY, "generic", "acme", "app")
        emu.call(lambda store: store.delete_asset(key, "1.0", "part2.bin"))
        finished = await run(manifest, emu)
        assert finished.outcome() is Outcome.DONE, finished.summary()
        assert finished.totals.assets == {"already_present": 3, "published": 1}
        assert server_versions(emu) == {"1.0": ("Published", local_version(tmp_path, "1.0"))}
    finally:
        emu.stop()


async def test_asset_dropped_from_the_manifest_fails_the_version(tmp_path: Path) -> None:
    """The service holds an asset the manifest no longer lists: the version fails with that
    message, though the journal has every listed asset as published (issue 15 #4)."""
    manifest = write_version_tree(tmp_path, assets=("a1.txt", "a2.txt", "a3.txt"))
    emu = start_emulator(tmp_path / "emulator")
    try:
        assert (await run(manifest, emu, status="Unfinished")).outcome() is Outcome.DONE
        entry = json.loads(manifest.read_text())
        entry["assets"] = entry["assets"][:2]
        manifest.write_text(json.dumps(entry) + "\n")
        report_path = tmp_path / "report.json"
        rerun = await run(manifest, emu, report=report_path)
        assert rerun.outcome() is Outcome.SOME_FAILED
        (version,) = json.loads(report_path.read_text())["versions"]
        assert version["status"] == "failed"
        assert "the server's version has assets the manifest lacks: ['a3.txt']" in version["error"]
        assert server_versions(emu)["1.0"][0] == "Unfinished"
    finally:
        emu.stop()


async def test_finalizing_a_revision_that_moved_on_is_refused(tmp_path: Path) -> None:
    """What the finalizer relies on: naming the checked revision, the emulator refuses to
    finalize a version that gained an asset since (MISMATCHED_REVISION)."""
    manifest = write_version_tree(tmp_path, assets=("a1.txt",))
    emu = start_emulator(tmp_path / "emulator")
    api = client(emu)
    try:
        assert (await run(manifest, emu, status="Unfinished")).outcome() is Outcome.DONE
        revision = api.list_package_version_assets(**PKG, package="app", packageVersion="1.0")[
            "versionRevision"
        ]
        api.publish_package_version(
            **PKG, package="app", packageVersion="1.0", assetName="late.txt",
            assetContent=b"late", assetSHA256=hashlib.sha256(b"late").hexdigest(),
            unfinished=True,
        )  # fmt: skip
        reply = api.update_package_versions_status(
            **PKG, package="app", versions=["1.0"], versionRevisions={"1.0": revision},
            expectedStatus="Unfinished", targetStatus="Published",
        )  # fmt: skip
        assert reply["failedVersions"]["1.0"]["errorCode"] == "MISMATCHED_REVISION"
    finally:
        emu.stop()


async def test_interrupted_run_reports_every_version(tmp_path: Path) -> None:
    """A stop mid-run leaves every version of the manifest in the report: pending where not
    done, no asset `failed` without an error."""
    from uploader.emulator.faults import FaultPlan

    manifest = write_version_tree(tmp_path, versions=30, assets=("a.txt",))
    emu = start_emulator(tmp_path / "emulator",
                         faults=FaultPlan.parse(["publish:latency=300ms"], seed=1))  # fmt: skip
    report_path = tmp_path / "report.json"
    try:

        async def stop_soon() -> None:
            await asyncio.sleep(0.5)
            import os
            import signal

            os.kill(os.getpid(), signal.SIGINT)

        stopper = asyncio.ensure_future(stop_soon())
        report = await run(manifest, emu, report=report_path, workers=2, drain_timeout_s=0.1)
        await stopper
        assert report.outcome() is Outcome.INTERRUPTED
        written = json.loads(report_path.read_text())
        assert len(written["versions"]) == 30
        assert sum(written["totals"]["versions"].values()) == 30
        assert written["totals"]["versions"]["pending"] >= 20
        for version in written["versions"]:
            assert version["status"] in ("finalized", "pending"), version
            for asset in version["assets"]:
                assert asset["outcome"] != "failed", version
    finally:
        emu.stop()


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("run"), st.sampled_from(["Published", "Unfinished"]), st.booleans()),
        st.tuples(st.just("delete"), st.integers(0, 1)),
        st.tuples(st.just("empty")),
        st.tuples(st.just("change"), st.integers(0, 1), st.integers(0, 2)),
        st.tuples(st.just("lose_asset"), st.integers(0, 1), st.integers(0, 2)),
    ),
    min_size=1,
    max_size=6,
)


@hypothesis_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_no_sequence_publishes_a_version_incomplete(ops: list[tuple[Any, ...]]) -> None:
    """Random sequences of runs, deletions, an emptied store, changed files and lost assets:
    no finished version ever lacks an asset; a final --reconcile run that exits 0 leaves
    verify clean."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        manifest = write_version_tree(root, versions=2, assets=("x.bin", "y.bin", "z.bin"))
        emu = start_emulator(root / "emulator")
        try:
            for op in ops:
                _apply(op, root, manifest, emu)
                assert_never_published_incomplete(emu, manifest)
            final = asyncio.run(run(manifest, emu, reconcile=True))
            assert_never_published_incomplete(emu, manifest)
            if final.outcome() is Outcome.DONE:
                assert asyncio.run(verify(manifest, emu))[1] == []
        finally:
            emu.stop()


def _apply(op: tuple[Any, ...], root: Path, manifest: Path, emu: EmulatorThread) -> None:
    key = PackageKey(DOMAIN, REPOSITORY, "generic", "acme", "app")
    names = ("x.bin", "y.bin", "z.bin")
    match op:
        case ("run", status, reconcile):
            asyncio.run(run(manifest, emu, status=status, reconcile=reconcile))
        case ("delete", v):
            if f"1.{v}" in server_versions(emu):
                delete_version(emu, f"1.{v}")
        case ("empty",):
            for version in server_versions(emu):
                delete_version(emu, version)
        case ("change", v, a):
            (root / f"1.{v}" / names[a]).write_bytes(b"changed %d" % len(op))
        case ("lose_asset", v, a):  # storage losing an asset of an Unfinished version
            if server_versions(emu).get(f"1.{v}", ("",))[0] == "Unfinished":
                emu.call(lambda store: store.delete_asset(key, f"1.{v}", names[a]))
