"""Outcomes, the end-of-run summary, the JSON report and the exit code.

Memory stays flat however long the manifest: per-version records are spooled to a
temporary JSON Lines file as versions end (whatever their outcome: a version never
reached is recorded as pending), and the report is assembled from it at the end; only
counters live in memory.

Where the report goes (`check_report_path` before any work, `Report.write` at the end):
a regular or new file is replaced atomically (a temporary file beside it, renamed over
it); a symlink is followed and its target written; a FIFO or a device is written
directly, as is `-` (stdout). A missing folder is an error, never created. A write that
still fails at the end (a full disk) leaves no temporary file and is `write_error`: the
run's exit code is then 3, a local failure like an unwritable journal.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from uploader.domain import AssetOutcome, TargetStatus, VersionOutcome
from uploader.errors import InvalidInputError, Outcome, exit_code

STDOUT: Final = Path("-")


@dataclass
class AssetRecord:
    name: str
    path: str
    size_bytes: int | None = None
    sha256: str | None = None
    outcome: AssetOutcome = AssetOutcome.PENDING

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "size": self.size_bytes,
            "sha256": self.sha256,
            "outcome": self.outcome.value,
        }


@dataclass
class VersionRecord:
    """One version's outcome, as the report lists it."""

    domain: str
    repository: str
    namespace: str
    package: str
    version: str
    target_status: TargetStatus
    assets: list[AssetRecord] = field(default_factory=list)
    outcome: VersionOutcome = VersionOutcome.PENDING
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "repository": self.repository,
            "namespace": self.namespace,
            "package": self.package,
            "version": self.version,
            "status": self.outcome.value,
            "target_status": self.target_status.value,
            "assets": [a.to_json() for a in self.assets],
            "error": self.error,
        }


@dataclass
class Totals:
    """Counters for the summary; cheap to update from any task."""

    versions: Counter[str] = field(default_factory=Counter)
    assets: Counter[str] = field(default_factory=Counter)
    bytes_published: int = 0
    bytes_hashed: int = 0
    bytes_downloaded: int = 0  # read from remote stores into the spool
    publish_requests: int = 0
    throttled: int = 0
    retries: int = 0
    problems: int = 0

    def add_json(self, other: dict[str, Any]) -> None:
        """Add counters as `to_json` wrote them (another process's share of the run)."""
        self.versions.update(other["versions"])
        self.assets.update(other["assets"])
        self.bytes_published += other["bytes_published"]
        self.bytes_hashed += other["bytes_hashed"]
        self.bytes_downloaded += other.get("bytes_downloaded", 0)
        self.publish_requests += other["publish_requests"]
        self.throttled += other["throttled"]
        self.retries += other["retries"]
        self.problems += other["manifest_problems"]

    def to_json(self) -> dict[str, Any]:
        return {
            "versions": dict(sorted(self.versions.items())),
            "assets": dict(sorted(self.assets.items())),
            "bytes_published": self.bytes_published,
            "bytes_hashed": self.bytes_hashed,
            "bytes_downloaded": self.bytes_downloaded,
            "publish_requests": self.publish_requests,
            "throttled": self.throttled,
            "retries": self.retries,
            "manifest_problems": self.problems,
        }


