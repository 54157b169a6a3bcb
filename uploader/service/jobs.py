"""Durable jobs: the service's SQLite table of jobs, and each job's folder under `--data`.

A job is a row (`jobs.sqlite`: its state, its settings as `RunSettings.to_json` wrote them,
timestamps, its last counters) and a folder `jobs/<id>/` holding what `uploader run`
would keep beside a manifest: the manifest as submitted, the job's own resume journal
and its report. Because every job has its journal, a job the service was running when it
stopped continues at the next start exactly as a rerun of `uploader run` does: nothing
the service confirmed before the stop is sent again.

Every call runs on one thread of its own (the table is small; SQLite is blocking I/O and
stays off the event loop). Records never hold a token or a credential: a job's settings
are the run settings (target, tuning), and `Idempotency-Key`s are stored as SHA-256s.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Self, TypeVar

from uploader.domain import JobState

T = TypeVar("T")
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    idempotency_sha256 TEXT UNIQUE,
    state TEXT NOT NULL,
    manifest TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_s REAL NOT NULL,
    started_s REAL,
    finished_s REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    runs INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    totals TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq);
"""
JOURNAL_NAME: Final = "journal.sqlite"
REPORT_NAME: Final = "report.json"


@dataclass(frozen=True)
class Job:
    """One job as the table holds it."""

    seq: int
    id: str
    state: JobState
    manifest: Path
    settings: Mapping[str, Any]
    created_s: float
    started_s: float | None
    finished_s: float | None
    cancel_requested: bool
    runs: int  # how many times it was started (a restart continues it)
    error: str | None
    totals: Mapping[str, Any] | None

    @property
    def folder(self) -> Path:
        """The job's own folder: manifest, journal, report."""
        return self.manifest.parent

    @property
    def report_path(self) -> Path:
        return self.folder / REPORT_NAME


@dataclass(frozen=True)
class Page:
    """One page of a listing, newest first; `next` continues it (None: the last page)."""

    jobs: list[Job]
    next: str | None


