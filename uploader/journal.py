"""The resume journal: what this machine has hashed, published and finalized (SQLite, WAL).

A run records each step's outcome before the next starts, so a run killed at any moment
resumes where it stopped: unchanged files are not hashed again (the hash cache, keyed by
path, size, mtime_ns and inode), assets the service confirmed are not sent again, and
finalized versions are skipped without a request.

Every method's SQL goes through a group committer (`uploader.groupcommit`): on one
thread, off the event loop, the calls made meanwhile in one transaction, and no method
returns before its record is committed. In WAL mode with `synchronous=NORMAL` a committed
transaction survives the process being killed (it is in the WAL file); only a power cut
can lose the last ones, and a lost record only means a step is done again (a re-publish
of identical bytes is idempotent).

Keys include a *scope*: the endpoint (or `local:DIR`, or `aws:REGION`) and the domain and
repository, so one journal can serve several targets without mixing them up.

History is kept, not rewritten: a version's `done_state` is what the journal last saw it
reach (finalized or unfinished; skipped only if it never saw more), and a rerun that
skips it (done in the journal, or found complete on the service) leaves that state as it
was. How many versions a run skipped is the run's report's to say, not the journal's.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, Self

from uploader.domain import AssetState, VersionState
from uploader.errors import JournalError
from uploader.groupcommit import GroupCommitter, Transaction
from uploader.hashing import CachedDigest, FileDigest

SCHEMA_VERSION: Final = 2  # 2: versions.done_state (a schema 1 journal is upgraded in place)
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size_bytes INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL, sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    scope TEXT NOT NULL, namespace TEXT NOT NULL, package TEXT NOT NULL, version TEXT NOT NULL,
    state TEXT NOT NULL, target_status TEXT NOT NULL, error TEXT, updated_s REAL NOT NULL,
    done_state TEXT,
    PRIMARY KEY (scope, namespace, package, version)
);
CREATE TABLE IF NOT EXISTS assets (
    scope TEXT NOT NULL, namespace TEXT NOT NULL, package TEXT NOT NULL, version TEXT NOT NULL,
    name TEXT NOT NULL, sha256 TEXT NOT NULL, size_bytes INTEGER NOT NULL, state TEXT NOT NULL,
    reply TEXT, error TEXT, updated_s REAL NOT NULL,
    PRIMARY KEY (scope, namespace, package, version, name)
);
"""
BUSY_TIMEOUT_MS: Final = 10_000
_VERSION_IS: Final = "scope = ? AND namespace = ? AND package = ? AND version = ?"  # key.row()


@dataclass(frozen=True)
class VersionKey:
    """A version's identity in the journal."""

    scope: str
    namespace: str
    package: str
    version: str

    def row(self) -> tuple[str, str, str, str]:
        return (self.scope, self.namespace, self.package, self.version)


@dataclass(frozen=True)
class JournalVersion:
    """What the journal knows of one version."""

    state: VersionState
    target_status: str
    assets: dict[str, tuple[str, AssetState]]  # name -> (sha256, state)


@dataclass(frozen=True)
class Failure:
    """A failed version or asset and its last error, for `uploader status`."""

    key: str
    error: str


@dataclass(frozen=True)
class RepositorySummary:
    """One target's counts by state: a scope is `endpoint|domain|owner|repository`."""

    scope: str
    versions: dict[str, int]
    assets: dict[str, int]

    @property
    def name(self) -> str:
        """`domain/repository at endpoint` (with the owner when the scope has one)."""
        endpoint, domain, owner, repository = _scope_parts(self.scope)
        owned = f" (owner {owner})" if owner else ""
        return f"{domain}/{repository}{owned} at {endpoint}"

    def to_json(self) -> dict[str, Any]:
        endpoint, domain, owner, repository = _scope_parts(self.scope)
        return {
            "scope": self.scope,
            "endpoint": endpoint,
            "domain": domain,
            "domain_owner": owner or None,
            "repository": repository,
            "versions": self.versions,
            "assets": self.assets,
        }


