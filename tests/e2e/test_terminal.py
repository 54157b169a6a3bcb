"""`uploader run` as a person sees it: progress on a terminal, JSON lines when piped."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.conftest import DOMAIN, REGION, REPOSITORY
from tests.e2e.test_run import make_tree
from uploader.emulator import EmulatorThread
from uploader.errors import ExitCode

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_args(manifest: Path, emulator: EmulatorThread) -> list[str]:
    """The command line of a run against the test emulator at 20 publishes/s."""
    return [sys.executable, "-m", "uploader", "run", str(manifest), "--endpoint-url",
            emulator.endpoint_url, "--region", REGION, "--domain", DOMAIN, "--repository",
            REPOSITORY, "--namespace", "acme", "--rate", "20"]  # fmt: skip


def read_all(fd: int, timeout_s: float) -> bytes:
    """Everything the child writes to the terminal until it closes it."""
    chunks, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO once the child side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_terminal_run_shows_progress(emulator: EmulatorThread, tmp_path: Path) -> None:
    """Under a pseudo-terminal the run draws its progress display, then prints the summary."""
    manifest = make_tree(tmp_path, versions=10, assets=3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    env["TERM"] = "xterm-256color"
    primary, secondary = pty.openpty()
    termios.tcsetwinsize(secondary, (40, 120))
    try:
        child = subprocess.Popen(
            run_args(manifest, emulator), stdin=secondary, stdout=secondary, stderr=secondary,
            env=env, close_fds=True,
        )  # fmt: skip
        os.close(secondary)
        output = read_all(primary, timeout_s=60).decode("utf-8", "replace")
        assert child.wait(timeout=30) == ExitCode.OK, output
    finally:
        os.close(primary)
    plain = ANSI.sub("", output).replace("\r", "")
    assert "30/30" in plain
    assert "limit 20/s" in plain
    assert "10 finalized" in plain
    assert "\x1b[" in output  # drawn with terminal control sequences


def test_piped_run_prints_json_lines_only(emulator: EmulatorThread, tmp_path: Path) -> None:
    """With stdout and stderr piped: no progress, every stderr line is JSON, one summary line."""
    manifest = make_tree(tmp_path, versions=3, assets=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    result = subprocess.run(
        run_args(manifest, emulator), env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == ExitCode.OK, result.stderr
    assert "\x1b[" not in result.stderr + result.stdout
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(e["event"] == "version finalized" for e in events)
    assert result.stdout.count("\n") == 1
    assert "3 finalized" in result.stdout
