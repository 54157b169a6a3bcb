"""`uploader verify`: the audit after a migration, against the embedded emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_run import make_tree
from uploader.emulator.store import PackageKey, Store
from uploader.errors import ExitCode


def uploader(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`uploader ARGS` in a subprocess with JSON logs."""
    env = {**os.environ, "UPLOADER_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "uploader", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


TARGET = ("--local", "--local-dir", "emu", "--domain", "audit", "--repository", "repo",
          "--namespace", "acme")  # fmt: skip


def test_verify_passes_then_finds_a_tampered_asset(tmp_path: Path) -> None:
    """After a run, verify exits 0; once one stored asset changes, it names it and exits 1."""
    manifest = make_tree(tmp_path, versions=6, assets=2)
    ran = uploader("run", str(manifest), *TARGET, "--rate", "1000", cwd=tmp_path)
    assert ran.returncode == ExitCode.OK, ran.stderr
    clean = uploader("verify", str(manifest), *TARGET, cwd=tmp_path)
    assert clean.returncode == ExitCode.OK, clean.stderr
    assert "6 match, 0 differ" in clean.stdout

    store = Store(tmp_path / "emu")
    try:
        key = PackageKey("audit", "repo", "generic", "acme", "pkg3")
        store.replace_asset_bytes(key, "1.3", "asset1.bin", b"tampered")
    finally:
        store.close()
    report = tmp_path / "verify.json"
    dirty = uploader("verify", str(manifest), *TARGET, "--report", str(report), cwd=tmp_path)
    assert dirty.returncode == ExitCode.SOME_FAILED
    assert "acme/pkg3@1.3 asset1.bin: different_sha256: remote sha256" in dirty.stdout
    differences = json.loads(report.read_text())["differences"]
    assert [d["kind"] for d in differences] == ["different_sha256"]


def test_verify_reports_missing_versions_and_assets(tmp_path: Path) -> None:
    """A version never uploaded, and an asset added to the manifest later, are reported."""
    manifest = make_tree(tmp_path, versions=2, assets=1)
    assert uploader("run", str(manifest), *TARGET, cwd=tmp_path).returncode == ExitCode.OK
    lines = manifest.read_text().splitlines()
    first = json.loads(lines[0])
    (tmp_path / "extra.bin").write_bytes(b"extra")
    first["assets"].append({"path": "extra.bin"})
    lines[0] = json.dumps(first)
    lines.append(json.dumps({"package": "new", "version": "9", "assets": [{"path": "extra.bin"}]}))
    manifest.write_text("\n".join(lines) + "\n")
    result = uploader("verify", str(manifest), *TARGET, cwd=tmp_path)
    assert result.returncode == ExitCode.SOME_FAILED
    assert "acme/pkg0@1.0 extra.bin: missing" in result.stdout
    assert "acme/new@9: version_missing" in result.stdout
