"""`uploader run --processes N`: one run shared by N processes.

One process spends ~1 ms of CPU per request in botocore alone, so against an endpoint
that allows more requests than one core can make (a raised quota, an emulator, a
migration at full speed), the run is shared out:

    parent ── starts N copies of itself (`python -m uploader run-part DIR`)
              child j: the whole pipeline over every N-th version (`pipeline.in_part`),
                       1/N of every rate, the shared journal (SQLite takes turns),
                       its report records spooled to its own folder
           ── passes each signal it gets on to every child, once (they run in sessions
              of their own, so a terminal's Ctrl-C reaches only the parent); they drain
              and stop as a single run would
           ── merges the children's reports into one

The settings travel as JSON (no pickle) in a private temporary folder.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sys
import tempfile
from asyncio.subprocess import Process
from pathlib import Path
from typing import Any, Final

import structlog

from uploader.config import RunSettings
from uploader.errors import JournalError
from uploader.journal import Journal
from uploader.logs import LogFormat
from uploader.manifest import TargetStatus
from uploader.report import Report

log = structlog.get_logger(__name__)

SETTINGS_FILE: Final = "settings.json"


def settings_to_json(settings: RunSettings) -> dict[str, Any]:
    """RunSettings as JSON values (paths as strings, pairs as lists)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, TargetStatus):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        values[f.name] = value
    return values


def settings_from_json(values: dict[str, Any]) -> RunSettings:
    """The inverse of `settings_to_json`."""
    for name in ("local_dir", "report", "journal"):
        if values.get(name) is not None:
            values[name] = Path(values[name])
    for name in ("shard", "part"):
        values[name] = tuple(values[name])
    if values.get("status") is not None:
        values["status"] = TargetStatus(values["status"])
    return RunSettings(**values)


async def run_parts(settings: RunSettings, log_format: LogFormat) -> Report:
    """Run `settings` in `settings.processes` child processes; their merged report."""
    report = Report(settings.report)
    try:
        with tempfile.TemporaryDirectory(prefix="uploader-") as work_dir:
            try:
                await _run_children(settings, report, log_format, Path(work_dir))
            except (JournalError, OSError) as error:  # OSError: a process could not start
                report.fatal = str(error)
                log.error("cannot go on", error=str(error))
            report.write()  # streams the children's records from work_dir
    finally:
        report.close()
    return report


async def _run_children(
    settings: RunSettings, report: Report, log_format: LogFormat, work_dir: Path
) -> None:
    count = settings.processes
    if not settings.dry_run:  # created once here, not raced for by the children
        async with Journal(settings.journal_path()):
            pass
    children: list[tuple[Path, Process]] = []
    try:
        for j in range(1, count + 1):
            part_dir = work_dir / f"part-{j}"
            part_dir.mkdir()
            child = dataclasses.replace(
                settings, part=(j, count), processes=1, report=None,
                journal=settings.journal_path(),
            )  # fmt: skip
            (part_dir / SETTINGS_FILE).write_text(json.dumps(settings_to_json(child)))
            children.append((part_dir, await _start(part_dir, log_format)))
        log.info("processes started", processes=count,
                 pids=[p.pid for _, p in children])  # fmt: skip
        await _wait(children, report)
    finally:
        for _, process in children:  # only if we were cancelled: do not leave them
            if process.returncode is None:
                process.kill()
    for j, (part_dir, process) in enumerate(children, start=1):
        if not report.add_part(part_dir):
            report.fatal = report.fatal or (
                f"process {j} of {count} ended with exit code {process.returncode} without a report"
            )


async def _start(part_dir: Path, log_format: LogFormat) -> Process:
    # A session of its own: signals reach a child only through the parent, once each.
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uploader", "run-part", str(part_dir), log_format,
        stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


async def _wait(children: list[tuple[Path, Process]], report: Report) -> None:
    """Until every child has ended, passing SIGINT and SIGTERM on to them."""
    loop = asyncio.get_running_loop()

    def forward(signum: int) -> None:
        report.interrupted = True
        for _, process in children:
            if process.returncode is None:
                process.send_signal(signum)

    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, forward, signum)
    try:
        await asyncio.gather(*(process.wait() for _, process in children))
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def load_part(part_dir: Path) -> RunSettings:
    """A child's settings, as its parent wrote them."""
    values = json.loads((part_dir / SETTINGS_FILE).read_text())
    return settings_from_json(values)
