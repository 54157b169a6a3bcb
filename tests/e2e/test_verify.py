"""`uploader verify`: the audit after a migration, against the embedded emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_run import make_tree
from uploader.emulator.records import PackageKey
from uploader.emulator.store import Store
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


def test_scan_run_verify_round_trip_of_fifty_packages(tmp_path: Path) -> None:
    """scan -> run --local -> verify: exit 0 each; one changed remote asset -> verify exits 1."""
    export = tmp_path / "export"
    for p in range(50):
        for v in ("1.0", "2.0"):
            folder = export / "acme" / f"tool-{p}" / v
            folder.mkdir(parents=True)
            (folder / f"tool-{p}-{v}.tar.gz").write_bytes(b"%d %s" % (p, v.encode()) * 100)
            (folder / "README.txt").write_text(f"tool {p} {v}\n")
    (export / "acme" / "stray.txt").write_text("not in a version folder\n")
    manifest = export / "manifest.jsonl"
    scanned = uploader("scan", str(export), "-o", str(manifest), "--exclude", "stray.txt",
                       cwd=tmp_path)  # fmt: skip
    assert scanned.returncode == ExitCode.OK, scanned.stderr
    assert "100 version(s), 200 asset(s), 0 problem(s)" in scanned.stderr
    target = ("--local", "--local-dir", "emu", "--domain", "audit", "--repository", "repo")
    ran = uploader("run", str(manifest), *target, "--rate", "1000", cwd=tmp_path)
    assert ran.returncode == ExitCode.OK, ran.stderr[-2000:]
    assert "100 finalized" in ran.stdout
    verified = uploader("verify", str(manifest), *target, cwd=tmp_path)
    assert verified.returncode == ExitCode.OK, verified.stdout + verified.stderr[-2000:]
    assert "100 match, 0 differ" in verified.stdout

    store = Store(tmp_path / "emu")
    try:
        key = PackageKey("audit", "repo", "generic", "acme", "tool-7")
        store.replace_asset_bytes(key, "2.0", "README.txt", b"changed behind our back\n")
    finally:
        store.close()
    changed = uploader("verify", str(manifest), *target, cwd=tmp_path)
    assert changed.returncode == ExitCode.SOME_FAILED
    assert "acme/tool-7@2.0 README.txt: different_sha256" in changed.stdout


def test_scan_reports_files_that_do_not_fit(tmp_path: Path) -> None:
    """A file outside the layout is named on stderr and scan exits 1; the rest is written."""
    (tmp_path / "ns" / "pkg" / "1.0").mkdir(parents=True)
    (tmp_path / "ns" / "pkg" / "1.0" / "a.bin").write_bytes(b"a")
    (tmp_path / "ns" / "loose.bin").write_bytes(b"l")
    result = uploader("scan", str(tmp_path), cwd=tmp_path)
    assert result.returncode == ExitCode.SOME_FAILED
    assert "ns/loose.bin" in result.stderr
    assert json.loads(result.stdout)["package"] == "pkg"
