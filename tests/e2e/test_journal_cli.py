"""The journal from the command line: one run at a time, a corrupt one, `status`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import DOMAIN, REGION, REPOSITORY, start_emulator
from tests.e2e.test_resume import start_run, wait_for_publishes
from tests.e2e.test_run import make_tree, run_cli
from uploader.emulator import EmulatorThread
from uploader.emulator.faults import FaultPlan
from uploader.errors import ExitCode


def _run_args(manifest: Path, emulator: EmulatorThread, *extra: str) -> list[str]:
    return ["run", str(manifest), "--endpoint-url", emulator.endpoint_url, "--region", REGION,
            "--domain", DOMAIN, "--repository", REPOSITORY, "--namespace", "acme",
            "--rate", "1000", *extra]  # fmt: skip


def test_a_corrupt_journal_says_to_move_it_aside_and_the_rerun_rebuilds_it(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A journal that is not SQLite: run and status exit 3 saying what to do; moved aside, the
    rerun finds the service's versions and skips them."""
    manifest = make_tree(tmp_path / "tree", versions=3, assets=1)
    journal = tmp_path / "journal.sqlite"
    first = run_cli(*_run_args(manifest, emulator, "--journal", str(journal)), cwd=tmp_path)
    assert first.returncode == ExitCode.OK, first.stderr
    journal.write_bytes(b"this is no database" * 100)
    for args in (_run_args(manifest, emulator, "--journal", str(journal)),
                 ["status", "--journal", str(journal)]):  # fmt: skip
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == ExitCode.CANNOT_START, result.stderr
        assert "Traceback" not in result.stderr
        assert f"move it aside (mv {journal} {journal}.broken) and rerun" in (
            result.stdout + result.stderr
        )
    journal.rename(tmp_path / "journal.sqlite.broken")
    again = run_cli(
        *_run_args(manifest, emulator, "--journal", str(journal), "--report", "r.json"),
        cwd=tmp_path,
    )
    assert again.returncode == ExitCode.OK, again.stderr
    assert json.loads((tmp_path / "r.json").read_text())["totals"]["versions"] == {"skipped": 3}


def test_status_after_reruns_keeps_the_finalized_count_per_repository(tmp_path: Path) -> None:
    """Two repositories, each run twice (the second skips all): `status` still says finalized,
    counted per repository, in text and JSON; the rerun's report alone counts the skips."""
    emu = start_emulator(tmp_path / "emu", repos=[f"{DOMAIN}/{REPOSITORY}", f"{DOMAIN}/other"])
    manifest = make_tree(tmp_path / "tree", versions=3, assets=1)
    journal = tmp_path / "journal.sqlite"
    try:
        for repository, runs in ((REPOSITORY, 2), ("other", 2)):
            for _ in range(runs):
                args = _run_args(manifest, emu, "--journal", str(journal), "--report", "r.json")
                result = run_cli(*args, "--repository", repository, cwd=tmp_path)
                assert result.returncode == ExitCode.OK, result.stderr
        assert json.loads((tmp_path / "r.json").read_text())["totals"]["versions"] == {"skipped": 3}
    finally:
        emu.stop()
    text = run_cli("status", "--journal", str(journal), cwd=tmp_path)
    assert text.returncode == ExitCode.OK, text.stderr
    assert text.stdout.count("  versions: 3 finalized\n") == 2, text.stdout
    assert "skipped" not in text.stdout
    assert f"{DOMAIN}/other at {emu.endpoint_url}" in text.stdout
    shown = json.loads(run_cli("status", "--journal", str(journal), "--json", cwd=tmp_path).stdout)
    assert sorted((r["repository"], r["versions"]) for r in shown["repositories"]) == [
        ("other", {"finalized": 3}),
        (REPOSITORY, {"finalized": 3}),
    ]


def test_a_second_run_on_a_journal_in_use_exits_3_at_once(tmp_path: Path) -> None:
    """While a run holds the journal, a second one (alone or with --processes) exits 3 at
    once naming the first's pid, sending nothing; once the first is killed, a run goes ahead."""
    emu = start_emulator(tmp_path / "emu", faults=FaultPlan.parse(["publish:latency=0.3"]))
    manifest = make_tree(tmp_path / "tree", versions=20, assets=1)
    journal = tmp_path / "journal.sqlite"
    try:
        first = start_run(manifest, emu, "--journal", str(journal), "--rate", "1000",
                          "--max-uploads", "1")  # fmt: skip
        wait_for_publishes(emu, 1, first)
        for extra in ((), ("--processes", "2")):
            started_s = time.monotonic()
            second = run_cli(*_run_args(manifest, emu, "--journal", str(journal), *extra),
                             cwd=tmp_path)  # fmt: skip
            assert second.returncode == ExitCode.CANNOT_START, second.stderr
            assert f"journal {journal} is in use by pid {first.pid} since " in second.stdout
            assert "Traceback" not in second.stderr
            assert time.monotonic() - started_s < 10
        assert first.poll() is None, "the first run went on"
        first.kill()
        first.communicate(timeout=30)
        third = run_cli(*_run_args(manifest, emu, "--journal", str(journal)), cwd=tmp_path)
        assert third.returncode == ExitCode.OK, third.stderr
    finally:
        emu.stop()