@dataclass(frozen=True)
class Summary:
    """Counts by state for each repository (never summed across them), and what failed."""

    repositories: list[RepositorySummary]
    failures: list[Failure]

    def to_json(self) -> dict[str, Any]:
        return {
            "repositories": [r.to_json() for r in self.repositories],
            "failed": [{"key": f.key, "error": f.error} for f in self.failures],
        }


# SQLite's messages for a file that is not (or no longer) a database.
_CORRUPT_MESSAGES: Final = ("file is not a database", "database disk image is malformed")


def journal_error(path: Path, error: OSError | sqlite3.Error) -> JournalError:
    """`error` as a JournalError naming the journal, with what to do if the file is corrupt."""
    message = f"journal {path}: {error}"
    if isinstance(error, sqlite3.DatabaseError) and str(error) in _CORRUPT_MESSAGES:
        message += (
            f": move it aside (mv {path} {path}.broken) and rerun; the service is the truth:"
            " what the journal knew is found on the service again, and the journal rebuilt"
        )
    return JournalError(message)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        _check_schema(db, path)
    except (OSError, sqlite3.Error) as error:
        raise journal_error(path, error) from error
    return db


def _check_schema(db: sqlite3.Connection, path: Path) -> None:
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is None:
        # OR IGNORE: another process sharing the journal may have written it meanwhile.
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    elif row[0] == "1":
        _upgrade_from_1(db)
    elif row[0] != str(SCHEMA_VERSION):
        raise JournalError(
            f"journal {path} has schema {row[0]}, this uploader writes {SCHEMA_VERSION}:"
            " use another --journal path"
        )


def _upgrade_from_1(db: sqlite3.Connection) -> None:
    """Schema 1 to 2: add `done_state`, filled from the done states recorded so far."""
    with Transaction(db):
        columns = {row[1] for row in db.execute("PRAGMA table_info(versions)")}
        if "done_state" not in columns:  # another process may have upgraded it meanwhile
            db.execute("ALTER TABLE versions ADD COLUMN done_state TEXT")
            done = tuple(state.value for state in VersionState if state.done)
            marks = ", ".join("?" * len(done))
            db.execute(f"UPDATE versions SET done_state = state WHERE state IN ({marks})", done)
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))


class JournalLock:
    """One run owns a journal at a time: an exclusive `flock` on `<journal>.lock` beside it.

    Taken for the whole run (a `--processes` run's parent holds it for its children,
    which take none). The file holds the owner's pid and start time, for the message a
    second run gets; the OS releases the lock when its holder ends, however it ends, so
    a killed run never leaves a stale lock (the file itself stays: unlinking it would let
    two runs lock two different files). `uploader status` only reads and takes no lock.
    A sync context manager.
    """

    def __init__(self, journal: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.journal = journal
        self.path = journal.with_name(journal.name + ".lock")
        self._clock = clock
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"<JournalLock {self.path} {'held' if self._fd is not None else 'free'}>"

    def __enter__(self) -> Self:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise journal_error(self.journal, error) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            raise JournalError(self._in_use(holder)) from error
        started = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        owner = {"pid": os.getpid(), "started": started.isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner).encode(), 0)
        self._fd = fd
        return self

    def _in_use(self, holder: str) -> str:
        try:
            owner = json.loads(holder)
            who = f"pid {int(owner['pid'])} since {owner['started']}"
        except (ValueError, KeyError, TypeError):
            who = "another process"  # it has the lock, and has not written its name yet
        return (
            f"journal {self.journal} is in use by {who}: one run at a time per journal;"
            " let that run end (`uploader status` reads the journal meanwhile)"
        )

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # releases the lock


