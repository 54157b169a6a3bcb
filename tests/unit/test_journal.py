"""Tests of uploader.journal: what it records and reads back, and how it fails (its group
commit is tested in test_groupcommit.py)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from uploader.domain import AssetState, VersionState
from uploader.errors import JournalError
from uploader.hashing import CachedDigest, FileDigest
from uploader.journal import Journal, VersionKey

KEY = VersionKey("scope", "ns", "pkg", "1.0")


def _committed_rows(path: Path, sql: str) -> list[Any]:
    """What another connection sees: only committed data."""
    with sqlite3.connect(path) as other:
        return other.execute(sql).fetchall()


async def test_reads_and_writes_in_one_group_see_each_other(tmp_path: Path) -> None:
    """Start, publish and look up, all at once: the lookup sees the writes before it."""
    async with Journal(tmp_path / "journal.sqlite") as journal:
        _, _, known = await asyncio.gather(
            journal.start_version(KEY, "Published", {"a": ("0" * 64, 1)}),
            journal.asset_published(KEY, "a", "0" * 64),
            journal.lookup(KEY),
        )
    assert known is not None
    assert known.state is VersionState.PENDING
    assert known.assets == {"a": ("0" * 64, AssetState.PUBLISHED)}


async def test_hash_cache_round_trip(tmp_path: Path) -> None:
    """put_many then get_many: each path's digest and identity; None for unknown paths."""
    a, b = tmp_path / "a", tmp_path / "b"
    async with Journal(tmp_path / "journal.sqlite") as journal:
        await journal.put_many([(a, FileDigest("1" * 64, 5, 6, 7))])
        assert await journal.get_many([a, b]) == [CachedDigest("1" * 64, 5, 6, 7), None]


async def test_sqlite_errors_are_journal_errors_naming_the_journal(tmp_path: Path) -> None:
    """A damaged table, or a call after close(): a JournalError naming the journal file."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    await journal.open()
    await journal.start_version(KEY, "Published", {})
    with sqlite3.connect(path) as other:
        other.execute("DROP TABLE assets")  # another process damaged the journal
    other.close()
    with pytest.raises(JournalError, match=re.escape(f"journal {path}: no such table: assets")):
        await journal.lookup(KEY)
    await journal.close()
    with pytest.raises(JournalError, match=re.escape(f"journal {path}: not open")):
        await journal.lookup(KEY)


async def test_reads_do_not_wait_for_another_writer(tmp_path: Path) -> None:
    """A group of reads takes no write lock: it goes on while another process writes."""
    path = tmp_path / "journal.sqlite"
    async with Journal(path) as journal:
        await journal.start_version(KEY, "Published", {})
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another run holds the write lock
        try:
            known = await asyncio.wait_for(journal.lookup(KEY), timeout=5)
        finally:
            other.execute("ROLLBACK")
            other.close()
    assert known is not None


async def _state_after(journal: Journal, *steps: VersionState | None) -> VersionState:
    """The version's journal state after `steps` (None: a rerun's start_version)."""
    for step in steps:
        if step is None:
            await journal.start_version(KEY, "Published", {"a": ("0" * 64, 1)})
        else:
            await journal.version_done(KEY, step, "boom" if step is VersionState.FAILED else None)
    known = await journal.lookup(KEY)
    assert known is not None
    return known.state


async def test_a_rerun_that_skips_a_version_keeps_what_happened_first(tmp_path: Path) -> None:
    """Finalized, then skipped (from the journal, or after a rerun's start found it done on the
    service): still finalized; likewise unfinished; a failure in between is forgotten on a skip;
    a version never seen done is recorded as skipped."""
    F, U, S, X = (VersionState.FINALIZED, VersionState.UNFINISHED, VersionState.SKIPPED,
                  VersionState.FAILED)  # fmt: skip
    cases: list[tuple[list[VersionState | None], VersionState]] = [
        ([None, F, S], F),
        ([None, F, None, S], F),
        ([None, U, None, S, None, S], U),
        ([None, F, None, X], X),
        ([None, F, None, X, None, S], F),
        ([None, S], S),
        ([None, S, None, F, None, S], F),
        ([None, F, None], VersionState.PENDING),
    ]
    for i, (steps, expected) in enumerate(cases):
        async with Journal(tmp_path / f"journal{i}.sqlite") as journal:
            assert await _state_after(journal, *steps) is expected, steps


async def test_a_schema_1_journal_is_upgraded_with_its_history(tmp_path: Path) -> None:
    """A journal written by schema 1 opens; its finalized versions stay so when skipped."""
    path = tmp_path / "journal.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('schema', '1');"
            "CREATE TABLE versions (scope TEXT NOT NULL, namespace TEXT NOT NULL,"
            " package TEXT NOT NULL, version TEXT NOT NULL, state TEXT NOT NULL,"
            " target_status TEXT NOT NULL, error TEXT, updated_s REAL NOT NULL,"
            " PRIMARY KEY (scope, namespace, package, version));"
            "INSERT INTO versions VALUES ('scope', 'ns', 'pkg', '1.0', 'finalized', 'Published',"
            " NULL, 0);"
        )
    old.close()
    async with Journal(path) as journal:
        assert await _state_after(journal, None, VersionState.SKIPPED) is VersionState.FINALIZED
    assert _committed_rows(path, "SELECT value FROM meta WHERE key = 'schema'") == [("2",)]


async def test_the_summary_counts_each_repository_apart(tmp_path: Path) -> None:
    """Two scopes: each has its own counts, named by domain, repository and endpoint."""
    one = VersionKey("https://a.example|dom||repo1", "ns", "pkg", "1")
    two = VersionKey("local:/x|y|dom|111122223333|repo2", "ns", "pkg", "1")
    async with Journal(tmp_path / "journal.sqlite") as journal:
        for key, state in ((one, VersionState.FINALIZED), (two, VersionState.FAILED)):
            await journal.start_version(key, "Published", {"a": ("0" * 64, 1)})
            await journal.version_done(key, state, "boom" if state is VersionState.FAILED else None)
        summary = await journal.summary()
    assert [(r.name, r.versions, r.assets) for r in summary.repositories] == [
        ("dom/repo1 at https://a.example", {"finalized": 1}, {"pending": 1}),
        ("dom/repo2 (owner 111122223333) at local:/x|y", {"failed": 1}, {"pending": 1}),
    ]
    assert summary.to_json()["repositories"][1]["domain_owner"] == "111122223333"
    assert [f.error for f in summary.failures] == ["boom"]
