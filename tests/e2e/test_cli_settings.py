"""Every command takes the same settings (flags, UPLOADER_* variables, one [run] table).

Against the emulator over loopback, in subprocesses, as a user runs the README's recipes.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from tests.conftest import DOMAIN, REGION, REPOSITORY
from tests.e2e.test_run import make_tree, settings
from uploader import runner
from uploader.domain import TargetStatus
from uploader.emulator import EmulatorThread
from uploader.errors import ExitCode
from uploader.verify import Finding


def uploader(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`uploader ARGS` in a subprocess with JSON logs; `env` is added to os.environ."""
    full = {**os.environ, "UPLOADER_LOG_FORMAT": "json", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "uploader", *args], cwd=cwd, env=full,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def export_tree(root: Path, packages: int = 3) -> Path:
    """An Artifactory-like export: <namespace>/<package>/<version>/files."""
    for p in range(packages):
        folder = root / "export" / "acme" / f"tool-{p}" / "1.0"
        folder.mkdir(parents=True)
        (folder / f"tool-{p}.tar.gz").write_bytes(b"tool %d\n" % p * 50)
    return root / "export"


def write_config(path: Path, emulator: EmulatorThread, extra: str = "") -> Path:
    """A cron job's config: the target and run-only keys in one [run] table."""
    path.write_text(
        f'[run]\ndomain = "{DOMAIN}"\nrepository = "{REPOSITORY}"\n'
        f'endpoint-url = "{emulator.endpoint_url}"\nmax-uploads = 4\nrate = "1000"\n'
        f"drain-timeout = 5\n{extra}"
    )
    return path


def test_readme_migration_recipe_works_as_written(emulator: EmulatorThread, tmp_path: Path) -> None:
    """scan -o, validate with --domain/--repository (or UPLOADER_*), run, verify: exit 0 each."""
    export = export_tree(tmp_path)
    manifest = export / "manifest.jsonl"
    scanned = uploader("scan", str(export), "-o", str(manifest), cwd=tmp_path)
    assert scanned.returncode == ExitCode.OK, scanned.stderr
    target = ["--domain", DOMAIN, "--repository", REPOSITORY]
    bare = uploader("validate", str(manifest), cwd=tmp_path)
    assert bare.returncode == ExitCode.BAD_INPUT  # no target at all: still refused
    flags = uploader("validate", str(manifest), *target, cwd=tmp_path)
    assert flags.returncode == ExitCode.OK, flags.stderr
    assert "OK, 3 version(s)" in flags.stdout
    env = {"UPLOADER_DOMAIN": DOMAIN, "UPLOADER_REPOSITORY": REPOSITORY}
    assert uploader("validate", str(manifest), cwd=tmp_path, env=env).returncode == ExitCode.OK
    endpoint = ["--endpoint-url", emulator.endpoint_url]
    ran = uploader("run", str(manifest), *target, *endpoint, cwd=tmp_path)
    assert ran.returncode == ExitCode.OK, ran.stderr
    checked = uploader("verify", str(manifest), *target, *endpoint, cwd=tmp_path)
    assert checked.returncode == ExitCode.OK, checked.stdout + checked.stderr
    assert "3 match, 0 differ" in checked.stdout