class Report:
    """Collects outcomes during a run and writes the JSON report at the end.

    Args:
        path: where `write` puts the report; None keeps only the counters.
        clock: monotonic seconds, for the elapsed time and rates.
        part_dir: this process runs a share of a `--processes` run: its records are
            spooled to files in this folder, and `write_part` adds its counters there,
            for the parent to merge (`add_part`).
    """

    def __init__(
        self, path: Path | None = None, *, clock: Any = time.monotonic, part_dir: Path | None = None
    ) -> None:
        self.path = path
        self.totals = Totals()
        self._clock = clock
        self.started_s = clock()
        self.interrupted = False
        self.out_of_time = False  # --max-duration stopped the run
        self.fatal: str | None = None
        self.unread = False  # the run ended before the manifest was read to its end
        self.write_error: str | None = None  # the report could not be written (`write`)
        self._part_dir = part_dir
        # Two spools, one per list of the report, so that neither is held in memory.
        self._spools: dict[str, IO[str]] = {}
        if part_dir is not None:
            self._spools = {n: (part_dir / f"{n}.jsonl").open("w+", encoding="utf-8")
                            for n in _LISTS}  # fmt: skip
        elif path is not None:
            self._spools = {name: _spool() for name in _LISTS}
        self._parts: list[Path] = []  # other processes' spool folders, merged on write

    def __repr__(self) -> str:
        return f"<Report versions={dict(self.totals.versions)} assets={dict(self.totals.assets)}>"

    def add_version(self, record: VersionRecord) -> None:
        """Count a version (any outcome, `pending` included) and spool its record."""
        self.totals.versions[record.outcome.value] += 1
        for asset in record.assets:
            self.totals.assets[asset.outcome.value] += 1
        if self._spools:
            self._spools["versions"].write(json.dumps(record.to_json()) + "\n")

    def add_problem(self, where: str, message: str) -> None:
        """Count an invalid manifest entry (already logged by the caller)."""
        self.totals.problems += 1
        if self._spools:
            self._spools["invalid"].write(json.dumps({"place": where, "error": message}) + "\n")

    @property
    def elapsed_s(self) -> float:
        return self._clock() - self.started_s  # type: ignore[no-any-return]

    def outcome(self) -> Outcome:
        """How the run ended: interrupted; cannot start (fatal, or the report not
        written); bad input (nothing valid); out of time (--max-duration); some failed (or
        invalid, or left pending); done."""
        if self.interrupted:
            return Outcome.INTERRUPTED
        if self.fatal is not None or self.write_error is not None:
            return Outcome.CANNOT_START
        if self.totals.problems and not self.totals.versions.total():
            return Outcome.BAD_INPUT  # nothing in the manifest could even be tried
        if self.out_of_time:
            return Outcome.OUT_OF_TIME
        versions = self.totals.versions
        if (
            versions[VersionOutcome.FAILED]
            or versions[VersionOutcome.PENDING]
            or self.totals.problems
        ):
            return Outcome.SOME_FAILED
        return Outcome.DONE

    def summary(self) -> str:
        """One line for people: outcomes, volume, rate, throttles."""
        t = self.totals
        versions = ", ".join(f"{n} {k}" for k, n in sorted(t.versions.items())) or "none"
        assets = ", ".join(f"{n} {k}" for k, n in sorted(t.assets.items())) or "none"
        elapsed_s = max(self.elapsed_s, 1e-9)
        rate = t.assets[AssetOutcome.PUBLISHED] / elapsed_s
        line = (
            f"versions: {versions}; assets: {assets}; manifest problems: {t.problems}; "
            f"{_size(t.bytes_published)} published in {elapsed_s:.1f} s "
            f"({rate:.1f} assets/s); throttled {t.throttled}, retries {t.retries}"
        )
        if self.fatal:
            line += f"; stopped: {self.fatal}"
        if self.unread:
            line += "; the rest of the manifest was not read"
        return line

    def write_part(self) -> None:
        """For the parent of a `--processes` run: this share's counters, beside its spools."""
        assert self._part_dir is not None, "not a share of a --processes run"
        for spool in self._spools.values():
            spool.flush()
        head = {"totals": self.totals.to_json(), "interrupted": self.interrupted,
                "out_of_time": self.out_of_time, "fatal_error": self.fatal}  # fmt: skip
        tmp = self._part_dir / (PART_TOTALS + ".tmp")
        tmp.write_text(json.dumps(head), encoding="utf-8")
        tmp.replace(self._part_dir / PART_TOTALS)  # whole or not at all

    def add_part(self, part_dir: Path) -> bool:
        """Merge a share written by `write_part`; False if it wrote none (it died)."""
        try:
            head = json.loads((part_dir / PART_TOTALS).read_text(encoding="utf-8"))
            self.totals.add_json(head["totals"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        self.interrupted = self.interrupted or head["interrupted"]
        self.out_of_time = self.out_of_time or head["out_of_time"]
        self.fatal = self.fatal or head["fatal_error"]
        self._parts.append(part_dir)
        return True

    @property
    def to_stdout(self) -> bool:
        """The report goes to stdout (`--report -`): the summary should not."""
        return self.path == STDOUT

    def write(self) -> None:
        """Write the JSON report (streaming the spools) where `path` says, as the module
        docstring describes; a failure is `write_error`, never an exception."""
        if self.path is None or not self._spools:
            return
        try:
            if self.to_stdout:
                self._write_to(sys.stdout)
                sys.stdout.flush()
                return
            target = self.path.resolve()  # a symlink's target is what we write
            if _is_special(target):
                with target.open("w", encoding="utf-8") as out:
                    self._write_to(out)
            else:
                self._write_atomically(target)
        except OSError as error:
            self.write_error = f"cannot write the report {self.path}: {error.strerror or error}"

    def _write_atomically(self, target: Path) -> None:
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as out:
                self._write_to(out)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def _write_to(self, out: IO[str]) -> None:
        head = {
            "exit_code": int(exit_code(self.outcome())),
            "elapsed_s": round(self.elapsed_s, 3),
            "interrupted": self.interrupted,
            "out_of_time": self.out_of_time,
            "fatal_error": self.fatal,
            "manifest_read_to_end": not self.unread,
            "totals": self.totals.to_json(),
        }
        out.write(json.dumps(head)[:-1])
        for name, spool in self._spools.items():
            out.write(f', "{name}": [')
            first = True
            for lines in self._lists(name, spool):
                for line in lines:
                    out.write(("\n" if first else ",\n") + line.rstrip("\n"))
                    first = False
            out.write("]")
        out.write("}\n")

    def _lists(self, name: str, spool: IO[str]) -> Iterator[Iterable[str]]:
        """The lines of one list: this process's spool, then each merged share's."""
        spool.seek(0)
        yield spool
        spool.seek(0, os.SEEK_END)
        for part_dir in self._parts:
            with (part_dir / f"{name}.jsonl").open(encoding="utf-8") as lines:
                yield lines

    def close(self) -> None:
        for spool in self._spools.values():
            spool.close()
        self._spools = {}


_LISTS = ("versions", "invalid")
PART_TOTALS = "totals.json"


def _size(n_bytes: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} bytes"


def check_report_path(path: Path | None) -> None:
    """Before any work: raise InvalidInputError if the report could not be written there.

    Checks without writing: a new file's folder must exist and take a file (a probe file,
    removed at once); an existing file or device must open for writing (not truncated).
    """
    if path is None or path == STDOUT:
        return
    target = path.resolve()
    try:
        if target.is_dir():
            raise InvalidInputError(f"--report {path}: is a folder")
        if _is_special(target):
            if not os.access(target, os.W_OK):  # opening a FIFO would wait for its reader
                raise InvalidInputError(f"--report {path}: not writable")
            return
        if target.exists():
            os.close(os.open(target, os.O_WRONLY | os.O_NONBLOCK))
        if not target.parent.is_dir():
            raise InvalidInputError(f"--report {path}: folder {target.parent} does not exist")
        with tempfile.TemporaryFile(dir=target.parent):
            pass  # the folder takes the temporary file that is renamed over the report
    except OSError as error:
        raise InvalidInputError(f"--report {path}: {error.strerror or error}") from error


def _is_special(target: Path) -> bool:
    """A FIFO, a device or a socket: written in place, never replaced by a file."""
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _spool() -> IO[str]:
    return tempfile.TemporaryFile("w+", encoding="utf-8")
