"""A listing in any order put in key order, in bounded memory (Nexus lists by its own ids).

`SortedSpool` keeps the files in a private temporary SQLite database (`connect("")`: on
disk, deleted on close) and gives them back sorted by key. SQLite's default collation
compares UTF-8 bytes, the order `ListingScan` takes. A key given twice (a page served
twice) is kept once. Blocking: call it in a thread (`add` and `sorted_batches` are
used one at a time, so one connection serves every thread).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Final

from uploader.stores.listing import StoreFile

__all__ = ["SortedSpool"]

_COLUMNS: Final = "rel, url, size_bytes, sha256, sha1, etag, last_modified"


class SortedSpool:
    """Files in any order in, in key order out; a few MB of page cache, not the listing."""

    CACHE_KIB: Final = 8 * 1024

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(f"PRAGMA cache_size=-{self.CACHE_KIB}")
        self._db.execute(
            "CREATE TABLE files (rel TEXT PRIMARY KEY, url TEXT, size_bytes INTEGER,"
            " sha256 TEXT, sha1 TEXT, etag TEXT, last_modified TEXT) WITHOUT ROWID"
        )
        self._db.execute("BEGIN")  # never committed: the database is thrown away
        self.count = 0

    def __repr__(self) -> str:
        return f"<SortedSpool files={self.count}>"

    def add(self, files: Iterable[StoreFile]) -> None:
        """Keep these files (a key already kept is ignored)."""
        rows = [
            (f.rel, f.url, f.size_bytes, f.sha256, f.sha1, f.etag, f.last_modified) for f in files
        ]
        cursor = self._db.executemany(
            f"INSERT OR IGNORE INTO files ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)", rows
        )
        self.count += max(cursor.rowcount, 0)

    def sorted_batches(self, size: int = 1000) -> Iterator[list[StoreFile]]:
        """The files kept, in key order, `size` at a time."""
        cursor = self._db.execute(f"SELECT {_COLUMNS} FROM files ORDER BY rel")
        while rows := cursor.fetchmany(size):
            yield [StoreFile(*row) for row in rows]

    def close(self) -> None:
        """Drop the database."""
        self._db.close()
