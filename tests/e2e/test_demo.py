"""`make demo`: what a new user runs first works the same the second time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _make_demo(demo_dir: Path) -> subprocess.CompletedProcess[str]:
    """The Makefile's demo recipe, with this venv and its data in `demo_dir`."""
    venv = Path(sys.executable).parent.parent
    return subprocess.run(
        ["make", "-s", "-o", f"{venv}/.installed-stamp", "demo", f"VENV={venv}",
         f"DEMO_DIR={demo_dir}", "UPLOADER_LOG_FORMAT=json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_second_demo_publishes_again_from_scratch(tmp_path: Path) -> None:
    """`make demo` twice: both runs finalize every version (the journal is wiped with the data)."""
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    for _ in range(2):
        result = _make_demo(tmp_path / "demo")
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads((tmp_path / "demo" / "report.json").read_text())
        assert "skipped" not in report["totals"]["versions"], result.stdout
        assert sum(report["totals"]["versions"].values()) == 3