class JobStore:
    """The jobs table and folders under `data_dir`."""

    def __init__(self, data_dir: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.data_dir = data_dir
        self._clock = clock
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="jobs")
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"<JobStore {self.data_dir}>"

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def __aenter__(self) -> Self:
        await self._run(self._open)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _open(self) -> None:
        (self.data_dir / "jobs").mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.data_dir / "incoming", ignore_errors=True)  # never accepted
        db = sqlite3.connect(self.data_dir / "jobs.sqlite", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(SCHEMA)
        self._db = db

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None, "the store is not open"
        return self._db

    # --- writes ---------------------------------------------------------------------------

    async def create(
        self,
        staged: Path,
        settings: Callable[[Path], Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> tuple[Job, bool]:
        """A new queued job whose manifest is the `staged` file (moved into the job's
        folder), or the job an earlier request with the same key created (`staged` is
        then removed). `settings(manifest)` gives the job's settings for its manifest's
        final path. Returns the job and whether it is new.
        """
        return await self._run(self._create, staged, settings, idempotency_key)

    def _create(
        self,
        staged: Path,
        settings: Callable[[Path], Mapping[str, Any]],
        idempotency_key: str | None,
    ) -> tuple[Job, bool]:
        key = None if idempotency_key is None else _sha256(idempotency_key)
        if key is not None:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE idempotency_sha256 = ?", (key,)
            ).fetchone()
            if row is not None:
                shutil.rmtree(staged.parent, ignore_errors=True)
                return _job(row), False
        job_id = uuid.uuid4().hex
        folder = self.data_dir / "jobs" / job_id
        staged.parent.rename(folder)
        path = folder / staged.name
        self._conn.execute(
            "INSERT INTO jobs (id, idempotency_sha256, state, manifest, settings, created_s)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (job_id, key, JobState.QUEUED, str(path), json.dumps(settings(path)), self._clock()),
        )
        return self._get(job_id), True

    def staging(self) -> Path:
        """A new empty folder for a submitted manifest, on the same file system as the jobs."""
        folder = self.data_dir / "incoming" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    async def started(self, job_id: str) -> Job:
        """The job is running (again)."""
        return await self._update(
            job_id, "state = ?, started_s = ?, runs = runs + 1", JobState.RUNNING, self._clock()
        )

    async def ended(
        self, job_id: str, state: JobState, *, error: str | None, totals: Mapping[str, Any]
    ) -> Job:
        """The job's run ended in `state` (`interrupted` ones run again at the next start)."""
        finished = self._clock() if state.finished else None
        return await self._update(
            job_id, "state = ?, finished_s = ?, error = ?, totals = ?",
            state, finished, error, json.dumps(totals),
        )  # fmt: skip

    async def request_cancel(self, job_id: str) -> Job:
        """Remember that a client asked to cancel the job (it survives a restart)."""
        return await self._update(job_id, "cancel_requested = 1")

    async def requeue_unfinished(self) -> list[Job]:
        """At start: every job not finished goes back to the queue, oldest first."""
        return await self._run(self._requeue)

    def _requeue(self) -> list[Job]:
        waiting = (JobState.RUNNING, JobState.INTERRUPTED, JobState.QUEUED)
        self._conn.execute(  # stopped while a cancel drained it: it is cancelled
            f"UPDATE jobs SET state = ?, finished_s = ? WHERE cancel_requested = 1"
            f" AND state IN ({', '.join('?' * len(waiting))})",
            (JobState.CANCELLED, self._clock(), *waiting),
        )
        self._conn.execute(
            "UPDATE jobs SET state = ? WHERE state IN (?, ?)", (JobState.QUEUED, *waiting[:2])
        )
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE state = ? ORDER BY seq", (JobState.QUEUED,)
        ).fetchall()
        return [_job(row) for row in rows]

    async def _update(self, job_id: str, assignments: str, *values: object) -> Job:
        def update() -> Job:
            self._conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*values, job_id))
            return self._get(job_id)

        return await self._run(update)

    # --- reads ----------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        """The job, or None."""
        return await self._run(self._find, job_id)

    def _find(self, job_id: str) -> Job | None:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def _get(self, job_id: str) -> Job:
        job = self._find(job_id)
        assert job is not None, job_id
        return job

    async def page(
        self, *, state: JobState | None = None, limit: int = 50, after: str | None = None
    ) -> Page:
        """Jobs newest first, `limit` at a time; `after` is the previous page's `next`."""
        return await self._run(self._page, state, limit, after)

    def _page(self, state: JobState | None, limit: int, after: str | None) -> Page:
        clauses = ["seq < ?"]
        values: list[object] = [_cursor(after)]
        if state is not None:
            clauses.append("state = ?")
            values.append(state)
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?",
            (*values, limit + 1),
        ).fetchall()
        jobs = [_job(row) for row in rows[:limit]]
        return Page(jobs, str(jobs[-1].seq) if len(rows) > limit else None)

    async def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state."""
        rows = await self._run(
            lambda: self._conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        )
        counts = dict.fromkeys(JobState, 0)
        counts.update({JobState(state): n for state, n in rows})
        return counts

    async def check_writable(self) -> None:
        """Raise OSError or sqlite3.Error unless the store can be written now."""

        def probe() -> None:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("ROLLBACK")
            probe_file = self.data_dir / ".ready-probe"
            probe_file.write_bytes(b"")
            probe_file.unlink()

        await self._run(probe)


_COLUMNS: Final = (
    "seq, id, state, manifest, settings, created_s, started_s, finished_s, cancel_requested,"
    " runs, error, totals"
)


def _job(row: tuple[Any, ...]) -> Job:
    seq, job_id, state, manifest, settings, created, started, finished, cancel, runs = row[:10]
    error, totals = row[10:]
    return Job(
        seq=seq, id=job_id, state=JobState(state), manifest=Path(manifest),
        settings=json.loads(settings), created_s=created, started_s=started,
        finished_s=finished, cancel_requested=bool(cancel), runs=runs, error=error,
        totals=None if totals is None else json.loads(totals),
    )  # fmt: skip


def _cursor(after: str | None) -> int:
    """The seq a page continues below; a bad cursor starts from the top."""
    if after is None or not after.isdigit():
        return 2**63 - 1
    return int(after)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
