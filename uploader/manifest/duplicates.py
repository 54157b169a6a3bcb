"""Duplicate versions: the second entry naming a version already seen is a Problem.

This module owns the one check that spans entries. A version is named by its digest
after defaults; digests are held in memory up to a bound and then in a private temporary
SQLite database, so a manifest of millions of lines costs a few MB, not a set per line.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from typing import Final

from uploader.manifest.spec import Place, Problem, VersionSpec


def without_duplicates(
    entries: Iterator[VersionSpec | Problem],
) -> Iterator[VersionSpec | Problem]:
    """The entries, with a version seen before replaced by a Problem naming both places.

    Runs before any sharding, so every shard sees the same duplicates.
    """
    seen = SeenVersions()
    try:
        for entry in entries:
            if isinstance(entry, Problem):
                yield entry
                continue
            first = seen.add(_identity(entry), entry.place.line)
            if first is None:
                yield entry
            else:
                yield _duplicate(entry, first)
    finally:
        seen.close()


def _identity(spec: VersionSpec) -> bytes:
    """A 16-byte digest of what names a version on the service, after defaults."""
    parts = (spec.domain, spec.domain_owner or "", spec.repository, spec.namespace)
    key = "\0".join((*parts, spec.package, spec.version)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(key, digest_size=16).digest()


def _duplicate(spec: VersionSpec, first_line: int) -> Problem:
    first = Place(spec.place.file, first_line, "")
    name = f"{spec.namespace}/{spec.package}@{spec.version}"
    return Problem(spec.place, f"duplicate of {first} ({name})")


class SeenVersions:
    """A set of version digests with the line each was first seen on, in bounded memory.

    Up to `MEMORY_ENTRIES` digests sit in a dict (~100 bytes each: ~10 MB); past that they
    move to a private temporary SQLite database (`connect("")`: on disk, deleted on close),
    so a manifest of millions of lines holds a few MB of page cache, not a set per line.
    """

    MEMORY_ENTRIES: Final = 100_000
    CACHE_KIB: Final = 16 * 1024  # SQLite page cache: the hot part of the B-tree stays in memory

    def __init__(self, memory_entries: int = MEMORY_ENTRIES) -> None:
        self._memory: dict[bytes, int] = {}
        self._limit = memory_entries
        self._db: sqlite3.Connection | None = None

    def add(self, digest: bytes, line: int) -> int | None:
        """Record a digest; return the line it was first seen on if it was seen before."""
        first = self._memory.get(digest)
        if first is not None:
            return first
        if self._db is None:
            if len(self._memory) < self._limit:
                self._memory[digest] = line
                return None
            self._db = self._spill()
        return self._add_on_disk(self._db, digest, line)

    def _spill(self) -> sqlite3.Connection:
        db = sqlite3.connect("", isolation_level=None)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(f"PRAGMA cache_size=-{self.CACHE_KIB}")
        db.execute("CREATE TABLE seen (digest BLOB PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        db.execute("BEGIN")  # one transaction for the whole read: never committed to disk
        db.executemany("INSERT INTO seen VALUES (?, ?)", self._memory.items())
        self._memory = {}
        return db

    @staticmethod
    def _add_on_disk(db: sqlite3.Connection, digest: bytes, line: int) -> int | None:
        cursor = db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (digest, line))
        if cursor.rowcount:
            return None
        row = db.execute("SELECT line FROM seen WHERE digest = ?", (digest,)).fetchone()
        return int(row[0])

    def close(self) -> None:
        """Drop the temporary database, if there is one."""
        if self._db is not None:
            self._db.close()
            self._db = None
