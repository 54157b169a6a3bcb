"""Killed, interrupted and repeated runs: the journal makes every rerun finish the job."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DOMAIN, REGION, REPOSITORY, start_emulator
from tests.e2e.test_run import local_sha256s, make_tree, remote_sha256s, settings
from uploader import runner
from uploader.config import Rate
from uploader.emulator import EmulatorThread
from uploader.emulator.faults import FaultPlan, Quotas
from uploader.errors import ExitCode, Outcome, exit_code


def start_run(manifest: Path, emulator: EmulatorThread, *extra: str) -> subprocess.Popen[str]:
    """`uploader run` in a subprocess against the emulator, JSON logs on stderr."""
    env = {**os.environ, "UPLOADER_LOG_FORMAT": "json"}
    return subprocess.Popen(
        [sys.executable, "-m", "uploader", "run", str(manifest),
         "--endpoint-url", emulator.endpoint_url, "--region", REGION, "--domain", DOMAIN,
         "--repository", REPOSITORY, "--namespace", "acme", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def published_total(emulator: EmulatorThread) -> int:
    """Successful publishes the emulator has seen, duplicates included."""
    return sum(emulator.stats()["publishes"].values())


def wait_for_publishes(
    emulator: EmulatorThread, count: int, process: subprocess.Popen[str]
) -> None:
    """Poll until the emulator has taken `count` publishes (or the run ended)."""
    deadline = time.monotonic() + 60
    while published_total(emulator) < count and process.poll() is None:
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)


def journaled_assets(journal: Path) -> set[str]:
    """Assets the journal records as confirmed, keyed as the emulator's counters are."""
    with sqlite3.connect(journal) as db:
        rows = db.execute(
            "SELECT namespace, package, version, name FROM assets WHERE state = 'published'"
        ).fetchall()
    return {f"{DOMAIN}/{REPOSITORY}/generic/{ns}/{p}/{v}/{a}" for ns, p, v, a in rows}


@pytest.mark.slow
def test_sigkill_at_five_points_loses_nothing_and_resends_nothing_confirmed(
    tmp_path: Path,
) -> None:
    """Five SIGKILLs mid-run, five reruns: all Published, hashes right, confirmed never re-sent."""
    manifest = make_tree(tmp_path / "tree", versions=100, assets=3)
    journal = tmp_path / "journal.sqlite"
    faults = FaultPlan.parse(["publish:error=0.05,lost_reply=0.03"], seed=5)
    emu = start_emulator(tmp_path / "emulator", faults=faults)
    # For each asset the journal confirmed before a kill: the emulator's count of its
    # successful publishes at that moment. A lost reply may make that count 2 (the retry
    # of a stored asset is accepted too); what must not happen is any publish after it.
    confirmed: dict[str, int] = {}
    args = ("--journal", str(journal), "--rate", "80", "--max-uploads", "8")
    try:
        for kill_at in (30, 90, 150, 210, 270):
            process = start_run(manifest, emu, *args)
            wait_for_publishes(emu, kill_at, process)
            process.kill()
            process.communicate(timeout=30)
            counts = emu.stats()["publishes"]
            for key in journaled_assets(journal):
                confirmed.setdefault(key, counts[key])
        final = start_run(manifest, emu, *args)
        _, stderr = final.communicate(timeout=120)
        assert final.returncode == ExitCode.OK, stderr[-2000:]
        assert remote_sha256s(emu) == local_sha256s(tmp_path / "tree")
        publishes = emu.stats()["publishes"]
        assert len(confirmed) >= 100, "the kills came after real progress"
        resent = {key: (n, publishes[key]) for key, n in confirmed.items() if publishes[key] != n}
        assert resent == {}, "assets confirmed before a kill were sent again"
    finally:
        emu.stop()


async def test_rerun_with_journal_hashes_nothing_and_sends_nothing(tmp_path: Path) -> None:
    """A second run over an unchanged tree reads no file byte and makes no request."""
    manifest = make_tree(tmp_path / "tree", versions=10, assets=3)
    emu = start_emulator(tmp_path / "emulator")
    try:
        first = await runner.run(settings(manifest, emu))
        assert first.outcome() is Outcome.DONE
        before = emu.stats()["requests"]
        again = await runner.run(settings(manifest, emu))
        assert again.outcome() is Outcome.DONE
        assert again.totals.bytes_hashed == 0
        assert again.totals.versions["skipped"] == 10
        assert emu.stats()["requests"] == before
    finally:
        emu.stop()


async def test_rerun_without_journal_reconciles_with_the_server(tmp_path: Path) -> None:
    """With the journal deleted, a rerun publishes nothing: the server says all is there."""
    manifest = make_tree(tmp_path / "tree", versions=10, assets=3)
    emu = start_emulator(tmp_path / "emulator")
    try:
        first = await runner.run(settings(manifest, emu))
        assert first.outcome() is Outcome.DONE
        journal = tmp_path / "tree" / ".uploader" / "journal.sqlite"
        assert journal.exists()
        for path in journal.parent.iterdir():
            path.unlink()
        publishes = emu.stats()["requests"]["PublishPackageVersion"]
        again = await runner.run(settings(manifest, emu))
        assert again.outcome() is Outcome.DONE
        assert emu.stats()["requests"]["PublishPackageVersion"] == publishes
        assert again.totals.versions["skipped"] == 10
        # Reconciling compares SHA-256s, so every file is hashed once: 30 x 1 KiB.
        assert again.totals.bytes_hashed == 30 * 1024
    finally:
        emu.stop()