def test_aws_region_alone_is_enough(emulator: EmulatorThread, tmp_path: Path) -> None:
    """AWS_REGION without AWS_DEFAULT_REGION reaches the service (botocore 1.40 reads neither)."""
    manifest = make_tree(tmp_path, versions=2, assets=1)
    env = {k: v for k, v in os.environ.items() if k != "AWS_DEFAULT_REGION"}
    env.update({"AWS_REGION": REGION, "UPLOADER_LOG_FORMAT": "json"})
    args = ["run", str(manifest), "--domain", DOMAIN, "--repository", REPOSITORY,
            "--namespace", "acme", "--endpoint-url", emulator.endpoint_url]  # fmt: skip
    ran = subprocess.run([sys.executable, "-m", "uploader", *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert ran.returncode == ExitCode.OK, ran.stderr
    assert "You must specify a region" not in ran.stderr


def test_verify_reads_the_run_table_and_expects_its_status(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """verify --config reads [run] (run-only keys ignored) and expects its `status`."""
    manifest = make_tree(tmp_path, versions=3, assets=1)
    config = write_config(tmp_path / "nightly.toml", emulator,
                          'namespace = "acme"\nstatus = "Unlisted"\n')  # fmt: skip
    ran = uploader("run", str(manifest), "--config", str(config), cwd=tmp_path)
    assert ran.returncode == ExitCode.OK, ran.stderr
    checked = uploader("verify", str(manifest), "--config", str(config), "--no-progress",
                       cwd=tmp_path)  # fmt: skip
    assert checked.returncode == ExitCode.OK, checked.stdout + checked.stderr
    assert "3 match, 0 differ" in checked.stdout
    flag = uploader("verify", str(manifest), "--config", str(config), "--status", "Published",
                    cwd=tmp_path)  # fmt: skip
    assert flag.returncode == ExitCode.SOME_FAILED
    assert "wrong_status: Unlisted, expected Published" in flag.stdout


def test_a_shard_verifies_its_own_share(emulator: EmulatorThread, tmp_path: Path) -> None:
    """verify --shard K/N checks the versions run --shard K/N uploaded, and only those."""
    manifest = make_tree(tmp_path, versions=14, assets=1)
    config = write_config(tmp_path / "c.toml", emulator, 'namespace = "acme"\n')
    ran = uploader("run", str(manifest), "--config", str(config), "--shard", "1/2", cwd=tmp_path)
    assert ran.returncode == ExitCode.OK, ran.stderr
    mine = uploader("verify", str(manifest), "--config", str(config), "--shard", "1/2",
                    cwd=tmp_path)  # fmt: skip
    assert mine.returncode == ExitCode.OK, mine.stdout + mine.stderr
    checked = int(mine.stdout.split("verified ")[1].split(" ")[0])
    assert 0 < checked < 14
    whole = uploader("verify", str(manifest), "--config", str(config), cwd=tmp_path)
    assert whole.returncode == ExitCode.SOME_FAILED
    assert f"{checked} match, {14 - checked} differ" in whole.stdout


def test_verify_into_a_closed_pipe_ends_quietly(emulator: EmulatorThread, tmp_path: Path) -> None:
    """`uploader verify ... | head -2`: no traceback, exit 141 (128 + SIGPIPE), as shells expect."""
    manifest = make_tree(tmp_path, versions=300, assets=1, size_bytes=64)
    args = [sys.executable, "-m", "uploader", "verify", str(manifest), "--domain", DOMAIN,
            "--repository", REPOSITORY, "--namespace", "acme",
            "--endpoint-url", emulator.endpoint_url]  # fmt: skip
    env = {**os.environ, "UPLOADER_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as child:  # fmt: skip
        assert child.stdout is not None
        assert child.stderr is not None
        head = [child.stdout.readline() for _ in range(2)]
        child.stdout.close()  # what `head -2` does once it has its lines
        stderr = child.stderr.read().decode()
        code = child.wait(timeout=60)
    assert all(b"version_missing" in line for line in head)
    assert "Traceback" not in stderr, stderr
    assert "BrokenPipeError" not in stderr, stderr
    assert code == 128 + 13


def test_config_show_takes_the_manifest_and_shows_its_journal(tmp_path: Path) -> None:
    """config show MANIFEST prints where that manifest's journal is."""
    manifest = make_tree(tmp_path, versions=1, assets=1)
    shown = uploader("config", "show", str(manifest), cwd=tmp_path)
    assert shown.returncode == ExitCode.OK, shown.stderr
    assert str(tmp_path / ".uploader" / "journal.sqlite") in shown.stdout


async def test_verify_draws_the_progress_display(emulator: EmulatorThread, tmp_path: Path) -> None:
    """On a terminal, verify shows versions checked and bytes hashed, as run shows its own."""
    manifest = make_tree(tmp_path, versions=4, assets=2)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    found: list[Finding] = []
    tally = await runner.verify(settings(manifest, emulator, status=TargetStatus.PUBLISHED),
                                on_finding=found.append, on_problem=print,
                                console=console)  # fmt: skip
    assert tally.versions == 4
    assert [f.kind.value for f in found] == ["version_missing"] * 4
    text = out.getvalue()
    assert "checked/s" in text
    assert "4/4" in text
    assert "0 match, 4 differ" in text