class Journal:
    """The resume journal at `path`; an async context manager.

    Args:
        path: the SQLite file; its folder is created if missing.
        clock: seconds since the epoch, for `updated_s`.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._committer = GroupCommitter(
            partial(_connect, path), errors=partial(journal_error, path), thread_name="journal"
        )

    def __repr__(self) -> str:
        return f"<Journal {self.path}>"

    async def open(self) -> None:
        await self._committer.open()

    async def close(self) -> None:
        """Close the database once the calls made so far are committed (shielded: a
        cancelled run still leaves it closed cleanly, its last records written)."""
        await self._committer.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- the hash cache (hashing.HashCache) ---------------------------------------------------

    async def get_many(self, paths: Sequence[Path]) -> list[CachedDigest | None]:
        """The SHA-256 and file identity recorded for each path, if any."""
        return await self._committer.grouped(
            self._get_hashes, [str(p) for p in paths], writes=False
        )

    @staticmethod
    def _get_hashes(db: sqlite3.Connection, paths: list[str]) -> list[CachedDigest | None]:
        found = []
        for path in paths:
            row = db.execute(
                "SELECT sha256, size_bytes, mtime_ns, inode FROM files WHERE path = ?", (path,)
            ).fetchone()
            found.append(None if row is None else CachedDigest(*row))
        return found

    async def put_many(self, entries: Sequence[tuple[Path, FileDigest]]) -> None:
        """Remember each file's SHA-256 for its identity (size, mtime, inode)."""
        rows = [(str(p), d.size_bytes, d.mtime_ns, d.inode, d.sha256) for p, d in entries]
        await self._committer.grouped(self._put_hashes, rows)

    @staticmethod
    def _put_hashes(db: sqlite3.Connection, rows: list[tuple[str, int, int, int, str]]) -> None:
        db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", rows)

    # Remote assets' SHA-256s, by `SourceObject.cache_key` (URL, size, the store's identity
    # of the object), in the same table: such a key never equals an absolute path.

    async def remote_hashes(self, keys: Sequence[str]) -> list[str | None]:
        """The SHA-256 recorded for each remote object's cache key, if any."""
        found = await self._committer.grouped(self._get_hashes, list(keys), writes=False)
        return [None if d is None else d.sha256 for d in found]

    async def remember_remote(self, entries: Sequence[tuple[str, int, str]]) -> None:
        """Remember the SHA-256 of each remote object: (cache key, size, SHA-256)."""
        rows = [(key, size, 0, 0, sha256) for key, size, sha256 in entries]
        await self._committer.grouped(self._put_hashes, rows)

    @staticmethod
    def _write(db: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> None:
        db.execute(sql, params)

    # --- versions and assets ------------------------------------------------------------------

    async def lookup(self, key: VersionKey) -> JournalVersion | None:
        """What the journal knows of a version, or None."""
        return await self._committer.grouped(self._lookup, key, writes=False)

    async def lookup_many(self, keys: Sequence[VersionKey]) -> list[JournalVersion | None]:
        """What the journal knows of each version, in order: one call for a batch."""
        return await self._committer.grouped(self._lookup_many, list(keys), writes=False)

    @classmethod
    def _lookup_many(
        cls, db: sqlite3.Connection, keys: list[VersionKey]
    ) -> list[JournalVersion | None]:
        return [cls._lookup(db, key) for key in keys]

    @staticmethod
    def _lookup(db: sqlite3.Connection, key: VersionKey) -> JournalVersion | None:
        row = db.execute(
            f"SELECT state, target_status FROM versions WHERE {_VERSION_IS}", key.row()
        ).fetchone()
        if row is None:
            return None
        assets = {
            name: (sha256, AssetState(state))
            for name, sha256, state in db.execute(
                f"SELECT name, sha256, state FROM assets WHERE {_VERSION_IS}", key.row()
            )
        }
        return JournalVersion(VersionState(row[0]), row[1], assets)

    async def start_version(
        self, key: VersionKey, target_status: str, assets: dict[str, tuple[str, int]]
    ) -> None:
        """Record a version as pending with its assets (name -> (sha256, size)).

        Assets already recorded as published with the same SHA-256 keep that state.
        """
        await self._committer.grouped(self._start_version, key, target_status, assets)

    def _start_version(
        self,
        db: sqlite3.Connection,
        key: VersionKey,
        target_status: str,
        assets: dict[str, tuple[str, int]],
    ) -> None:
        now = self._clock()
        db.execute(  # done_state stays: this run may well find the version done again
            "INSERT INTO versions (scope, namespace, package, version, state, target_status,"
            " updated_s) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET state = excluded.state, target_status ="
            " excluded.target_status, error = NULL, updated_s = excluded.updated_s",
            (*key.row(), VersionState.PENDING.value, target_status, now),
        )
        published = AssetState.PUBLISHED.value  # kept by an asset whose bytes are the same
        for name, (sha256, size_bytes) in assets.items():
            db.execute(
                "INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)"
                " ON CONFLICT DO UPDATE SET state = CASE WHEN assets.sha256 ="
                " excluded.sha256 AND assets.state = ? THEN assets.state"
                " ELSE excluded.state END, sha256 = excluded.sha256,"
                " size_bytes = excluded.size_bytes, error = NULL,"
                " updated_s = excluded.updated_s",
                (*key.row(), name, sha256, size_bytes, AssetState.PENDING.value, now, published),
            )

    async def asset_published(
        self, key: VersionKey, name: str, sha256: str, reply: dict[str, Any] | None = None
    ) -> None:
        """Record that the service confirmed an asset (call only after it did)."""
        reply_json = None if reply is None else json.dumps(reply)
        await self._committer.grouped(
            self._write,
            "UPDATE assets SET state = ?, sha256 = ?, reply = ?, error = NULL, updated_s = ?"
            f" WHERE {_VERSION_IS} AND name = ?",
            (AssetState.PUBLISHED.value, sha256, reply_json, self._clock(), *key.row(), name),
        )

    async def asset_failed(self, key: VersionKey, name: str, error: str) -> None:
        await self._committer.grouped(
            self._write,
            "UPDATE assets SET state = ?, error = ?, updated_s = ?"
            f" WHERE {_VERSION_IS} AND name = ?",
            (AssetState.FAILED.value, error, self._clock(), *key.row(), name),
        )

    async def version_done(
        self, key: VersionKey, state: VersionState, error: str | None = None
    ) -> None:
        """Record a version's outcome (finalized, unfinished, skipped or failed).

        `skipped` does not overwrite what the journal saw before: a version it recorded
        as finalized (or unfinished) and this run skipped stays finalized (or unfinished).
        `failed` is the latest news, and what it last reached is kept for a later skip.
        """
        assignments, states = _new_state(state)
        await self._committer.grouped(
            self._write,
            f"UPDATE versions SET {assignments}, error = ?, updated_s = ? WHERE {_VERSION_IS}",
            (*states, error, self._clock(), *key.row()),
        )

    # --- reading it back ----------------------------------------------------------------------

    async def summary(self) -> Summary:
        """Counts of versions and assets by state, and the failures with their last error."""
        return await self._committer.grouped(self._summary, writes=False)

    @staticmethod
    def _summary(db: sqlite3.Connection) -> Summary:
        counts: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
        for table, index in (("versions", 0), ("assets", 1)):
            for scope, state, n in db.execute(
                f"SELECT scope, state, COUNT(*) FROM {table} GROUP BY scope, state"
            ):
                counts.setdefault(scope, ({}, {}))[index][state] = n
        repositories = [RepositorySummary(scope, *counts[scope]) for scope in sorted(counts)]
        failures = [
            Failure(f"{scope} {ns}/{pkg}@{ver}", error or "")
            for scope, ns, pkg, ver, error in db.execute(
                "SELECT scope, namespace, package, version, error FROM versions"
                " WHERE state = ? ORDER BY updated_s",
                (VersionState.FAILED.value,),
            )
        ]
        return Summary(repositories, failures)


def _new_state(state: VersionState) -> tuple[str, tuple[str, ...]]:
    """The SET clause recording `state`, and the states it binds."""
    if state.done:
        # A skip keeps the row's old done_state: SQL reads it before SET.
        new = "COALESCE(done_state, ?)" if state is VersionState.SKIPPED else "?"
        return f"done_state = {new}, state = {new}", (state.value, state.value)
    return "state = ?", (state.value,)


def _scope_parts(scope: str) -> tuple[str, str, str, str]:
    """A scope's endpoint, domain, owner and repository."""
    # From the right: only the endpoint (a folder for `local:DIR`) may hold a `|` itself.
    parts = scope.rsplit("|", 3)
    endpoint, domain, owner, repository = ["", "", "", ""][: 4 - len(parts)] + parts
    return endpoint, domain, owner, repository
