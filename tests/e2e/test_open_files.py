"""A low open-file limit (`ulimit -n 32`): the run raises it, or fits itself under it."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import DOMAIN, REGION, REPOSITORY
from tests.e2e.test_run import make_tree
from uploader.emulator import EmulatorThread
from uploader.errors import ExitCode

LOW_LIMIT = 32


def _run_under(
    limit: tuple[int, int], emulator: EmulatorThread, tmp_path: Path
) -> list[dict[str, Any]]:
    """A 30-version run started with RLIMIT_NOFILE at `limit`: its JSON log events."""
    manifest = make_tree(tmp_path / "tree", versions=30, assets=3, size_bytes=200_000)
    result = subprocess.run(
        [sys.executable, "-m", "uploader", "run", str(manifest), "--endpoint-url",
         emulator.endpoint_url, "--region", REGION, "--domain", DOMAIN, "--repository",
         REPOSITORY, "--namespace", "acme", "--rate", "1000"],
        env={**os.environ, "UPLOADER_LOG_FORMAT": "json"}, capture_output=True, text=True,
        timeout=120, check=False,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit),
    )  # fmt: skip
    assert "Too many open files" not in result.stderr
    assert result.returncode == ExitCode.OK, result.stderr[-3000:]
    assert "30 finalized" in result.stdout
    return [json.loads(line) for line in result.stderr.splitlines()]


def test_a_low_soft_limit_is_raised_to_the_hard_one(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Soft 32 under a higher hard limit: raised at start; every version finalized, no warning."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    events = _run_under((LOW_LIMIT, hard), emulator, tmp_path)
    assert not [e for e in events if "open_files_limit" in e]


def test_a_low_hard_limit_lowers_the_uploads_in_flight_with_one_warning(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Soft and hard 32: fewer uploads in flight, said in one warning; every version finalized."""
    events = _run_under((LOW_LIMIT, LOW_LIMIT), emulator, tmp_path)
    warnings = [e for e in events if "open_files_limit" in e]
    assert len(warnings) == 1, warnings
    assert warnings[0]["level"] == "warning"
    assert warnings[0]["open_files_limit"] == LOW_LIMIT
    assert 1 <= warnings[0]["max_uploads"] < 16
