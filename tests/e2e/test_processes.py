"""`uploader run --processes N`: one run shared by N processes, one report, one journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REGION, start_emulator
from tests.e2e.test_run import local_sha256s, make_tree, remote_sha256s, run_cli
from uploader.config import Rate, RunSettings
from uploader.domain import TargetStatus
from uploader.emulator import EmulatorThread
from uploader.emulator.faults import FaultPlan
from uploader.errors import ExitCode
from uploader.filters import in_part
from uploader.manifest import Place, Problem

TARGET = ["--region", REGION, "--domain", "demo", "--repository", "repo", "--namespace", "acme"]


def test_three_processes_publish_everything_once_with_one_report(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """40 versions and a bad entry over 3 processes: every asset published exactly once,
    the bad entry reported once, one merged report; a rerun sends nothing (shared journal)."""
    root = tmp_path / "tree"
    manifest = make_tree(root, versions=40, assets=2)
    with manifest.open("a") as lines:
        bad = {
            "package": "bad name",
            "version": "1",
            "assets": [{"path": "files/pkg0/0/asset0.bin"}],
        }
        lines.write(json.dumps(bad) + "\n")
    args = ["run", str(manifest), "--endpoint-url", emulator.endpoint_url, *TARGET,
            "--rate", "1000", "--processes", "3", "--report", "r.json"]  # fmt: skip

    first = run_cli(*args, cwd=tmp_path)

    assert first.returncode == ExitCode.SOME_FAILED, first.stderr
    assert first.stderr.count("manifest.jsonl:41: package") == 1, first.stderr
    assert "Traceback" not in first.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["totals"]["versions"] == {"finalized": 40}
    assert report["totals"]["manifest_problems"] == 1
    assert len(report["invalid"]) == 1
    assert sorted(v["version"] for v in report["versions"]) == sorted(f"1.{v}" for v in range(40))
    assert remote_sha256s(emulator) == {
        (p, v, a): s for (p, v, a), s in local_sha256s(root).items() if p != "bad name"
    }
    publishes = emulator.stats()["requests"]["PublishPackageVersion"]
    assert publishes == 80

    again = run_cli(*args, cwd=tmp_path)

    assert again.returncode == ExitCode.SOME_FAILED, again.stderr
    assert json.loads((tmp_path / "r.json").read_text())["totals"]["versions"] == {"skipped": 40}
    assert emulator.stats()["requests"]["PublishPackageVersion"] == publishes


def test_sigterm_to_the_parent_stops_every_process_and_the_rerun_completes(
    tmp_path: Path,
) -> None:
    """SIGTERM reaches the parent only (as `docker stop` sends it): the children drain and
    stop, the run exits 130 with its report, and a rerun publishes the rest."""
    emu = start_emulator(tmp_path / "emu", faults=FaultPlan.parse(["publish:latency=0.5"], seed=1))
    try:
        root = tmp_path / "tree"
        manifest = make_tree(root, versions=30, assets=1)
        args = [sys.executable, "-m", "uploader", "run", str(manifest), "--endpoint-url",
                emu.endpoint_url, *TARGET, "--rate", "1000", "--processes", "2",
                "--report", str(tmp_path / "r.json"), "--drain-timeout", "5"]  # fmt: skip
        env = {**os.environ, "UPLOADER_LOG_FORMAT": "json"}
        parent = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not emu.stats()["requests"].get("PublishPackageVersion"):
            assert time.monotonic() < deadline, "no publish started"
            time.sleep(0.05)
        parent.send_signal(signal.SIGTERM)
        _, stderr = parent.communicate(timeout=60)
        assert parent.returncode == ExitCode.INTERRUPTED, stderr.decode()
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["interrupted"] is True
        assert report["totals"]["versions"].get("finalized", 0) < 30

        rerun = run_cli(*args[3:], cwd=tmp_path)

        assert rerun.returncode == ExitCode.OK, rerun.stderr
        assert remote_sha256s(emu) == local_sha256s(root)
    finally:
        emu.stop()


def _slow_run(tmp_path: Path, emu: EmulatorThread) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A --processes 2 run against a slow emulator, once its children are started: the
    parent and their pids. Logs go to tmp_path/stderr.log (a file: no pipe to break)."""
    manifest = make_tree(tmp_path / "tree", versions=30, assets=1)
    args = [sys.executable, "-m", "uploader", "run", str(manifest), "--endpoint-url",
            emu.endpoint_url, *TARGET, "--rate", "1000", "--processes", "2",
            "--report", str(tmp_path / "r.json"), "--drain-timeout", "5"]  # fmt: skip
    env = {**os.environ, "UPLOADER_LOG_FORMAT": "json"}
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        parent = subprocess.Popen(args, env=env, stderr=stderr, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "processes started":
                return parent, event["pids"]
        time.sleep(0.01)
    raise AssertionError(f"the children did not start: {log.read_text()}")


def test_an_early_signal_waits_for_the_children_to_listen(tmp_path: Path) -> None:
    """SIGINT while the children are still starting: no traceback, exit 130, a report."""
    emu = start_emulator(tmp_path / "emu", faults=FaultPlan.parse(["publish:latency=0.5"]))
    try:
        parent, _ = _slow_run(tmp_path, emu)
        parent.send_signal(signal.SIGINT)  # the children are still importing
        parent.wait(timeout=60)
    finally:
        emu.stop()
    stderr = (tmp_path / "stderr.log").read_text()
    assert parent.returncode == ExitCode.INTERRUPTED, stderr
    assert "Traceback" not in stderr
    assert "without a report" not in stderr
    assert json.loads((tmp_path / "r.json").read_text())["interrupted"] is True


def test_children_stop_when_the_parent_is_killed(tmp_path: Path) -> None:
    """kill -9 of the parent: its children notice (their stdin closes) and stop."""
    emu = start_emulator(tmp_path / "emu", faults=FaultPlan.parse(["publish:latency=0.5"]))
    try:
        parent, pids = _slow_run(tmp_path, emu)
        deadline = time.monotonic() + 60
        while not emu.stats()["requests"].get("PublishPackageVersion"):
            assert time.monotonic() < deadline, "no publish started"
            time.sleep(0.05)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        alive = list(pids)
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if _running(pid)]
            time.sleep(0.1)
        assert not alive, f"children still running: {alive}"
        # The child that was publishing stopped gracefully (one still starting up may
        # simply have ended: it had begun nothing).
        stopped = (tmp_path / "stderr.log").read_text()
        assert stopped.count('"signal": "SIGTERM"') >= 1, stopped
    finally:
        emu.stop()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; only its parent (gone) would reap it