async def test_changed_file_is_hashed_again_and_conflicts(tmp_path: Path) -> None:
    """A file changed after its version was published is re-hashed and reported, not re-sent."""
    manifest = make_tree(tmp_path / "tree", versions=2, assets=1)
    emu = start_emulator(tmp_path / "emulator")
    try:
        assert (await runner.run(settings(manifest, emu))).outcome() is Outcome.DONE
        changed = next((tmp_path / "tree" / "files").rglob("asset0.bin"))
        changed.write_bytes(b"new content")
        again = await runner.run(settings(manifest, emu))
        assert again.totals.bytes_hashed == len(b"new content")
        assert again.outcome() is Outcome.SOME_FAILED
        assert again.totals.versions == {"failed": 1, "skipped": 1}
    finally:
        emu.stop()


async def test_no_resume_ignores_the_journal(tmp_path: Path) -> None:
    """--no-resume hashes everything again and asks the server instead of the journal."""
    manifest = make_tree(tmp_path / "tree", versions=3, assets=1)
    emu = start_emulator(tmp_path / "emulator")
    try:
        await runner.run(settings(manifest, emu))
        again = await runner.run(settings(manifest, emu, resume=False))
        assert again.totals.bytes_hashed == 3 * 1024
        assert again.totals.versions["skipped"] == 3
    finally:
        emu.stop()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_gracefully_and_rerun_completes(tmp_path: Path, signum: int) -> None:
    """SIGINT/SIGTERM: exit 130, report written, journal intact; the rerun finishes the job."""
    manifest = make_tree(tmp_path / "tree", versions=20, assets=2)
    journal = tmp_path / "journal.sqlite"
    report = tmp_path / "report.json"
    emu = start_emulator(tmp_path / "emulator")
    args = ("--journal", str(journal), "--rate", "10", "--report", str(report))
    try:
        process = start_run(manifest, emu, *args)
        wait_for_publishes(emu, 5, process)
        started = time.monotonic()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == ExitCode.INTERRUPTED, stderr[-2000:]
        assert time.monotonic() - started < 10
        written = json.loads(report.read_text())
        assert written["interrupted"] is True
        assert written["exit_code"] == 130
        with sqlite3.connect(journal) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert "Traceback" not in stderr
        rerun = start_run(manifest, emu, *args)
        _, stderr = rerun.communicate(timeout=120)
        assert rerun.returncode == ExitCode.OK, stderr[-2000:]
        assert remote_sha256s(emu) == local_sha256s(tmp_path / "tree")
    finally:
        emu.stop()


def test_second_signal_exits_at_once(tmp_path: Path) -> None:
    """With requests stuck in flight, a second SIGTERM ends the run without the drain wait."""
    manifest = make_tree(tmp_path / "tree", versions=5, assets=2)
    emu = start_emulator(
        tmp_path / "emulator", faults=FaultPlan.parse(["publish:latency=30s"]),
        quotas=Quotas.none(),
    )  # fmt: skip
    try:
        process = start_run(manifest, emu, "--journal", str(tmp_path / "j.sqlite"))
        deadline = time.monotonic() + 30
        while emu.stats()["requests"].get("PublishPackageVersion", 0) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == ExitCode.INTERRUPTED, stderr[-2000:]
        assert time.monotonic() - started < 5
    finally:
        emu.stop()


def test_status_reports_the_journal(tmp_path: Path) -> None:
    """`uploader status` counts versions and assets by state; --json for scripts."""
    manifest = make_tree(tmp_path / "tree", versions=3, assets=2)
    emu = start_emulator(tmp_path / "emulator")
    try:
        process = start_run(manifest, emu, "--rate", "1000")
        process.communicate(timeout=60)
        assert process.returncode == ExitCode.OK
    finally:
        emu.stop()
    result = subprocess.run(
        [sys.executable, "-m", "uploader", "status", str(manifest), "--json"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    summary = json.loads(result.stdout)
    [repository] = summary["repositories"]
    assert repository["versions"] == {"finalized": 3}
    assert repository["assets"] == {"published": 6}
    assert summary["failed"] == []


async def test_unusable_journal_stops_the_run_with_exit_3(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A journal that cannot be created is exit 3 before any request, with its path named."""
    manifest = make_tree(tmp_path / "tree", versions=2, assets=1)
    (tmp_path / "file").write_text("not a folder")
    bad = tmp_path / "file" / "journal.sqlite"
    report = await runner.run(settings(manifest, emulator, journal=bad))
    assert report.outcome() is Outcome.CANNOT_START
    assert str(bad) in (report.fatal or "")
    assert emulator.stats()["requests"] == {}


async def test_max_duration_drains_exits_4_and_the_rerun_completes(tmp_path: Path) -> None:
    """--max-duration: no version starts after it, those in flight end, the outcome is
    `out of time` (exit 4); the rerun finishes the job and sends nothing twice."""
    manifest = make_tree(tmp_path / "tree", versions=20, assets=2)
    journal = tmp_path / "journal.sqlite"
    emu = start_emulator(tmp_path / "emulator")
    try:
        timed = settings(manifest, emu, rate=Rate(10.0), max_duration_s=1.0, journal=journal)
        started = time.monotonic()
        first = await runner.run(timed)
        assert time.monotonic() - started < 10
        assert first.outcome() is Outcome.OUT_OF_TIME
        assert exit_code(first.outcome()) == ExitCode.DURATION_EXCEEDED == 4
        assert first.out_of_time
        assert not first.interrupted
        assert 0 < first.totals.assets["published"] < 40
        rerun = await runner.run(settings(manifest, emu, journal=journal))
        assert rerun.outcome() is Outcome.DONE, rerun.summary()
        assert remote_sha256s(emu) == local_sha256s(tmp_path / "tree")
        assert published_total(emu) == 40  # nothing confirmed was sent again
    finally:
        emu.stop()
