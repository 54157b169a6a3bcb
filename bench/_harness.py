"""What the benchmarks share: an emulator in its own process, `uploader run` in another.

Not a benchmark itself (`bench/run.py` does not run it). Each script imports it as
`_harness` (Python puts the script's folder, `bench/`, first on `sys.path`).
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

KIB = 1024
MIB = 1024 * KIB
TARGET = ["--region", "us-east-1", "--domain", "bench", "--repository", "repo",
          "--namespace", "bench"]  # fmt: skip
DUMMY_AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def machine() -> str:
    """`2 cores, 24 GiB, Linux 6.18..., Python 3.11.7`, for RESULTS.md."""
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (f"{os.cpu_count()} cores, {mem_kib / MIB:.0f} GiB, Linux {platform.release()}, "
            f"Python {platform.python_version()}")  # fmt: skip


class EmulatorProcess:
    """`uploader emulator` in a process of its own; its stats over HTTP.

    Args:
        data_dir: the emulator's store (a fresh folder for a fresh emulator).
        extra: more flags, e.g. `["--rate", "publish=20"]`.
    """

    def __init__(self, data_dir: Path, extra: Sequence[str] = ()) -> None:
        self._args = [sys.executable, "-m", "uploader", "emulator", "--data", str(data_dir),
                      "--repo", "bench/repo", *extra]  # fmt: skip
        self._process: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def __enter__(self) -> EmulatorProcess:
        self._process = subprocess.Popen(self._args, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("listening on "):
            self._process.kill()
            raise RuntimeError(f"emulator did not start: {line!r}")
        self.endpoint = line.split()[-1]
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        assert self._process is not None
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def cpu_s(self) -> float:
        """The server's CPU time so far (user + system, every thread), from /proc."""
        assert self._process is not None
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict[str, Any]:
        """`GET /__emulator/stats`: requests, throttled, faults, publishes."""
        with urllib.request.urlopen(f"{self.endpoint}/__emulator/stats", timeout=10) as reply:
            stats: dict[str, Any] = json.load(reply)
        return stats


@dataclass
class StatsPoller:
    """Polls the emulator's publish count every `interval_s`: when publishing began and ended.

    `first_s`: the first poll that saw a publish request; `last_s`: the first poll that saw
    `expected` of them (both `time.perf_counter()`), each late by at most `interval_s`.
    """

    emulator: EmulatorProcess
    expected: int
    interval_s: float = 0.02
    operation: str = "PublishPackageVersion"
    first_s: float | None = None
    last_s: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            count = self.emulator.stats()["requests"].get(self.operation, 0)
            now = time.perf_counter()
            if count and self.first_s is None:
                self.first_s = now
            if count >= self.expected and self.last_s is None:
                self.last_s = now
            self._stop.wait(self.interval_s)


@dataclass(frozen=True)
class Measured:
    """One finished child process: wall time, CPU time (user + system), peak RSS, exit."""

    wall_s: float
    cpu_s: float
    peak_rss_kib: int
    returncode: int


def measure(args: Sequence[str], log_path: Path, timeout_s: float = 600,
            env: dict[str, str] | None = None) -> Measured:  # fmt: skip
    """Run `args` to the end, stdout and stderr to `log_path`.

    Peak RSS and CPU time are the child's own `ru_maxrss` and user + system time (from
    `os.wait4`), which the kernel keeps after the process has gone; the wall time runs
    from spawn to exit, interpreter start and imports included.
    """
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout_s:
                process.kill()
                process.wait()
                raise TimeoutError(f"{args[:4]} took over {timeout_s} s; log: {log_path}")
            time.sleep(0.005)
    wall_s = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(wall_s, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, process.returncode)


@dataclass(frozen=True)
class UploaderRun:
    """One finished `uploader run`: its report and its process's figures."""

    report: dict[str, Any]
    process: Measured


def run_uploader(
    manifest: Path, endpoint: str, workdir: Path, extra: Sequence[str] = (), timeout_s: float = 600
) -> UploaderRun:
    """`python -m uploader run MANIFEST ...` in its own process, with a fresh journal."""
    report_path = workdir / "report.json"
    args = [sys.executable, "-m", "uploader", "run", str(manifest), "--endpoint-url", endpoint,
            *TARGET, "--journal", str(workdir / "journal.sqlite"), "--report", str(report_path),
            *extra]  # fmt: skip
    env = {**os.environ, **DUMMY_AWS_ENV, "UPLOADER_LOG_FORMAT": "json"}
    log_path = workdir / "uploader.log"
    process = measure(args, log_path, timeout_s, env)
    if not report_path.exists():
        raise RuntimeError(f"no report (exit {process.returncode}): {log_path.read_text()[-2000:]}")
    return UploaderRun(json.loads(report_path.read_text()), process)


def write_versions(
    root: Path, versions: int, assets: int, sizes: Sequence[int] | None = None, seed: int = 0
) -> Path:
    """`versions` x `assets` files of seeded random bytes, and their JSON Lines manifest.

    Sizes, one per asset in order, default to 1 KiB each. Version `{i}` of package
    `p{i * 10 // versions}` (ten packages, each a run of consecutive versions, as a scanned
    export lists them), assets `a{j}.bin`.
    """
    rng = random.Random(seed)
    manifest = root / "manifest.jsonl"
    lines = []
    for i in range(versions):
        folder = root / "files" / str(i)
        folder.mkdir(parents=True)
        entries = []
        for j in range(assets):
            path = folder / f"a{j}.bin"
            path.write_bytes(rng.randbytes(sizes[i * assets + j] if sizes else KIB))
            entries.append({"path": str(path.relative_to(root))})
        package = f"p{i * 10 // versions}"
        lines.append(json.dumps({"package": package, "version": str(i), "assets": entries}))
    manifest.write_text("\n".join(lines) + "\n")
    return manifest