def test_processes_refuse_local_and_stdin(tmp_path: Path) -> None:
    """--processes above 1 with --local or a manifest on stdin: one line, exit 2."""
    for args in (["m.jsonl", "--local"], ["-"]):
        result = run_cli("run", *args, "--processes", "2", cwd=tmp_path)
        assert result.returncode == ExitCode.BAD_INPUT, (args, result.stderr)
        assert "--processes" in result.stderr
        assert "Traceback" not in result.stderr


def test_in_part_deals_versions_round_robin_and_problems_to_the_first() -> None:
    """Every version goes to exactly one part, in turn; every problem to part 1 only."""
    problem = Problem(Place("m.jsonl", 2, "package"), "bad")
    entries = ["v0", problem, "v1", "v2", "v3", "v4"]
    parts = [list(in_part(iter(entries), (j, 3))) for j in (1, 2, 3)]  # type: ignore[arg-type]
    assert parts == [["v0", problem, "v3"], ["v1", "v4"], ["v2"]]


def test_settings_travel_as_json_unchanged(tmp_path: Path) -> None:
    """What the parent writes for a child is read back as the same settings."""
    settings = RunSettings(
        manifest="m.jsonl", status=TargetStatus.UNLISTED, report=tmp_path / "r.json",
        journal=tmp_path / "j.sqlite", shard=(2, 4), part=(1, 3), rate=Rate(12.5),
    )  # fmt: skip
    assert RunSettings.from_json(json.loads(json.dumps(settings.to_json()))) == settings


def test_each_part_gets_its_share_of_the_rates() -> None:
    """Three processes each take a third of the publish rate and of the list quota."""
    whole = RunSettings(manifest="m", rate=Rate(30.0)).rate_limits()
    third = RunSettings(manifest="m", rate=Rate(30.0), part=(2, 3)).rate_limits()
    for family in ("publish", "list", "write", "finalize"):
        assert third.rate_per_s(family) == whole.rate_per_s(family) / 3


def test_children_exit_cleanly_and_write_only_json_logs(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Two processes: each child exits 0 (no abort at interpreter shutdown), stderr is JSON only."""
    manifest = make_tree(tmp_path / "tree", versions=6, assets=1)
    result = run_cli("run", str(manifest), "--endpoint-url", emulator.endpoint_url, *TARGET,
                     "--rate", "1000", "--processes", "2", cwd=tmp_path)  # fmt: skip
    assert result.returncode == ExitCode.OK, result.stderr
    assert "Fatal Python error" not in result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]  # JSON lines only
    ended = [e for e in events if e["event"] == "processes ended"]
    assert [e["exit_codes"] for e in ended] == [[0, 0]], result.stderr
