"""`--report PATH`: checked before any work, and never destroys what is at PATH."""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import DOMAIN, REGION, REPOSITORY
from tests.e2e.test_run import make_tree, run_cli
from uploader.emulator import EmulatorThread
from uploader.errors import ExitCode, Outcome
from uploader.report import Report


def _run(emulator: EmulatorThread, cwd: Path, report: str) -> tuple[int, str, str]:
    """`uploader run` of a 2-version tree in `cwd` with `--report report`."""
    manifest = make_tree(cwd / "tree", versions=2, assets=1)
    result = run_cli(
        "run", str(manifest), "--endpoint-url", emulator.endpoint_url, "--region", REGION,
        "--domain", DOMAIN, "--repository", REPOSITORY, "--namespace", "acme",
        "--rate", "1000", "--report", report, cwd=cwd,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("where", ["missing/r.json", "a-file/r.json", "/proc/version", "."])
def test_a_report_path_that_cannot_be_written_is_exit_2_before_any_work(
    emulator: EmulatorThread, tmp_path: Path, where: str
) -> None:
    """A missing folder, a file as folder, /proc, a folder: one line, exit 2, nothing sent,
    no folder created."""
    (tmp_path / "a-file").write_text("x")
    code, _, stderr = _run(emulator, tmp_path, where)
    assert code == ExitCode.BAD_INPUT, stderr
    assert [line for line in stderr.splitlines() if "--report" in line], stderr
    assert emulator.stats()["requests"] == {}
    assert not (tmp_path / "missing").exists()


def test_a_symlink_is_followed_and_stays_a_symlink(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """`--report link.json` writes the link's target; the link itself is left as it was."""
    (tmp_path / "out").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "out" / "target.json")
    code, stdout, _ = _run(emulator, tmp_path, "link.json")
    assert code == ExitCode.OK
    assert (tmp_path / "link.json").is_symlink()
    report = json.loads((tmp_path / "out" / "target.json").read_text())
    assert report["totals"]["versions"] == {"finalized": 2}
    assert "report: link.json" in stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["target.json"]


def test_a_fifo_is_written_in_place(emulator: EmulatorThread, tmp_path: Path) -> None:
    """`--report FIFO`: its reader gets the report; the FIFO is still a FIFO."""
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    code, _, stderr = _run(emulator, tmp_path, str(fifo))
    reader.join(timeout=30)
    assert code == ExitCode.OK, stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["totals"]["versions"] == {"finalized": 2}


def test_a_full_device_is_exit_3_after_the_summary(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """`--report /dev/full` (every write ENOSPC): the summary, one error line, exit 3, and
    /dev/full still a device."""
    full = Path("/dev/full")
    if not full.exists() or not stat.S_ISCHR(full.stat().st_mode):
        pytest.skip("no /dev/full device here")
    try:
        code, stdout, stderr = _run(emulator, tmp_path, str(full))
    finally:
        _restore_dev_full(full)
    assert code == ExitCode.CANNOT_START, stderr
    assert "versions: 2 finalized" in stdout
    assert "error: cannot write the report /dev/full: No space left on device" in stderr
    assert stat.S_ISCHR(Path("/dev/full").stat().st_mode)


def _restore_dev_full(full: Path) -> None:
    """A regression that renames a file over /dev/full (only root can) must not outlive the
    test: put the device back (char 1:7), as root may."""
    if not stat.S_ISCHR(full.lstat().st_mode) and os.geteuid() == 0:
        full.unlink()
        os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        os.chmod(full, 0o666)
        raise AssertionError("the report replaced /dev/full (restored)")


def test_dash_writes_the_report_alone_on_stdout(emulator: EmulatorThread, tmp_path: Path) -> None:
    """`--report -`: stdout is the JSON report only; the summary goes to stderr."""
    code, stdout, stderr = _run(emulator, tmp_path, "-")
    assert code == ExitCode.OK, stderr
    assert json.loads(stdout)["totals"]["versions"] == {"finalized": 2}
    assert "versions: 2 finalized" in stderr
    assert not (tmp_path / "-").exists()


class _FullDisk(Report):
    """A report whose writing fails half-way, as on a full disk."""

    def _write_to(self, out: IO[str]) -> None:
        out.write('{"exit_code"')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_failed_write_leaves_the_old_report_and_no_temporary_file(tmp_path: Path) -> None:
    """A write failing half-way: the old report is intact, no temporary file, exit code 3."""
    path = tmp_path / "r.json"
    path.write_text("old")
    report = _FullDisk(path)
    report.write()
    report.close()
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert report.write_error == f"cannot write the report {path}: No space left on device"
    assert report.outcome() is Outcome.CANNOT_START
