"""`uploader run --processes N`: one run shared by N processes.

One process spends ~1 ms of CPU per request in botocore alone, so against an endpoint
that allows more requests than one core can make (a raised quota, an emulator, a
migration at full speed), the run is shared out:

    parent ── starts N copies of itself (`python -m uploader run-part DIR`)
              child j: the whole pipeline over every N-th version (`filters.in_part`),
                       1/N of every rate, the shared journal (SQLite takes turns),
                       its report records spooled to its own folder
           ── passes each signal it gets on to every child, once, as soon as the child
              has its handlers (they run in sessions of their own, so a terminal's Ctrl-C
              reaches only the parent); they drain and stop as a single run would. A
              child whose parent dies (its stdin pipe closes) stops as on SIGTERM
           ── merges the children's reports into one

The settings travel as JSON (no pickle) in a private temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
import sys
import tempfile
from asyncio.subprocess import Process
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import structlog

from uploader.config import RunSettings
from uploader.errors import JournalError
from uploader.journal import Journal, JournalLock
from uploader.openfiles import raise_soft_limit
from uploader.report import Report, check_report_path

log = structlog.get_logger(__name__)

SETTINGS_FILE: Final = "settings.json"
READY_FILE: Final = "ready"  # a child has its signal handlers
READY_POLL_S: Final = 0.1


async def run_parts(settings: RunSettings) -> Report:
    """Run `settings` in `settings.processes` child processes; their merged report.

    Raises InvalidInputError before any work if the report could not be written.
    """
    check_report_path(settings.report)
    raise_soft_limit()  # for the children too (inherited); each sizes itself to it
    report = Report(settings.report)
    try:
        with tempfile.TemporaryDirectory(prefix="uploader-") as work_dir:
            try:
                with _locked(settings):
                    await _run_children(settings, report, Path(work_dir))
            except (JournalError, OSError) as error:  # OSError: a process could not start
                report.fatal = str(error)
                log.error("cannot go on", error=str(error))
            report.write()  # streams the children's records from work_dir
    finally:
        report.close()
    return report


def _locked(settings: RunSettings) -> contextlib.AbstractContextManager[object]:
    """The journal's lock, held here for every child: they run under it and take none
    (`runner.run` with a `part_dir`). A dry run has no journal to lock."""
    if settings.dry_run:
        return contextlib.nullcontext()
    return JournalLock(settings.journal_path())


async def _run_children(settings: RunSettings, report: Report, work_dir: Path) -> None:
    count = settings.processes
    if not settings.dry_run:  # created once here, not raced for by the children
        async with Journal(settings.journal_path()):
            pass
    children: list[_Child] = []
    loop = asyncio.get_running_loop()

    def forward(signum: int) -> None:
        report.interrupted = True
        for child in children:
            child.pending.append(signal.Signals(signum))
            child.deliver()

    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:  # before the first child starts: no signal goes unheard
        loop.add_signal_handler(signum, forward, signum)
    try:
        for j in range(1, count + 1):
            if report.interrupted:  # a signal while starting them: start no more
                break
            part_dir = work_dir / f"part-{j}"
            _write_part_settings(settings, (j, count), part_dir)
            children.append(_Child(part_dir, await _start(part_dir)))
        log.info("processes started", processes=count,
                 pids=[c.process.pid for c in children])  # fmt: skip
        ends = {asyncio.ensure_future(c.process.wait()) for c in children}
        while ends:
            _, ends = await asyncio.wait(ends, timeout=READY_POLL_S)
            for c in children:
                c.deliver()  # signals held for a child not yet listening
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        for c in children:
            c.release()
    _merge(report, children)


def _merge(report: Report, children: list[_Child]) -> None:
    log.info("processes ended", exit_codes=[c.process.returncode for c in children])
    for j, c in enumerate(children, start=1):
        if not report.add_part(c.part_dir):
            report.fatal = report.fatal or (
                f"process {j} of {len(children)} ended with exit code {c.process.returncode}"
                " without a report"
            )


@dataclass
class _Child:
    """A started child, and the signals it is owed once it listens for them."""

    part_dir: Path
    process: Process
    pending: list[signal.Signals] = field(default_factory=list)

    def deliver(self) -> None:
        # A child still importing would die of a signal (KeyboardInterrupt, or SIGTERM's
        # default action) without a report: it gets them once it has its handlers.
        if self.process.returncode is not None or not self.pending:
            return
        if (self.part_dir / READY_FILE).exists():
            for signum in self.pending:
                self.process.send_signal(signum)
            self.pending.clear()

    def release(self) -> None:
        """Kill it if it still runs (we were cancelled: do not leave it); close its stdin."""
        if self.process.returncode is None:
            self.process.kill()
        if self.process.stdin is not None:
            self.process.stdin.close()


def _write_part_settings(settings: RunSettings, part: tuple[int, int], part_dir: Path) -> None:
    part_dir.mkdir()
    child = dataclasses.replace(
        settings, part=part, processes=1, report=None, journal=settings.journal_path()
    )
    (part_dir / SETTINGS_FILE).write_text(json.dumps(child.to_json()))


async def _start(part_dir: Path) -> Process:
    # A session of its own: signals reach a child only through the parent. Its stdin is
    # a pipe the parent never writes: it closes when the parent dies, however it dies,
    # and the child then stops as on SIGTERM (cli.run_part), not running on unwatched.
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uploader", "run-part", str(part_dir),
        stdin=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def mark_ready(part_dir: Path) -> None:
    """Called by a child once its signal handlers are in place."""
    (part_dir / READY_FILE).touch()


def load_part(part_dir: Path) -> RunSettings:
    """A child's settings, as its parent wrote them."""
    return RunSettings.from_json(json.loads((part_dir / SETTINGS_FILE).read_text()))
