"""The bytes of assets, content-addressed by SHA-256.

A small blob (a body the server reads whole, up to 64 KiB) is a row of the `blobs` table,
written in the transaction that records its asset: creating a file per blob cost more CPU
than the rest of a publish. A larger one lives at `blobs/ab/cdef...`: it is streamed into
`tmp/` while hashed (`BlobWriter`) and moved into place with `os.replace` only when its
hash is right, so a crash never leaves a half-written blob under a real name. Nothing is
fsync'ed: the bytes survive the process being killed, not an OS crash or a power cut,
which a test service does not need to.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from pathlib import Path
from typing import BinaryIO

from uploader.emulator.records import Digests


class BlobWriter:
    """Streams one upload to a temporary file while computing its digests.

    Use from worker threads: `write` does file I/O. `close` (or `discard`) must be called.
    """

    def __init__(self, tmp_dir: Path) -> None:
        # No I/O here: the file is opened by the first write, on a worker thread.
        self.path = _temp_path(tmp_dir)
        self._file: BinaryIO | None = None
        self._hashes = [hashlib.sha256(), hashlib.sha512(), hashlib.sha1(), hashlib.md5()]
        self.size_bytes = 0

    def write(self, chunk: bytes) -> None:
        """Hash and store one chunk."""
        if self._file is None:
            self._file = self.path.open("wb")
        for h in self._hashes:
            h.update(chunk)
        self._file.write(chunk)
        self.size_bytes += len(chunk)

    def finish(self, tail: bytes = b"") -> Digests:
        """Write `tail`, close the file and return the digests of everything written."""
        self.write(tail)
        assert self._file is not None
        self._file.close()
        sha256, sha512, sha1, md5 = (h.hexdigest() for h in self._hashes)
        return Digests(self.size_bytes, sha256, sha512, sha1, md5)

    def discard(self) -> None:
        """Drop the temporary file (safe to call more than once)."""
        if self._file is not None:
            self._file.close()
        self.path.unlink(missing_ok=True)


def _temp_path(tmp_dir: Path) -> Path:
    return tmp_dir / f"upload-{secrets.token_hex(8)}"


class Blobs:
    """Where asset bytes are kept: the `blobs` table for small ones, files for the rest.

    Runs on the store's thread and writes in the store's transactions.

    Args:
        db: the store's connection (its schema holds the `blobs` table).
        data_dir: where `blobs/` and `tmp/` live; created if missing, `tmp/` emptied.
    """

    def __init__(self, db: sqlite3.Connection, data_dir: Path) -> None:
        self._db = db
        self.blob_dir = data_dir / "blobs"
        self.tmp_dir = data_dir / "tmp"
        for folder in (self.blob_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp_dir.iterdir():  # uploads cut off by a crash or a kill
            leftover.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        return self.blob_dir / sha256[:2] / sha256[2:]

    def put(self, blob: Path | bytes, sha256: str) -> bool:
        """Put a blob under its name unless it is there already; whether `blob` was moved.

        Bytes go in the `blobs` table (in the caller's transaction); a file is moved into
        the blob folder.
        """
        if isinstance(blob, bytes):
            self._db.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (sha256, blob))
            return False
        target = self.path(sha256)
        if target.exists() or self._inline(sha256) is not None:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(blob, target)
        return True

    def read(self, sha256: str) -> bytes | Path:
        """An asset's content: its bytes if held in the database, else its file."""
        inline = self._inline(sha256)
        return self.path(sha256) if inline is None else inline

    def drop(self, sha256: str) -> None:
        """Remove a blob, wherever it is kept (in the caller's transaction)."""
        self._db.execute("DELETE FROM blobs WHERE sha256 = ?", (sha256,))
        self.path(sha256).unlink(missing_ok=True)

    def _inline(self, sha256: str) -> bytes | None:
        row = self._db.execute("SELECT data FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else bytes(row[0])
